"""Restore audio files of any length: ``python -m restoration.restore --workdir=DIR IN OUT``.

Streaming with bounded memory, so a two-hour file needs no more memory than a minute:
blocks of IN are read as they are needed (libsndfile; other formats are first decoded by
ffmpeg to a temporary WAV on disk), resampled to the model's rate by a streaming resampler,
restored in chunks of a fixed size (one compiled shape; the last chunk is zero-padded) that
overlap and are joined with a Hann cross-fade, resampled back to IN's rate and written to a
temporary file beside OUT that replaces OUT only when complete. Each channel is restored
independently (the models are trained on single channels). OUT has IN's rate, channel
count and exact length, sample-aligned with it (soxr compensates its filter delay).

From Python or a notebook::

  r = Restorer('runs/gan')
  restored = r.restore_array(wave, 44100)   # [samples] or [samples, channels]
  stats = r.restore_file('in.mp3', 'out.wav')
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np
import soundfile as sf
import soxr

from restoration.data import audio

_RF64_BYTES = 2**32 - 2**20  # plain WAV (RIFF) sizes are 32-bit; switch to RF64 before that


class RestoreError(ValueError):
  """Bad arguments or input for a restore; the message names the culprit."""


def _check_checkpoint(checkpoint: str | int) -> str:
  text = str(checkpoint)
  if text not in ('best', 'latest') and not text.isdigit():
    raise RestoreError(f'checkpoint={checkpoint!r}: expected "best", "latest" or a step number')
  return text


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
def open_audio(path: audio.PathLike) -> Iterator[sf.SoundFile]:
  """Opens any audio file for block reads: libsndfile directly, else ffmpeg's decoding of it
  into a temporary WAV on disk (never into memory), deleted on exit."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise audio.AudioError(f'{path}: no such file (expected an audio file)')
  if not os.path.isfile(path):
    raise audio.AudioError(f'{path}: not a regular file (expected an audio file)')
  if os.path.getsize(path) == 0:
    raise audio.AudioError(f'{path}: empty file (expected audio)')
  with contextlib.ExitStack() as stack:
    try:
      with _quiet_stderr():  # libsndfile's mpg123 prints notes while it probes garbage
        f = stack.enter_context(sf.SoundFile(path))
    except sf.SoundFileError:
      tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix='restore-'))
      wav = os.path.join(tmp, 'decoded.wav')
      audio.decode_with_ffmpeg(path, wav)
      f = stack.enter_context(sf.SoundFile(wav))
    if f.frames <= 0:
      raise audio.AudioError(f'{path}: contains no audio samples')
    yield f


def _resampler(in_rate: int, out_rate: int, channels: int) -> Callable[..., np.ndarray]:
  """``fn(block [n, C], last=False)``: streaming soxr HQ (delay-compensated), or identity."""
  if in_rate == out_rate:
    return lambda x, last=False: x
  stream = soxr.ResampleStream(in_rate, out_rate, channels, dtype='float32', quality='HQ')
  return lambda x, last=False: stream.resample_chunk(np.ascontiguousarray(x, np.float32), last)


class _Chunker:
  """Restores a stream at the model rate in chunks of ``length`` samples, each starting
  ``length - overlap`` after the previous one; overlaps are cross-faded with Hann halves
  (fade-in + fade-out = 1), which also hides the edges of each chunk's zero-padded STFT."""

  def __init__(
    self, fn: Callable[[np.ndarray, int], np.ndarray], length: int, overlap: int, channels: int
  ):
    """``fn(chunk [length, channels], chunk_index) -> restored chunk``."""
    self._fn, self._length, self._overlap = fn, length, overlap
    self._fade_in = (np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / max(overlap, 1)) ** 2)[
      :, None
    ].astype(np.float32)
    self._buffer = np.zeros((0, channels), np.float32)
    self._tail: np.ndarray | None = None  # previous chunk's faded-out overlap
    self._count = 0

  def _chunk(self, x: np.ndarray, emit: int) -> np.ndarray:
    y = np.array(self._fn(x, self._count), np.float32)
    self._count += 1
    o = self._overlap
    if self._tail is not None:
      y[:o] = y[:o] * self._fade_in + self._tail
    self._tail = y[self._length - o :] * (1 - self._fade_in)
    return y[:emit]

  def push(self, x: np.ndarray) -> np.ndarray:
    """Restored samples that are final once ``x`` is appended to the stream."""
    self._buffer = np.concatenate([self._buffer, x])
    hop = self._length - self._overlap
    out = [self._buffer[:0]]
    while self._buffer.shape[0] >= self._length:
      out.append(self._chunk(self._buffer[: self._length], hop))
      self._buffer = self._buffer[hop:]
    return np.concatenate(out)

  def finish(self) -> np.ndarray:
    """The rest of the stream, through a zero-padded last chunk."""
    n = self._buffer.shape[0]
    if n == 0 and self._count:
      return self._buffer
    x = np.pad(self._buffer, ((0, self._length - n), (0, 0)))
    return self._chunk(x, n)


class _Stream:
  """Input-rate blocks in, restored input-rate blocks out; in total exactly as many samples
  as went in (resampler rounding is padded or trimmed at the end, never in the middle)."""

  def __init__(self, fn, model_rate: int, rate: int, channels: int, length: int, overlap: int):
    self._down = _resampler(rate, model_rate, channels)
    self._chunker = _Chunker(fn, length, overlap, channels)
    self._up = _resampler(model_rate, rate, channels)
    self._channels = channels
    self._pending = np.zeros((0, channels), np.float32)
    self._read = self._written = 0

  def _release(self, y: np.ndarray, final: bool = False) -> np.ndarray:
    y = np.concatenate([self._pending, y])
    n = self._read - self._written
    if final and y.shape[0] < n:
      y = np.pad(y, ((0, n - y.shape[0]), (0, 0)))
    self._pending = y[n:]
    self._written += min(n, y.shape[0])
    return y[:n]

  def push(self, block: np.ndarray) -> np.ndarray:
    self._read += block.shape[0]
    return self._release(self._up(self._chunker.push(self._down(block))))

  def finish(self) -> np.ndarray:
    rest = self._chunker.push(self._down(np.zeros((0, self._channels), np.float32), last=True))
    rest = np.concatenate([rest, self._chunker.finish()])
    return self._release(self._up(rest, last=True), final=True)


class Restorer:
  """A trained model (``workdir``'s ``checkpoint``) applied to arrays and files of any length.

  ``steps`` sets the diffusion sampler's step count (ignored by single-pass models);
  ``chunk_seconds`` is the fixed chunk the model sees (one compile per channel count) and
  ``overlap_seconds`` the cross-fade between chunks (at most half a chunk). ``params`` and
  ``config`` are the loaded run's (EMA weights when it kept them).
  """

  def __init__(
    self,
    workdir: str,
    *,
    checkpoint: str | int = 'best',
    steps: int | None = None,
    chunk_seconds: float = 4.0,
    overlap_seconds: float = 0.5,
    seed: int = 0,
  ):
    if not chunk_seconds > 0:
      raise RestoreError(f'chunk_seconds={chunk_seconds!r}: expected > 0')
    if not 0 <= overlap_seconds <= chunk_seconds / 2:
      raise RestoreError(
        f'overlap_seconds={overlap_seconds!r}: expected in [0, '
        f'chunk_seconds / 2 = {chunk_seconds / 2:g}]'
      )
    from restoration import inference  # local: keeps bad-input errors fast (no JAX start-up)

    (self.config, self._nets, self.params, self._rest, self.checkpoint_step) = (
      inference.load_workdir(workdir, _check_checkpoint(checkpoint))
    )
    self.workdir = workdir
    self.sample_rate = int(self.config.data.sample_rate)
    self._length = max(1, int(round(chunk_seconds * self.sample_rate)))
    self._overlap = int(round(overlap_seconds * self.sample_rate))
    self._seed = seed
    self._set_steps(steps)

  def _set_steps(self, steps: int | None) -> None:
    import jax

    from restoration import inference, spectral

    if steps is not None and steps < 1:
      raise RestoreError(f'steps={steps!r}: expected a positive number of sampler steps')
    self.steps = steps
    self.network_calls = inference.network_calls(self.config, steps)
    p = spectral.SpectralParams.from_config(self.config.spectral)
    enhance = inference.enhancer(self.config, self._nets, steps=steps)

    @jax.jit
    def restore_waves(params, rest, waves, rng):
      spec = spectral.analysis(waves, p)
      return spectral.synthesis(enhance(params, rest, spec, rng), p, waves.shape[-1])

    self._jitted = restore_waves

  def with_steps(self, steps: int | None) -> Restorer:
    """The same loaded model with another sampler step count (no reload)."""
    other = copy.copy(self)
    other._set_steps(steps)
    return other

  def restore_waves(self, waves: np.ndarray, index: int = 0) -> np.ndarray:
    """One model pass over ``waves [batch, samples]`` at :attr:`sample_rate`, no chunking
    (compiles once per shape). ``index`` picks the sampling noise (diffusion)."""
    import jax

    rng = jax.random.fold_in(jax.random.key(self._seed), index)
    return np.asarray(self._jitted(self.params, self._rest, np.asarray(waves, np.float32), rng))

  def _stream(self, rate: int, channels: int) -> _Stream:
    return _Stream(
      lambda x, i: self.restore_waves(x.T, i).T,
      self.sample_rate,
      rate,
      channels,
      self._length,
      self._overlap,
    )

  def restore_array(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Restores ``wave`` ([samples] or [samples, channels], any rate) by the chunked path of
    :meth:`restore_file`, in memory; returns float32 of the same shape and rate."""
    wave = np.asarray(wave, np.float32)
    if wave.ndim not in (1, 2) or wave.shape[0] == 0:
      raise RestoreError(
        f'wave: expected a non-empty [samples] or [samples, channels] array, got shape {wave.shape}'
      )
    if int(sample_rate) != sample_rate or sample_rate <= 0:
      raise RestoreError(f'sample_rate={sample_rate!r}: expected a positive integer (Hz)')
    x = wave.reshape(wave.shape[0], -1)
    stream = self._stream(int(sample_rate), x.shape[1])
    y = np.concatenate([stream.push(x), stream.finish()])
    return y.reshape(wave.shape)

  def restore_file(
    self, in_path: audio.PathLike, out_path: audio.PathLike, progress: bool = True
  ) -> dict[str, float]:
    """Restores ``in_path`` into the WAV file ``out_path`` block by block (bounded memory).

    Returns ``{'audio_seconds', 'wall_seconds', 'real_time_factor'}`` (wall / audio, so
    below 1 is faster than real time; the first call includes compilation).
    """
    audio.check_output(out_path, refuse=[in_path])
    with open_audio(in_path) as source:
      return self._restore_opened(source, os.fspath(out_path), progress)

  def _restore_opened(
    self, source: sf.SoundFile, out_path: str, progress: bool
  ) -> dict[str, float]:
    from tqdm import tqdm

    if not out_path.lower().endswith('.wav'):
      raise RestoreError(f'{out_path}: restored audio is written as WAV; name the output *.wav')
    directory = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(directory):
      raise audio.AudioError(f'{out_path}: directory {directory} does not exist')
    rate, channels = source.samplerate, source.channels
    kind = 'RF64' if source.frames * channels * 4 > _RF64_BYTES else 'WAV'
    block = max(1024, (self._length - self._overlap) * rate // self.sample_rate)
    stream = self._stream(rate, channels)
    tmp = os.path.join(directory, f'.{os.path.basename(out_path)}.{secrets.token_hex(4)}.part')
    start = time.perf_counter()
    try:
      with (
        sf.SoundFile(
          tmp, 'w', samplerate=rate, channels=channels, format=kind, subtype='FLOAT'
        ) as out,
        tqdm(
          total=round(source.frames / rate, 1),
          unit='s',
          unit_scale=True,
          desc='restore',
          file=sys.stderr,
          disable=not progress,
        ) as bar,
      ):
        frames = 0
        for x in source.blocks(blocksize=block, dtype='float32', always_2d=True):
          out.write(stream.push(x))
          frames += x.shape[0]
          bar.update(round(x.shape[0] / rate, 3))
        out.write(stream.finish())
      os.replace(tmp, out_path)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)
    wall = time.perf_counter() - start
    seconds = frames / rate
    return {'audio_seconds': seconds, 'wall_seconds': wall, 'real_time_factor': wall / seconds}


def user_errors() -> tuple[type[Exception], ...]:
  """Exceptions whose message tells the user what to fix (CLIs print them as one line)."""
  from restoration.checkpoint import CheckpointMismatchError

  return (
    audio.AudioError,
    RestoreError,
    CheckpointMismatchError,
    FileNotFoundError,
    sf.SoundFileError,
    OSError,
  )


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
  parser = _parser()
  args = parser.parse_args(argv)
  from absl import logging as absl_logging  # orbax logs routine notes as warnings

  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    audio.check_output(args.output, refuse=[args.input])
    with open_audio(args.input) as source:  # bad input fails before the model loads
      restorer = Restorer(
        args.workdir,
        checkpoint=args.checkpoint,
        steps=args.steps,
        chunk_seconds=args.chunk_seconds,
        overlap_seconds=args.overlap_seconds,
        seed=args.seed,
      )
      stats = restorer._restore_opened(source, args.output, progress=True)
  except Exception as e:  # what the user can fix ends in one line; bugs keep their traceback
    if not isinstance(e, user_errors()):
      raise
    parser.exit(1, f'restore: error: {e}\n')
  except KeyboardInterrupt:
    parser.exit(130, 'restore: interrupted; no output written\n')
  print(
    f'restored {args.input} -> {args.output}: {stats["audio_seconds"]:.1f} s of audio in '
    f'{stats["wall_seconds"]:.1f} s (real-time factor {stats["real_time_factor"]:.3f})'
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
