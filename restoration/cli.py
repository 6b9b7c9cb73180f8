"""How every CLI reads its absl flags, a bad one ending in one ``prog: error: ...`` line.

``main``, ``prepare`` and ``benchmark`` (ml_collections config flags) run under ``absl.app``
on absl's process-wide ``FLAGS``, parsed by :func:`flags_parser`. The CLIs whose ``main(argv)``
is also called in-process (restore, export, degrade, evaluate, real_audio) each declare their
flags on their own :class:`absl.flags.FlagValues` and parse with :func:`parse`, which resets
them first: the process-wide ``FLAGS`` would keep one call's values for the next and refuse
two CLIs that share a flag name.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence

from absl import flags

from restoration.errors import FlagError, UserError, exit_with

_HELP = ('-h', '-help', '--help', '--helpshort', '--helpfull', '-?')


def parse(
  prog: str,
  values: flags.FlagValues,
  argv: Sequence[str] | None,
  usage: str,
  positional: Sequence[str] = (),
) -> list[str]:
  """Parses ``argv`` (default: ``sys.argv[1:]``) into ``values`` from their defaults and returns
  the arguments that are not flags, one per name in ``positional``.

  ``--help`` prints ``usage`` and the flags and exits 0; a bad flag or a wrong number of
  arguments exits 2 with one ``prog: error: ...`` line. Flags may come before or after the
  arguments; ``--no-NAME`` (argparse's spelling, in users' commands) is taken for ``--noNAME``.
  """
  argv = list(sys.argv[1:] if argv is None else argv)
  options = argv[: argv.index('--')] if '--' in argv else argv
  if any(a in _HELP for a in options):
    listing = values.get_help(include_special_flags=False).splitlines()
    flag_lines = '\n'.join(line for line in listing if line.startswith(' '))  # no module names
    print(f'{usage.strip()}\n\nflags:\n{flag_lines}')
    sys.exit(0)
  argv = [_negation(a, values) for a in options] + argv[len(options) :]
  values.unparse_flags()
  try:
    args = values([prog, *argv])[1:]
  except flags.Error as e:
    exit_with(prog, FlagError(str(e)))
  if len(args) != len(positional):
    expected = ' '.join(positional) or 'no arguments besides the flags'
    exit_with(prog, FlagError(f'expected {expected}; got {" ".join(args) or "none"}'))
  return args


def _negation(arg: str, values: flags.FlagValues) -> str:
  """``--no-NAME`` -> ``--noNAME`` for a boolean flag NAME; any other argument as it is."""
  m = re.fullmatch(r'--no-(\w+)', arg)
  if m and m.group(1) in values and values[m.group(1)].boolean:
    return f'--no{m.group(1)}'
  return arg


class FractionOrNone(flags.ArgumentParser):
  """``--identity_above``: a fraction of the model's band, or ``none`` (restore every chunk)."""

  def parse(self, argument: str | float | None) -> float | None:
    if argument is None or isinstance(argument, float):
      return argument
    return None if argument.strip().lower() == 'none' else float(argument)

  def flag_type(self) -> str:
    return 'float or none'


def flags_parser(prog: str) -> Callable[[list[str]], list[str]]:
  """``app.run(main, flags_parser=flags_parser(prog))``: a bad flag exits with one line.

  ml_collections' config flags fail inside absl's parsing, before ``main``: an unknown field
  as a KeyError traceback, a ``get_config`` error wrapped in a usage block, a missing config
  file only when ``main`` first reads the config.
  """

  def parse_argv(argv: list[str]) -> list[str]:
    try:
      args = flags.FLAGS(argv)
      for name in flags.FLAGS:
        flag = flags.FLAGS[name]
        if flag.flag_type() == 'config object' and flag.value is not None:
          hasattr(flag.value, 'lock')  # a config file that failed to load raises OSError
    except Exception as e:  # re-raised below unless it names a flag
      message = _flag_message(argv, e)
      if message is None:
        raise
      exit_with(prog, FlagError(message))
    return args

  return parse_argv


def _flag_message(argv: list[str], error: Exception) -> str | None:
  """One line naming the flag for an error a user can fix; None for a bug (a traceback)."""
  chain = []
  while error is not None:
    chain.append(error)
    error = error.__cause__ or error.__context__
  first = chain[0]
  user = [e for e in chain if isinstance(e, UserError)]
  if user:  # get_config rejected its argument, e.g. an unknown size preset
    where = re.match(r'flag (--\S+?):? ', str(first))
    return f'{where.group(1)}: {user[-1]}' if where else str(user[-1])
  keys = [e for e in chain if isinstance(e, KeyError)]
  if keys:  # an override naming no field of the config
    missing = str(keys[-1].args[0])
    hint = next((m for e in keys for m in re.findall(r'Did you mean .*\?', str(e.args[0]))), '')
    for arg in argv:
      m = re.match(r'--?(?:no)?(\w+(?:\.\w+)*)(?:=|$)', arg)
      parts = m.group(1).split('.') if m else []
      if missing in parts[1:]:
        parent = '.'.join(parts[: parts.index(missing, 1)])
        return f'{arg}: {parent} has no field {missing!r}' + (f' ({hint})' if hint else '')
    return None
  if isinstance(first, OSError):  # the config file is missing or get_config failed to read
    reason = str(chain[-1]).strip().splitlines()[-1].strip()
    arg = next((a for a in argv if re.match(r'--?\w+=\S+\.py', a)), 'config file')
    return f'{arg}: {reason}'
  if isinstance(first, flags.Error) and 'Traceback' not in str(first):
    return str(first)
  return None
