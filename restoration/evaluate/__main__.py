"""Score a trained restoration run:
``python -m restoration.evaluate --workdir=DIR [--data=DIR_OR_FILES]``.

Flags only; the work and the output format are ``evaluate.evaluate_workdir``'s.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import flags

from restoration import cli
from restoration.errors import UserError, exit_with
from restoration.evaluate import evaluate


class _StepCounts(flags.ArgumentParser):
  """``--steps=1,4,16``: positive integers."""

  def parse(self, argument: str | list[int] | None) -> list[int] | None:
    if argument is None or isinstance(argument, list):
      return argument
    try:
      steps = [int(s) for s in argument.split(',')]
    except ValueError:
      steps = []
    if not steps or min(steps) < 1:
      raise ValueError('expected positive integers, e.g. 1,4,16')
    return steps

  def flag_type(self) -> str:
    return 'comma-separated positive integers'


_FLAGS = flags.FlagValues()
_WORKDIR = flags.DEFINE_string(
  'workdir', None, 'Training run directory.', required=True, flag_values=_FLAGS
)
flags.DEFINE_string(
  'data',
  None,
  "Directory or comma-separated clean audio files (default: the run's test split).",
  flag_values=_FLAGS,
)
flags.DEFINE_string('checkpoint', 'best', 'best, latest or a step number.', flag_values=_FLAGS)
_STEPS = flags.DEFINE(
  _StepCounts(),
  'steps',
  None,
  'Comma-separated diffusion step counts (default: sampling.eval_steps).',
  flag_values=_FLAGS,
)
flags.DEFINE_integer('max_items', None, 'At most this many clips.', flag_values=_FLAGS)
flags.DEFINE_float('max_seconds', 30.0, 'Crop of --data files.', flag_values=_FLAGS)
flags.DEFINE_string('out_dir', None, 'Default: WORKDIR/eval.', flag_values=_FLAGS)
flags.DEFINE_bool(
  'optional_metrics', True, 'PESQ/STOI/ViSQOL when installed, on every clip.', flag_values=_FLAGS
)
flags.DEFINE_integer(
  'perceptual_items',
  8,
  'Test items of each kind scored with PESQ/STOI (speech) or ViSQOL (music); 0: none.',
  flag_values=_FLAGS,
)

# Passed to evaluate_workdir as they are named.
_AS_NAMED = (
  'data',
  'checkpoint',
  'max_items',
  'max_seconds',
  'out_dir',
  'optional_metrics',
  'perceptual_items',
)


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the CLI on ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
  cli.parse('evaluate', _FLAGS, argv, __doc__)
  from absl import logging as absl_logging  # orbax logs routine notes as warnings

  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    result = evaluate.evaluate_workdir(
      _WORKDIR.value, steps_list=_STEPS.value, **{k: _FLAGS[k].value for k in _AS_NAMED}
    )
  except UserError as e:
    exit_with('evaluate', e)
  print(evaluate.markdown(evaluate.finite(result)), end='')
  return 0


if __name__ == '__main__':
  sys.exit(main())
