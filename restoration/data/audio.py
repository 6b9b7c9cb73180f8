"""Audio file I/O: load anything to float32 at a chosen rate and layout, write atomically.

Reading goes through libsndfile (wav, flac, ogg vorbis/opus, mp3, ...) and falls back to the
ffmpeg binary for what libsndfile cannot read (m4a/aac, ...). Waves are float32, ``[samples]``
when mono and ``[samples, channels]`` otherwise. Every sample read or written is finite: a NaN
or infinity in a float file is refused by name and position (one would spread through a
model's STFT to the whole output), and :func:`writing`, the one writer, refuses to write one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import soundfile as sf
import soxr

from restoration.errors import UserError

PathLike = str | os.PathLike
FFMPEG_HINT = 'install it with `apt-get install ffmpeg` or `pip install imageio-ffmpeg`'


class AudioError(UserError, ValueError):
  """A file that cannot be read or written as audio; the message names the file."""


class NonFiniteAudioError(AudioError):
  """Audio with a NaN or infinite sample; the message names the file and the first one."""


def find_ffmpeg() -> str | None:
  """The ffmpeg binary: ``ffmpeg`` on PATH, else the static one bundled by imageio-ffmpeg."""
  found = shutil.which('ffmpeg')
  if found:
    return found
  try:
    import imageio_ffmpeg  # optional (dev extra): ships a static ffmpeg build

    return imageio_ffmpeg.get_ffmpeg_exe()
  except (ImportError, RuntimeError):
    return None


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
  """Resamples along axis 0 with soxr 'HQ' (the engine behind librosa's 'soxr_hq').

  Its filter is linear phase and the one-shot call compensates the filter delay, so
  resampling keeps sample alignment, which the codec round trips rely on.
  """
  if orig_sr == target_sr:
    return np.asarray(wave, np.float32)
  return soxr.resample(np.asarray(wave, np.float32), orig_sr, target_sr, quality='HQ')


def decode_with_ffmpeg(path: PathLike, wav: str) -> None:
  """Decodes the first audio stream of ``path`` to a float WAV file ``wav`` (RF64 if large).

  A seekable file, not a pipe, so the header carries the true length and layout, and long
  inputs are never held in memory.
  """
  path = os.fspath(path)
  ffmpeg = find_ffmpeg()
  if ffmpeg is None:
    raise AudioError(
      f'{path}: not a format libsndfile reads, and no ffmpeg found to decode it ({FFMPEG_HINT})'
    )
  done = subprocess.run(
    [
      ffmpeg,
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      path,
      '-map',
      '0:a:0',
      '-c:a',
      'pcm_f32le',
      '-rf64',
      'auto',
      '-f',
      'wav',
      wav,
    ],
    capture_output=True,
    text=True,
  )
  if done.returncode != 0:
    reason = (done.stderr.strip().splitlines() or ['ffmpeg failed'])[-1]
    raise AudioError(f'{path}: cannot decode audio (ffmpeg: {reason})')


def read_with_ffmpeg(path: PathLike) -> tuple[np.ndarray, int]:
  """Decodes the first audio stream of ``path`` with ffmpeg: ``([samples, channels], rate)``."""
  with tempfile.TemporaryDirectory() as tmp:
    wav = os.path.join(tmp, 'decoded.wav')
    decode_with_ffmpeg(path, wav)
    wave, sr = sf.read(wav, dtype='float32', always_2d=True)
  return wave, sr


def first_non_finite(wave: np.ndarray) -> tuple[int, int] | None:
  """``(frame, channel)`` of the first NaN or infinite sample of ``wave`` ([samples] or
  [samples, channels]), or None when all are finite."""
  bad = ~np.isfinite(wave)
  if not bad.any():
    return None
  frame, channel = np.argwhere(bad.reshape(bad.shape[0], -1))[0]
  return int(frame), int(channel)


def _non_finite(wave: np.ndarray, offset: int) -> str | None:
  """'non-finite sample (NaN) at frame F, channel C' for the first one in ``wave``, or None."""
  where = first_non_finite(wave)
  if where is None:
    return None
  frame, channel = where
  value = np.asarray(wave).reshape(wave.shape[0], -1)[frame, channel]
  what = 'NaN' if np.isnan(value) else f'{value:+}'
  return f'non-finite sample ({what}) at frame {offset + frame}, channel {channel}'


def check_finite(
  wave: np.ndarray, name: str, offset: int = 0, error: type[Exception] = NonFiniteAudioError
) -> None:
  """Raises ``error`` naming ``name`` and the first non-finite sample of ``wave`` (frame and
  channel counted from 0); ``offset`` is the frame of ``wave[0]`` in the whole file, so a
  block's position reads as the file's."""
  bad = _non_finite(wave, offset)
  if bad:
    raise error(f'{name}: {bad} (counting from 0); expected finite samples')


def check_wave(wave, name: str, error: type[Exception] | None = None) -> np.ndarray:
  """float32 ``[samples]`` or ``[samples, channels]``, non-empty and finite, else ``error``."""
  error = error or AudioError
  wave = np.asarray(wave, np.float32)
  if wave.ndim not in (1, 2) or wave.shape[0] == 0:
    raise error(
      f'{name}: expected a non-empty wave [samples] or [samples, channels], got shape {wave.shape}'
    )
  check_finite(wave, name, error=NonFiniteAudioError if error is AudioError else error)
  return wave


def check_file_finite(f: sf.SoundFile, name: str, block: int = 1 << 16) -> None:
  """Reads ``f`` through once, if its samples are floats (integer formats and codecs cannot
  hold a NaN), and raises :class:`NonFiniteAudioError` at the first non-finite sample; then
  rewinds it. One more read of a float file, before any output is started."""
  if f.subtype not in ('FLOAT', 'DOUBLE'):
    return
  f.seek(0)
  offset = 0
  for x in f.blocks(blocksize=block, dtype='float32', always_2d=True):
    check_finite(x, name, offset)
    offset += x.shape[0]
  f.seek(0)


def _check_input_file(path: str) -> None:
  """One-line errors for what no decoder can read: missing, not a file, empty."""
  if not os.path.exists(path):
    raise AudioError(f'{path}: no such file (expected an audio file)')
  if not os.path.isfile(path):
    raise AudioError(f'{path}: not a regular file (expected an audio file)')
  if os.path.getsize(path) == 0:
    raise AudioError(f'{path}: empty file (expected audio)')


def load(
  path: PathLike, sample_rate: int | None = None, channels: int | None = None
) -> tuple[np.ndarray, int]:
  """Reads an audio file as float32: ``(wave, rate)``.

  ``sample_rate`` resamples (None keeps the file's rate); ``channels=1`` downmixes by
  averaging, ``channels=2`` duplicates a mono file (None keeps the file's layout).
  """
  path = os.fspath(path)
  if channels not in (None, 1, 2):
    raise ValueError(f'channels={channels!r}: expected None, 1 or 2')
  if sample_rate is not None and sample_rate <= 0:
    raise ValueError(f'sample_rate={sample_rate!r}: expected a positive rate in Hz')
  _check_input_file(path)
  try:
    wave, sr = sf.read(path, dtype='float32', always_2d=True)
  except sf.SoundFileError:
    wave, sr = read_with_ffmpeg(path)
  if wave.shape[0] == 0:
    raise AudioError(f'{path}: contains no audio samples')
  check_finite(wave, path)
  if channels == 1:
    wave = wave.mean(axis=1, keepdims=True)
  elif channels == 2 and wave.shape[1] == 1:
    wave = np.repeat(wave, 2, axis=1)
  elif channels == 2 and wave.shape[1] != 2:
    raise AudioError(f'{path}: has {wave.shape[1]} channels; expected 1 or 2 to make stereo')
  if sample_rate is not None:
    wave, sr = resample(wave, sr, sample_rate), sample_rate
  return (wave[:, 0] if wave.shape[1] == 1 else wave), sr


def check_output(path: PathLike, refuse: Iterable[PathLike] = ()) -> None:
  """Raises AudioError if ``path`` is (or links to) one of ``refuse``, e.g. the input file."""
  for other in refuse:
    same = os.path.realpath(path) == os.path.realpath(other) or (
      os.path.exists(path) and os.path.exists(other) and os.path.samefile(path, other)
    )
    if same:
      raise AudioError(
        f'{os.fspath(path)}: refusing to overwrite the input {os.fspath(other)}; '
        'choose another output path'
      )


@contextlib.contextmanager
def writing(
  path: PathLike,
  sample_rate: int,
  channels: int,
  *,
  format: str = 'WAV',
  subtype: str = 'FLOAT',
  refuse: Iterable[PathLike] = (),
) -> Iterator[Callable[[np.ndarray], None]]:
  """``write(block [n, channels])`` into ``path``, atomically: the one writer of audio files.

  Blocks go to a hidden temporary file in the same directory that replaces ``path`` in one
  rename when the ``with`` block ends without error, so a crash or a refused block never leaves
  a half-written file nor touches an existing one; ``refuse`` paths (the input) are never
  written. A non-finite sample raises :class:`NonFiniteAudioError` naming its frame and
  channel, and nothing is written. Integer subtypes (FLAC's) are clipped to full scale, where
  they would otherwise wrap around.
  """
  path = os.fspath(path)
  if int(sample_rate) != sample_rate or sample_rate <= 0:
    raise AudioError(f'{path}: sample_rate={sample_rate!r}, expected a positive integer (Hz)')
  check_output(path, refuse)
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise AudioError(f'{path}: directory {directory} does not exist')
  tmp = os.path.join(directory, f'.{os.path.basename(path)}.{secrets.token_hex(4)}.part')
  clip = subtype not in ('FLOAT', 'DOUBLE')
  written = 0

  def write(block: np.ndarray) -> None:
    nonlocal written
    block = np.asarray(block, np.float32)
    bad = _non_finite(block, written)
    if bad:
      raise NonFiniteAudioError(
        f'{path}: refusing to write a {bad} (counting from 0); nothing was written'
      )
    f.write(np.clip(block, -1.0, 1.0) if clip else block)
    written += block.shape[0]

  try:
    # os.open with mode 0o666 lets the umask decide permissions, as for any new file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
  except OSError as e:
    raise AudioError(f'{path}: cannot write ({e.strerror or e})') from None
  try:
    with sf.SoundFile(
      fd,
      'w',
      samplerate=int(sample_rate),
      channels=channels,
      format=format,
      subtype=subtype,
      closefd=False,
    ) as f:
      yield write
    try:
      os.fsync(fd)
      os.close(fd)
      fd = None
      os.replace(tmp, path)
    except OSError as e:
      raise AudioError(f'{path}: cannot write ({e.strerror or e})') from None
  finally:
    if fd is not None:
      os.close(fd)
    if os.path.exists(tmp):
      os.remove(tmp)


def save(
  path: PathLike, wave: np.ndarray, sample_rate: int, *, refuse: Iterable[PathLike] = ()
) -> None:
  """Writes ``wave`` as a 32-bit float WAV through :func:`writing` (atomic, finite only);
  refuses to overwrite ``refuse`` paths.

  Float, not PCM_16: codec output and restored audio overshoot full scale, which 16 bits
  would clip, and the file reads back bit-exactly.
  """
  path = os.fspath(path)
  wave = check_wave(wave, path)
  channels = 1 if wave.ndim == 1 else wave.shape[1]
  with writing(path, sample_rate, channels, refuse=refuse) as write:
    write(wave.reshape(wave.shape[0], channels))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
  """Silences what C libraries write to file descriptor 2 meanwhile."""
  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with open(os.devnull, 'w') as null:
      os.dup2(null.fileno(), 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


@contextlib.contextmanager
def open_audio(path: PathLike) -> Iterator[sf.SoundFile]:
  """Opens any audio file for block reads: libsndfile directly, else ffmpeg's decoding of it
  into a temporary WAV on disk (never into memory), deleted on exit."""
  path = os.fspath(path)
  _check_input_file(path)
  with contextlib.ExitStack() as stack:
    try:
      with _quiet_stderr():  # libsndfile's mpg123 prints notes while it probes garbage
        f = stack.enter_context(sf.SoundFile(path))
    except sf.SoundFileError:
      tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix='restore-'))
      wav = os.path.join(tmp, 'decoded.wav')
      decode_with_ffmpeg(path, wav)
      f = stack.enter_context(sf.SoundFile(wav))
    if f.frames <= 0:
      raise AudioError(f'{path}: contains no audio samples')
    check_file_finite(f, path)
    yield f
