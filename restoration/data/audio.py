"""Audio file I/O: load anything to float32 at a chosen rate and layout, save WAV atomically.

Reading goes through libsndfile (wav, flac, ogg vorbis/opus, mp3, ...) and falls back to the
ffmpeg binary for what libsndfile cannot read (m4a/aac, ...). Waves are float32, ``[samples]``
when mono and ``[samples, channels]`` otherwise.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator

import numpy as np
import soundfile as sf
import soxr

from restoration.errors import UserError

PathLike = str | os.PathLike
FFMPEG_HINT = 'install it with `apt-get install ffmpeg` or `pip install imageio-ffmpeg`'


class AudioError(UserError, ValueError):
  """A file that cannot be read or written as audio; the message names the file."""


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


def check_wave(wave, name: str, error: type[Exception] | None = None) -> np.ndarray:
  """float32 ``[samples]`` or ``[samples, channels]``, non-empty and finite, else ``error``."""
  error = error or AudioError
  wave = np.asarray(wave, np.float32)
  if wave.ndim not in (1, 2) or wave.shape[0] == 0:
    raise error(
      f'{name}: expected a non-empty wave [samples] or [samples, channels], got shape {wave.shape}'
    )
  if not np.isfinite(wave).all():
    raise error(f'{name}: the wave has NaN or infinite samples')
  return wave


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


def save(
  path: PathLike, wave: np.ndarray, sample_rate: int, *, refuse: Iterable[PathLike] = ()
) -> None:
  """Writes ``wave`` as a 32-bit float WAV, atomically; refuses to overwrite ``refuse`` paths.

  Float, not PCM_16: codec output and restored audio overshoot full scale, which 16 bits
  would clip, and the file reads back bit-exactly. The data goes to a hidden temporary file
  in the same directory that then replaces ``path`` in one rename, so a crash never leaves
  a half-written file.
  """
  path = os.fspath(path)
  wave = check_wave(wave, path)
  if int(sample_rate) != sample_rate or sample_rate <= 0:
    raise AudioError(f'{path}: sample_rate={sample_rate!r}, expected a positive integer (Hz)')
  check_output(path, refuse)
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise AudioError(f'{path}: directory {directory} does not exist')
  tmp = os.path.join(directory, f'.{os.path.basename(path)}.{secrets.token_hex(4)}.part')
  try:
    # os.open with mode 0o666 lets the umask decide permissions, as for any new file.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), 'wb') as f:
      sf.write(f, wave, int(sample_rate), format='WAV', subtype='FLOAT')
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except OSError as e:
    raise AudioError(f'{path}: cannot write ({e.strerror or e})') from None
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


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
    yield f
