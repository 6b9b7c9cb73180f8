"""Restore audio files of any length: ``python -m restoration.restore --workdir=DIR IN OUT``.

Flags only; the work is :class:`restoration.inference.Restorer` (streaming, bounded memory,
output sample-aligned with the input and written atomically).
"""

from __future__ import annotations

import argparse
import sys

from restoration.data import audio
from restoration.errors import UserError, exit_with


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
    prog='restore', description='Restore codec-damaged audio with a trained model.'
  )
  p.add_argument('input', metavar='IN', help='audio file (wav, flac, ogg, mp3, m4a, ...)')
  p.add_argument('output', metavar='OUT', help='restored WAV file (32-bit float)')
  p.add_argument('--workdir', required=True, help='training run directory')
  p.add_argument('--checkpoint', default='best', help='best, latest or a step number')
  p.add_argument('--steps', type=int, default=None, help='diffusion sampler steps')
  p.add_argument('--chunk_seconds', type=float, default=4.0, help='model input length')
  p.add_argument('--overlap_seconds', type=float, default=0.5, help='cross-fade length')
  p.add_argument('--seed', type=int, default=0, help='sampling seed (diffusion)')
  return p


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  from absl import logging as absl_logging  # orbax logs routine notes as warnings

  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    audio.check_output(args.output, refuse=[args.input])
    with audio.open_audio(args.input) as source:  # bad input fails before JAX starts
      from restoration.inference import Restorer

      restorer = Restorer(
        args.workdir,
        checkpoint=args.checkpoint,
        steps=args.steps,
        chunk_seconds=args.chunk_seconds,
        overlap_seconds=args.overlap_seconds,
        seed=args.seed,
      )
      stats = restorer.restore_opened(source, args.output, progress=True)
  except UserError as e:
    exit_with('restore', e)
  except KeyboardInterrupt:
    print('restore: interrupted; no output written', file=sys.stderr)
    return 130
  print(
    f'restored {args.input} -> {args.output}: {stats["audio_seconds"]:.1f} s of audio in '
    f'{stats["wall_seconds"]:.1f} s (real-time factor {stats["real_time_factor"]:.3f})'
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
