"""Degrade one audio file through a lossy codec, sample-aligned with the input.

  python -m restoration.degrade IN OUT --codec=mp3 --bitrate=32

Writes OUT as a float WAV at IN's sample rate and length (what the restorer then takes as
input) and prints the bitrate the codec achieved. Bad input ends with a one-line error.
"""

from __future__ import annotations

import argparse
import sys

from restoration.data import audio, codecs
from restoration.errors import UserError, exit_with


def main(argv: list[str] | None = None) -> int:
  """Runs the CLI; returns the process exit status."""
  parser = argparse.ArgumentParser(
    prog='python -m restoration.degrade',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument('input', help='audio file (anything libsndfile or ffmpeg decodes)')
  parser.add_argument('output', help='WAV file to write (must not be the input)')
  parser.add_argument('--codec', required=True, choices=codecs.CODECS)
  parser.add_argument('--bitrate', required=True, type=float, help='target bitrate in kbps')
  args = parser.parse_args(argv)
  try:
    audio.check_output(args.output, refuse=[args.input])  # fail before the slow part
    wave, sr = audio.load(args.input)
    degraded, nbytes = codecs.encode_decode(wave, sr, args.codec, args.bitrate)
    audio.save(args.output, degraded, sr, refuse=[args.input])
  except UserError as e:
    exit_with('degrade', e)
  achieved = codecs.achieved_kbps(nbytes, wave.shape[0], sr)
  print(
    f'{args.output}: {args.codec} at {args.bitrate:g} kbps requested, {achieved:.1f} kbps '
    f'achieved ({wave.shape[0] / sr:.2f} s at {sr} Hz)'
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
