"""Restore audio files or folders of any length with a trained run or an exported model:
``python -m restoration.restore --workdir=DIR IN OUT`` (``--model=FILE`` for an export).

IN a file: OUT is a *.wav (32-bit float) or *.flac (24-bit) file. IN a folder: every audio file
under it is restored into the same layout under OUT (``--format``), in this one process with
one compiled model; outputs that exist are kept, so a re-run resumes; files that fail are
listed at the end (one line each) and the exit status is 0 if any file is restored (now or
before), 1 if none. Flags only; the work is :mod:`restoration.streaming`'s (streaming, bounded
memory, output sample-aligned with the input and written atomically).
"""

from __future__ import annotations

import argparse
import os
import sys

from restoration import streaming
from restoration.data import audio
from restoration.errors import UserError, exit_with

# Fixed by an export.
_RUN_ONLY = ('checkpoint', 'steps', 'chunk_seconds', 'overlap_seconds', 'identity_above')


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
    prog='restore', description='Restore codec-damaged audio with a trained model.'
  )
  p.add_argument('input', metavar='IN', help='audio file (wav, flac, ogg, mp3, m4a, ...) or folder')
  p.add_argument('output', metavar='OUT', help='restored *.wav or *.flac file, or folder')
  model = p.add_mutually_exclusive_group(required=True)
  model.add_argument('--workdir', help='training run directory')
  model.add_argument('--model', help='exported model file (python -m restoration.export)')
  p.add_argument('--format', choices=['wav', 'flac'], default=None, help='folder outputs (wav)')
  # Model options: absent unless given, so that a run's or an export's own values stand.
  unset = argparse.SUPPRESS
  p.add_argument('--checkpoint', default=unset, help='best (default), latest or a step number')
  p.add_argument('--steps', type=int, default=unset, help='diffusion sampler steps')
  p.add_argument('--chunk_seconds', type=float, default=unset, help='model input length (4)')
  p.add_argument('--overlap_seconds', type=float, default=unset, help='cross-fade length (0.5)')
  p.add_argument('--seed', type=int, default=unset, help='sampling seed (diffusion)')
  p.add_argument(
    '--identity_above',
    type=identity_above_flag,
    default=unset,
    help='leave a chunk as it is when its content reaches this fraction of the model band '
    '(0.78); none: restore every chunk',
  )
  p.add_argument(
    '--workers', type=int, default=None, help='folder: files restored at once (CPU cores + 1)'
  )
  return p


def identity_above_flag(text: str) -> float | None:
  """``--identity_above``: a fraction of the model's band, or ``none`` (restore every chunk)."""
  return None if text.strip().lower() == 'none' else float(text)


def _restorer(args) -> streaming.ChunkedRestorer:
  given = {k: v for k, v in vars(args).items() if k in (*_RUN_ONLY, 'seed')}
  if args.model:
    fixed = sorted(set(given) & set(_RUN_ONLY))
    if fixed:
      raise streaming.RestoreError(
        f'--{fixed[0]}: fixed when the model was exported; pass it to restoration.export'
      )
    from restoration.exported import ExportedRestorer

    return ExportedRestorer(args.model, **given)
  from restoration.inference import Restorer

  return Restorer(args.workdir, **given)


def _restore_folder(args) -> int:
  fmt = args.format or 'wav'
  workers = streaming.resolve_workers(args.workers, '--workers')  # fails before JAX starts
  streaming.plan_tree(args.input, args.output, fmt)  # bad folders fail before JAX starts
  result = _restorer(args).restore_tree(args.input, args.output, fmt=fmt, workers=workers)
  speed = result.audio_seconds / max(result.wall_seconds, 1e-9)
  print(
    f'restored {len(result.restored)} files ({result.audio_seconds:.1f} s of audio) into '
    f'{args.output} in {result.wall_seconds:.1f} s ({speed:.0f}x real time); '
    f'{len(result.existing)} already there, {len(result.failed)} failed'
  )
  for path, reason in result.failed:
    reason = reason.removeprefix(f'{path}: ')
    print(f'restore: failed: {path}: {reason}', file=sys.stderr)
  return 0 if result.restored or result.existing else 1


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  from absl import logging as absl_logging  # orbax logs routine notes as warnings

  absl_logging.set_verbosity(absl_logging.ERROR)
  folder = os.path.isdir(args.input)
  try:
    if folder:
      return _restore_folder(args)
    if args.format and not args.output.lower().endswith(f'.{args.format}'):
      raise streaming.RestoreError(
        f'--format={args.format}: for a file the output name decides; name it *.{args.format}'
      )
    audio.check_output(args.output, refuse=[args.input])
    with audio.open_audio(args.input) as source:  # bad input fails before JAX starts
      stats = _restorer(args).restore_opened(source, args.output, progress=True)
  except UserError as e:
    exit_with('restore', e)
  except KeyboardInterrupt:
    done = 'finished files are kept; run again to resume' if folder else 'no output written'
    print(f'restore: interrupted; {done}', file=sys.stderr)
    return 130
  print(
    f'restored {args.input} -> {args.output}: {stats["audio_seconds"]:.1f} s of audio in '
    f'{stats["wall_seconds"]:.1f} s (real-time factor {stats["real_time_factor"]:.3f})'
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
