"""The one base of every error a user can fix from its message.

A CLI catches :class:`UserError` only and prints it as one line (exit code 2); anything else is
a bug or a real I/O fault and keeps its traceback. Each kind of bad input has its own subclass
(a config field here; an audio file, a checkpoint in their modules) so callers can tell them
apart; :class:`ConfigError` lives here because config, methods and the orchestrators all raise
it. The absl CLIs parse their flags with :func:`flags_parser`, since a bad ``--config`` fails
before ``main``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable


class UserError(Exception):
  """Bad input: the message names the file or field and what was expected."""


class NoCheckpointError(UserError, FileNotFoundError):
  """A workdir holds no checkpoint to load."""


class ConfigError(UserError, ValueError):
  """A config field is invalid; the message names the field and what was expected."""


class FlagError(UserError):
  """A command-line flag is malformed, names no config field, or its config file fails."""


def exit_with(prog: str, error: UserError, code: int = 2) -> None:
  """Prints ``prog: error: message`` on one line and exits with ``code``."""
  message = ' '.join(str(error).split('\n'))
  print(f'{prog}: error: {message}', file=sys.stderr)
  sys.exit(code)


def flags_parser(prog: str) -> Callable[[list[str]], list[str]]:
  """``app.run(main, flags_parser=flags_parser(prog))``: a bad flag exits with one line.

  ml_collections' config flags fail inside absl's parsing, before ``main``: an unknown field
  as a KeyError traceback, a ``get_config`` error wrapped in a usage block, a missing config
  file only when ``main`` first reads the config.
  """

  def parse(argv: list[str]) -> list[str]:
    from absl import flags

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

  return parse


def _flag_message(argv: list[str], error: Exception) -> str | None:
  """One line naming the flag for an error a user can fix; None for a bug (a traceback)."""
  from absl import flags

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
