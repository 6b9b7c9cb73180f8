"""Flag parsing for the CLIs whose ``main(argv)`` is also called in-process: restore, export,
degrade and evaluate.

Each declares its absl flags on its own :class:`absl.flags.FlagValues` (absl's process-wide
``FLAGS`` would hold one CLI's values across calls and refuse two CLIs that share a flag name)
and parses with :func:`parse`, which resets them first, so every call starts from the defaults.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

from absl import flags

from restoration.errors import FlagError, exit_with

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
  arguments; ``--no-NAME`` is taken for ``--noNAME``, as the CLIs accepted before.
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
