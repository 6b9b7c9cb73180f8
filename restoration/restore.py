"""Restore audio files or folders of any length with a trained run or an exported model:
``python -m restoration.restore --workdir=DIR IN OUT`` (``--model=FILE`` for an export).

IN a file (wav, flac, ogg, mp3, m4a, ...): OUT is a *.wav (32-bit float) or *.flac (24-bit)
file. IN a folder: every audio file under it is restored into the same layout under OUT
(``--format``), in this one process with one compiled model; outputs that exist are kept, so a
re-run resumes; files that fail are listed at the end (one line each) and the exit status is 0
if any file is restored (now or before), 1 if none. Flags only; the work is
:mod:`restoration.streaming`'s (streaming, bounded memory, output sample-aligned with the input
and written atomically).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from absl import flags

from restoration import cli, streaming
from restoration.data import audio
from restoration.errors import UserError, exit_with

_FLAGS = flags.FlagValues()
_WORKDIR = flags.DEFINE_string(
  'workdir', None, 'Training run directory (or --model).', flag_values=_FLAGS
)
_MODEL = flags.DEFINE_string(
  'model', None, 'Exported model file (python -m restoration.export).', flag_values=_FLAGS
)
flags.register_multi_flags_validator(
  ['workdir', 'model'],
  lambda given: (given['workdir'] is None) != (given['model'] is None),
  'expected exactly one of --workdir=DIR (a training run) and --model=FILE (an export)',
  flag_values=_FLAGS,
)
_FORMAT = flags.DEFINE_enum(
  'format', None, ['wav', 'flac'], 'Folder outputs (default wav).', flag_values=_FLAGS
)
_WORKERS = flags.DEFINE_integer(
  'workers', None, 'Folder: files restored at once (default CPU cores + 1).', flag_values=_FLAGS
)
# Model options: passed on only when given, so that a run's or an export's own values stand.
flags.DEFINE_string(
  'checkpoint', None, 'best (default), latest or a step number.', flag_values=_FLAGS
)
flags.DEFINE_integer('steps', None, 'Diffusion sampler steps.', flag_values=_FLAGS)
flags.DEFINE_float('chunk_seconds', None, 'Model input length (default 4).', flag_values=_FLAGS)
flags.DEFINE_float('overlap_seconds', None, 'Cross-fade length (default 0.5).', flag_values=_FLAGS)
flags.DEFINE_integer('seed', None, 'Sampling seed (diffusion).', flag_values=_FLAGS)
flags.DEFINE(
  cli.FractionOrNone(),
  'identity_above',
  None,
  'Leave a chunk as it is when its content reaches this fraction of the model band '
  '(default 0.78); none: restore every chunk.',
  flag_values=_FLAGS,
)
# Fixed by an export.
_RUN_ONLY = ('checkpoint', 'steps', 'chunk_seconds', 'overlap_seconds', 'identity_above')


def _restorer() -> streaming.ChunkedRestorer:
  given = {k: _FLAGS[k].value for k in (*_RUN_ONLY, 'seed') if _FLAGS[k].present}
  if _MODEL.value:
    fixed = sorted(set(given) & set(_RUN_ONLY))
    if fixed:
      raise streaming.RestoreError(
        f'--{fixed[0]}: fixed when the model was exported; pass it to restoration.export'
      )
    from restoration.exported import ExportedRestorer

    return ExportedRestorer(_MODEL.value, **given)
  from restoration.inference import Restorer

  return Restorer(_WORKDIR.value, **given)


def _restore_folder(src: str, dst: str) -> int:
  fmt = _FORMAT.value or 'wav'
  workers = streaming.resolve_workers(_WORKERS.value, '--workers')  # fails before JAX starts
  streaming.plan_tree(src, dst, fmt)  # bad folders fail before JAX starts
  result = _restorer().restore_tree(src, dst, fmt=fmt, workers=workers)
  speed = result.audio_seconds / max(result.wall_seconds, 1e-9)
  print(
    f'restored {len(result.restored)} files ({result.audio_seconds:.1f} s of audio) into '
    f'{dst} in {result.wall_seconds:.1f} s ({speed:.0f}x real time); '
    f'{len(result.existing)} already there, {len(result.failed)} failed'
  )
  for path, reason in result.failed:
    reason = reason.removeprefix(f'{path}: ')
    print(f'restore: failed: {path}: {reason}', file=sys.stderr)
  return 0 if result.restored or result.existing else 1


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the CLI on ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
  src, dst = cli.parse('restore', _FLAGS, argv, __doc__, positional=('IN', 'OUT'))
  from absl import logging as absl_logging  # orbax logs routine notes as warnings

  absl_logging.set_verbosity(absl_logging.ERROR)
  folder = os.path.isdir(src)
  try:
    if folder:
      return _restore_folder(src, dst)
    fmt = _FORMAT.value
    if fmt and not dst.lower().endswith(f'.{fmt}'):
      raise streaming.RestoreError(
        f'--format={fmt}: for a file the output name decides; name it *.{fmt}'
      )
    audio.check_output(dst, refuse=[src])
    with audio.open_audio(src) as source:  # bad input fails before JAX starts
      stats = _restorer().restore_opened(source, dst, progress=True)
  except UserError as e:
    exit_with('restore', e)
  except KeyboardInterrupt:
    done = 'finished files are kept; run again to resume' if folder else 'no output written'
    print(f'restore: interrupted; {done}', file=sys.stderr)
    return 130
  print(
    f'restored {src} -> {dst}: {stats["audio_seconds"]:.1f} s of audio in '
    f'{stats["wall_seconds"]:.1f} s (real-time factor {stats["real_time_factor"]:.3f})'
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
