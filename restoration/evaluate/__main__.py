"""``python -m restoration.evaluate --workdir=DIR [--data=...]``: flags only; the work and the
output format are ``evaluate.evaluate_workdir``'s."""

from __future__ import annotations

import argparse
import sys

from restoration.errors import UserError, exit_with
from restoration.evaluate import evaluate


def _step_counts(text: str) -> list[int]:
  try:
    steps = [int(s) for s in text.split(',')]
  except ValueError:
    steps = []
  if not steps or min(steps) < 1:
    raise argparse.ArgumentTypeError(f'{text!r}: expected positive integers, e.g. 1,4,16')
  return steps


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog='evaluate', description='Score a trained restoration run.')
  p.add_argument('--workdir', required=True, help='training run directory')
  p.add_argument(
    '--data',
    default=None,
    help="directory or comma-separated clean audio files (default: the run's test split)",
  )
  p.add_argument('--checkpoint', default='best', help='best, latest or a step number')
  p.add_argument(
    '--steps',
    default=None,
    type=_step_counts,
    help='comma-separated diffusion step counts (default: sampling.eval_steps)',
  )
  p.add_argument('--max_items', type=int, default=None, help='at most this many clips')
  p.add_argument('--max_seconds', type=float, default=30.0, help='crop of --data files')
  p.add_argument('--out_dir', default=None, help='default: WORKDIR/eval')
  p.add_argument(
    '--optional_metrics',
    action=argparse.BooleanOptionalAction,
    default=True,
    help='PESQ/STOI/ViSQOL when installed, on every clip',
  )
  p.add_argument(
    '--perceptual_items',
    type=int,
    default=8,
    help='test items of each kind scored with PESQ/STOI (speech) or ViSQOL (music); 0: none',
  )
  args = p.parse_args(argv)
  from absl import logging as absl_logging  # orbax logs routine notes as warnings

  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    result = evaluate.evaluate_workdir(
      args.workdir,
      data=args.data,
      checkpoint=args.checkpoint,
      steps_list=args.steps,
      max_items=args.max_items,
      out_dir=args.out_dir,
      optional_metrics=args.optional_metrics,
      max_seconds=args.max_seconds,
      perceptual_items=args.perceptual_items,
    )
  except UserError as e:
    exit_with('evaluate', e)
  print(evaluate.markdown(evaluate.finite(result)), end='')
  return 0


if __name__ == '__main__':
  sys.exit(main())
