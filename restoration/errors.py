"""The one base of every error a user can fix from its message.

A CLI catches :class:`UserError` only and prints it as one line (exit code 2); anything else is
a bug or a real I/O fault and keeps its traceback. Each kind of bad input has its own subclass
(a config field here; an audio file, a checkpoint in their modules) so callers can tell them
apart; :class:`ConfigError` lives here because config, methods and the orchestrators all raise
it. The CLIs' flags fail the same way, through :mod:`restoration.cli`.
"""

from __future__ import annotations

import sys


class UserError(Exception):
  """Bad input: the message names the file or field and what was expected."""


class NoCheckpointError(UserError, FileNotFoundError):
  """A workdir holds no checkpoint to load."""


class WorkdirBusyError(UserError):
  """The workdir's training lock is held by another live run (two would corrupt its checkpoints)
  or cannot be created there."""


class ConfigError(UserError, ValueError):
  """A config field is invalid; the message names the field and what was expected."""


class FlagError(UserError):
  """A command-line flag is malformed, names no config field, or its config file fails."""


def exit_with(prog: str, error: UserError, code: int = 2) -> None:
  """Prints ``prog: error: message`` on one line and exits with ``code``."""
  message = ' '.join(str(error).split('\n'))
  print(f'{prog}: error: {message}', file=sys.stderr)
  sys.exit(code)
