"""Degrade one audio file through a lossy codec, sample-aligned with the input.

  python -m restoration.degrade IN OUT --codec=mp3 --bitrate=32

IN: any audio file libsndfile or ffmpeg decodes; OUT: the WAV file to write (not IN). Writes
OUT as a float WAV at IN's sample rate and length (what the restorer then takes as input) and
prints the bitrate the codec achieved. Bad input ends with a one-line error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import flags

from restoration import cli
from restoration.data import audio, codecs
from restoration.errors import UserError, exit_with

_FLAGS = flags.FlagValues()
_CODEC = flags.DEFINE_enum(
  'codec', None, list(codecs.CODECS), 'The lossy codec.', required=True, flag_values=_FLAGS
)
_BITRATE = flags.DEFINE_float(
  'bitrate', None, 'Target bitrate in kbps.', required=True, flag_values=_FLAGS
)


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the CLI on ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
  src, dst = cli.parse('degrade', _FLAGS, argv, __doc__, positional=('IN', 'OUT'))
  codec, kbps = _CODEC.value, _BITRATE.value
  try:
    audio.check_output(dst, refuse=[src])  # fail before the slow part
    wave, sr = audio.load(src)
    degraded, nbytes = codecs.encode_decode(wave, sr, codec, kbps)
    audio.save(dst, degraded, sr, refuse=[src])
  except UserError as e:
    exit_with('degrade', e)
  achieved = codecs.achieved_kbps(nbytes, wave.shape[0], sr)
  print(
    f'{dst}: {codec} at {kbps:g} kbps requested, {achieved:.1f} kbps '
    f'achieved ({wave.shape[0] / sr:.2f} s at {sr} Hz)'
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
