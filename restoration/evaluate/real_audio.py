"""Real recordings the models never saw: human speech and recorded music from Debian packages.

Training uses the procedural corpus only, so these clips measure whether restoration carries
over to real audio. Every file comes from a Debian package (versioned, free licence), so no
audio lives in this repository. The program never runs a package manager: ``make real-audio``
(as root) installs the packages that ``python -m restoration.evaluate.real_audio --packages``
prints. PyPI was searched as well: no wheel ships usable recordings (pysptk ships one CMU
ARCTIC utterance, in its source distribution only).

What the packages hold (checked by spectrogram, pitch track and package documentation):
- speech: a female American voice (alsa-utils, 48 kHz PCM), a male voice prompt (linphone,
  16 kHz PCM), CMU test utterances and a LibriVox reading (pocketsphinx-testdata, 16 kHz PCM;
  the LibriVox source was a 64 kbps MP3 and keeps content up to 8 kHz), a male Quebec-French
  announcer (pyo, 44.1 kHz PCM);
- music: a solo flute and a drum kit loop (pyo, 44.1 kHz PCM) and seven produced music tracks
  (linphone ringtones and hold music, Opus at 160 kbps in Matroska, 48 kHz stereo; read through
  ffmpeg, see ``restoration.data.audio``).
All of them carry energy above 4 kHz, which is what low-bitrate codecs remove.

A clip is its source's files concatenated in order, at the requested rate, mono (or stereo for
full-band models: a mono file's channel twice); leading and
trailing silence (frames more than 40 dB below the loudest) is cut, the first ``max_seconds``
are kept, and the peak is set to -1 dBFS so that every clip meets the codec at the same level.

A host without the packages (an accelerator image) reads the same clips from a folder that
``python -m restoration.evaluate.real_audio --export=DIR`` wrote where they are installed: one
16-bit FLAC per clip and ``clips.json``, each clip's package, licence and description, which
travel with the audio.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from restoration.data import audio
from restoration.errors import UserError, exit_with

KINDS = ('speech', 'music')
PEAK_DBFS = -1.0
SILENCE_DB = -40.0  # frames this far below the loudest frame count as silence
_FRAME_SECONDS = 0.02
EXPORT_SUFFIX = '.flac'  # 16-bit: lossless at a -1 dBFS peak, about half of a WAV's size
MANIFEST = 'clips.json'


class RealAudioError(UserError, RuntimeError):
  """Real clips that are not installed or cannot be read."""


class RealSource(NamedTuple):
  """One clip: ``paths`` are glob patterns whose sorted matches are concatenated in order."""

  name: str
  kind: str  # 'speech' or 'music'
  package: str  # the Debian package that installs ``paths``
  paths: tuple[str, ...]
  license: str
  description: str


_ALSA = '/usr/share/sounds/alsa'
_CMU = '/usr/share/pocketsphinx/test/data'
_LIBRIVOX = _CMU + '/librivox/sense_and_sensibility_01_austen_64kb-'
_LINPHONE = '/usr/share/sounds/linphone'
_PYO = '/usr/lib/python3/dist-packages/pyo/examples/snds'
_CMU_LICENSE = 'BSD-2-Clause (CMU)'
_LIBRIVOX_LICENSE = 'public domain (LibriVox), packaged under BSD-2-Clause (CMU)'

REAL_SOURCES: tuple[RealSource, ...] = (
  RealSource(
    'alsa_front',
    'speech',
    'alsa-utils',
    (f'{_ALSA}/Front_*.wav',),
    'GPL-2',
    'female US English voice: "front center, front left, front right"',
  ),
  RealSource(
    'alsa_rear_side',
    'speech',
    'alsa-utils',
    (f'{_ALSA}/Rear_*.wav', f'{_ALSA}/Side_*.wav'),
    'GPL-2',
    'the same voice: "rear center, rear left, rear right, side left, side right"',
  ),
  RealSource(
    'linphone_hello',
    'speech',
    'linphone-common',
    (f'{_LINPHONE}/hello16000.wav',),
    'GPL-3+',
    'male voice prompt',
  ),
  RealSource(
    'cmu_cards',
    'speech',
    'pocketsphinx-testdata',
    (f'{_CMU}/cards/*.wav',),
    _CMU_LICENSE,
    'male US English voice reading playing cards ("ten of clubs")',
  ),
  RealSource(
    'librivox_0870',
    'speech',
    'pocketsphinx-testdata',
    (_LIBRIVOX + '0870.wav',),
    _LIBRIVOX_LICENSE,
    'male reader, Austen\'s "Sense and Sensibility", chapter 1',
  ),
  RealSource(
    'librivox_0920',
    'speech',
    'pocketsphinx-testdata',
    (_LIBRIVOX + '0920.wav',),
    _LIBRIVOX_LICENSE,
    'the same reader, a later sentence',
  ),
  RealSource(
    'pyo_announcer',
    'speech',
    'python3-pyo',
    (f'{_PYO}/baseballmajeur_m.aif',),
    'LGPL-3',
    'male Quebec-French sports announcer ("baseball majeur")',
  ),
  RealSource(
    'pyo_flute', 'music', 'python3-pyo', (f'{_PYO}/flute.aif',), 'LGPL-3', 'solo flute phrase'
  ),
  RealSource(
    'pyo_drums', 'music', 'python3-pyo', (f'{_PYO}/drumloop.wav',), 'LGPL-3', 'drum kit loop'
  ),
  RealSource(
    'linphone_four_hands',
    'music',
    'linphone-common',
    (f'{_LINPHONE}/rings/four_hands_together.mkv',),
    'GPL-3+',
    'piano piece',
  ),
  RealSource(
    'linphone_soft_as_snow',
    'music',
    'linphone-common',
    (f'{_LINPHONE}/rings/soft_as_snow.mkv',),
    'GPL-3+',
    'ringtone music track',
  ),
  RealSource(
    'linphone_leaving_dreams',
    'music',
    'linphone-common',
    (f'{_LINPHONE}/rings/leaving_dreams.mkv',),
    'GPL-3+',
    'ringtone music track',
  ),
  RealSource(
    'linphone_its_a_game',
    'music',
    'linphone-common',
    (f'{_LINPHONE}/rings/its_a_game.mkv',),
    'GPL-3+',
    'ringtone music track',
  ),
  RealSource(
    'linphone_house_keeping',
    'music',
    'linphone-common',
    (f'{_LINPHONE}/rings/house_keeping.mkv',),
    'GPL-3+',
    'ringtone music track',
  ),
  RealSource(
    'linphone_optimistic',
    'music',
    'linphone-common',
    (f'{_LINPHONE}/rings/notes_of_the_optimistic.mkv',),
    'GPL-3+',
    'ringtone music track',
  ),
  RealSource(
    'linphone_dont_wait',
    'music',
    'linphone-common',
    (f'{_LINPHONE}/dont_wait_too_long.mkv',),
    'GPL-3+',
    'hold music track',
  ),
)


def _installed(source: RealSource) -> bool:
  return all(glob.glob(pattern) for pattern in source.paths)


def available_sources(sources: Sequence[RealSource] = REAL_SOURCES) -> list[RealSource]:
  """The sources whose files are all installed, in table order."""
  return [s for s in sources if _installed(s)]


def missing_packages(sources: Sequence[RealSource] = REAL_SOURCES) -> list[str]:
  """The Debian packages whose files are absent, sorted (``make real-audio`` installs them)."""
  return sorted({s.package for s in sources if not _installed(s)})


def exported_path(folder: str, source: RealSource) -> str:
  """Where :func:`export_clips` writes ``source``'s clip in ``folder``."""
  return os.path.join(folder, source.name + EXPORT_SUFFIX)


def exported_sources(folder: str, sources: Sequence[RealSource] = REAL_SOURCES) -> list[RealSource]:
  """The sources whose clip ``folder`` holds, in table order."""
  return [s for s in sources if os.path.isfile(exported_path(folder, s))]


def _exported_rate(folder: str) -> int:
  """The sample rate ``clips.json`` in ``folder`` states (:func:`export_clips` wrote it)."""
  path = os.path.join(folder, MANIFEST)
  try:
    with open(path) as f:
      return int(json.load(f)['sample_rate'])
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise RealAudioError(f'{path}: expected the manifest export_clips writes ({e})') from None


def _files(source: RealSource, folder: str | None = None) -> list[str]:
  if folder is not None:
    path = exported_path(folder, source)
    if not os.path.isfile(path):
      raise RealAudioError(
        f'{source.name}: no {path}; export the clips with `python -m '
        f'restoration.evaluate.real_audio --export={folder}` where the packages are installed'
      )
    return [path]
  files = []
  for pattern in source.paths:
    found = sorted(glob.glob(pattern))
    if not found:
      raise RealAudioError(
        f'{source.name}: no file matches {pattern}; install the Debian '
        f'package {source.package} (`make real-audio` as root)'
      )
    files += found
  return files


def _active(wave: np.ndarray, sample_rate: int) -> np.ndarray:
  """``wave`` (``[samples]`` or ``[samples, channels]``) without its leading and trailing
  silent frames (empty if all silent)."""
  frame = max(1, round(_FRAME_SECONDS * sample_rate))
  n = len(wave) // frame
  power = np.square(wave[: n * frame], dtype=np.float64)
  energy = power.reshape(n, -1).mean(axis=1)
  loud = np.flatnonzero(energy > energy.max(initial=0.0) * 10 ** (SILENCE_DB / 10))
  if loud.size == 0:
    return wave[:0]
  return wave[loud[0] * frame : (loud[-1] + 1) * frame]


def load_real_clips(
  sample_rate: int = 16000,
  *,
  max_seconds: float = 10.0,
  kinds: Sequence[str] = KINDS,
  sources: Sequence[RealSource] = REAL_SOURCES,
  folder: str | None = None,
  channels: int = 1,
) -> list[dict]:
  """The clips of ``kinds``, in table order: ``[{'name', 'kind', 'wave', 'sample_rate'}]``.

  ``wave`` is float32 ``[samples]`` (``channels=1``, a downmix) or ``[samples, 2]``
  (``channels=2``) at ``sample_rate``, at most ``max_seconds`` long, with a peak of
  ``PEAK_DBFS``. ``folder``: read the clips :func:`export_clips` wrote there instead of the
  packages' files; it must hold them at ``sample_rate`` or above (a clip is never upsampled
  into a band it lacks). Raises RealAudioError if a source's files are not there.
  """
  if int(sample_rate) != sample_rate or sample_rate <= 0:
    raise ValueError(f'sample_rate={sample_rate!r}: expected a positive integer (Hz)')
  if not max_seconds > 0:
    raise ValueError(f'max_seconds={max_seconds!r}: expected a positive number of seconds')
  unknown = set(kinds) - set(KINDS)
  if unknown or not kinds:
    raise ValueError(f'kinds={tuple(kinds)!r}: expected a non-empty subset of {KINDS}')
  if channels not in (1, 2):
    raise ValueError(f'channels={channels!r}: expected 1 (mono) or 2 (stereo)')
  if folder is not None:
    exported_rate = _exported_rate(folder)
    if exported_rate < sample_rate:
      raise RealAudioError(
        f'{os.path.join(folder, MANIFEST)}: clips exported at {exported_rate} Hz; '
        f'expected {sample_rate} Hz or more (export them with --sample_rate={sample_rate})'
      )
  clips = []
  for source in sources:
    if source.kind not in kinds:
      continue
    files = _files(source, folder)
    wave = np.concatenate([audio.load(f, sample_rate, channels=channels)[0] for f in files])
    if folder is None:  # an exported clip was trimmed before it was written
      wave = _active(wave, sample_rate)
    wave = wave[: int(max_seconds * sample_rate)]
    if wave.size == 0:
      raise RealAudioError(f'{source.name}: {", ".join(source.paths)} holds only silence')
    wave = wave * (10 ** (PEAK_DBFS / 20) / np.max(np.abs(wave)))
    clips.append(
      {
        'name': source.name,
        'kind': source.kind,
        'wave': wave.astype(np.float32),
        'sample_rate': int(sample_rate),
      }
    )
  return clips


def export_clips(
  folder: str,
  sample_rate: int = 16000,
  *,
  max_seconds: float = 10.0,
  sources: Sequence[RealSource] = REAL_SOURCES,
  channels: int = 1,
) -> list[str]:
  """Writes each clip of :func:`load_real_clips` to ``folder`` as 16-bit FLAC, and
  ``clips.json`` (source, licence, description, length of each), so that a host without the
  packages reads them with ``load_real_clips(folder=...)``. Returns the clips' paths."""
  import soundfile as sf

  clips = load_real_clips(sample_rate, max_seconds=max_seconds, sources=sources, channels=channels)
  os.makedirs(folder, exist_ok=True)
  by_name = {s.name: s for s in sources}
  paths, manifest = [], []
  for clip in clips:
    source = by_name[clip['name']]
    paths.append(exported_path(folder, source))
    sf.write(paths[-1], clip['wave'], int(sample_rate), format='FLAC', subtype='PCM_16')
    fields = {k: v for k, v in source._asdict().items() if k != 'paths'}
    manifest.append({**fields, 'seconds': len(clip['wave']) / sample_rate})
  with open(os.path.join(folder, MANIFEST), 'w') as f:
    json.dump({'sample_rate': int(sample_rate), 'clips': manifest}, f, indent=1)
  return paths


def main(argv: Sequence[str] | None = None) -> None:
  """``python -m restoration.evaluate.real_audio``: lists each source as installed or missing;
  ``--packages`` prints only what to install; ``--export=DIR`` writes the clips to a folder
  (:func:`export_clips`)."""
  from absl import flags

  from restoration import cli

  args = flags.FlagValues()  # here, not at import: this module is a library too
  flags.DEFINE_bool(
    'packages', False, 'Print the missing Debian packages, one line.', flag_values=args
  )
  flags.DEFINE_string('export', None, 'Write every clip to DIR (16-bit FLAC).', flag_values=args)
  flags.DEFINE_integer('sample_rate', 16000, 'Rate of the exported clips.', flag_values=args)
  flags.DEFINE_integer(
    'channels', 1, '1: mono downmix; 2: stereo.', lower_bound=1, upper_bound=2, flag_values=args
  )
  flags.DEFINE_float('max_seconds', 10.0, 'Length of each exported clip at most.', flag_values=args)
  cli.parse('real_audio', args, argv, main.__doc__)
  if args.packages:
    print(' '.join(missing_packages(REAL_SOURCES)))
    return
  if args.export:
    try:
      paths = export_clips(
        args.export,
        args.sample_rate,
        max_seconds=args.max_seconds,
        sources=REAL_SOURCES,
        channels=args.channels,
      )
    except UserError as e:
      exit_with('real_audio', e)
    size = sum(os.path.getsize(p) for p in paths) / 2**20
    print(f'{len(paths)} clips, {size:.1f} MiB, in {args.export}')
    return
  available = available_sources(REAL_SOURCES)
  for s in REAL_SOURCES:
    print(f'{s.name:24} {s.kind:7} {s.package:22} {"installed" if s in available else "missing"}')


if __name__ == '__main__':
  main()
