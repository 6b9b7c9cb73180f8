"""Apply a trained model to degraded audio: the one path shared by the training loop's
validation, ``evaluate``, ``restore``, the benchmark and the notebooks.

:func:`enhancer` asks the run's method (``restoration.methods``) how its trained state restores
a degraded spectrogram. :class:`Restorer` runs it on arrays and files of any length, streaming
with bounded memory, so a two-hour file needs no more memory than a minute: blocks are read as
they are needed (libsndfile; other formats are first decoded by ffmpeg to a temporary WAV on
disk), resampled to the model's rate by a streaming resampler, restored in chunks of a fixed
size (one compiled shape; the last chunk is zero-padded) that overlap and are joined with a
Hann cross-fade, resampled back and written to a temporary file beside the output that
replaces it only when complete. Each channel is restored independently (the models are
trained on single channels). The output has the input's rate, channel count and exact length,
sample-aligned with it (soxr compensates its filter delay)::

  r = Restorer('runs/gan')
  restored = r.restore_array(wave, 44100)   # [samples] or [samples, channels]
  stats = r.restore_file('in.mp3', 'out.wav')
"""

from __future__ import annotations

import copy
import os
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
import soundfile as sf
import soxr

from restoration import methods, spectral
from restoration.checkpoint import Checkpointer
from restoration.data import audio
from restoration.errors import NoCheckpointError, UserError
from restoration.train import state as state_lib
from restoration.train.state import Networks


def saved_config(workdir: str, step: int | None = None) -> ml_collections.ConfigDict:
  """The config saved beside a run's checkpoint (latest step by default)."""
  ckpt = Checkpointer(workdir, save_every=1, read_only=True)
  if ckpt.latest_step() is None:
    raise NoCheckpointError(f'{workdir}: no checkpoint under {ckpt.directory}')
  return ml_collections.ConfigDict(ckpt.saved_config(step))


def load_workdir(workdir: str, which: str = 'best') -> tuple[Any, Networks, Any, Any, int]:
  """``(config, networks, params, rest, step)`` of a trained run, onto the default device.

  ``which``: 'best' (by the validation metric; falls back to 'latest'), 'latest', or a step.
  Sampling uses the EMA weights when the run kept them.
  """
  ckpt = Checkpointer(workdir, save_every=1, read_only=True)
  step = ckpt.latest_step()
  if step is None:
    raise NoCheckpointError(
      f'{workdir}: no checkpoint under {ckpt.directory}; train first with '
      'python -m restoration.main --config=... --workdir=' + str(workdir)
    )
  if which == 'best':
    step = ckpt.best_step() or step
  elif which != 'latest':
    step = int(which)
  config = ml_collections.ConfigDict(ckpt.saved_config(step))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = state_lib.abstract_state(config, None)
  target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), target)
  state = ckpt.restore(target, step)
  ckpt.close()
  nets = state_lib.networks(config)
  params = state['ema'] if config.train.ema_decay else state['params'][nets.main]
  return config, nets, params, state['rest'][nets.main], step


def enhancer(config, nets: Networks, *, steps: int | None = None) -> methods.Enhancer:
  """``fn(params, rest, degraded [B, T, F, 2], rng) -> restored [B, T, F, 2]`` (jit-able);
  ``steps`` is the sampler step count of iterative methods (default: the config's)."""
  return methods.get(config.method).enhancer(config, nets, steps=steps)


def network_calls(config, steps: int | None = None) -> int:
  """Network evaluations per restored batch (1 for one-pass methods)."""
  return methods.get(config.method).network_calls(config, steps)


_RF64_BYTES = 2**32 - 2**20  # plain WAV (RIFF) sizes are 32-bit; switch to RF64 before that


class RestoreError(UserError, ValueError):
  """Bad arguments or input for a restore; the message names the culprit."""


def _check_checkpoint(checkpoint: str | int) -> str:
  text = str(checkpoint)
  if text not in ('best', 'latest') and not text.isdigit():
    raise RestoreError(f'checkpoint={checkpoint!r}: expected "best", "latest" or a step number')
  return text


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
    (self.config, self._nets, self.params, self._rest, self.checkpoint_step) = load_workdir(
      workdir, _check_checkpoint(checkpoint)
    )
    self.workdir = workdir
    self.sample_rate = int(self.config.data.sample_rate)
    self._length = max(1, int(round(chunk_seconds * self.sample_rate)))
    self._overlap = int(round(overlap_seconds * self.sample_rate))
    self._seed = seed
    self._set_steps(steps)

  def _set_steps(self, steps: int | None) -> None:
    import jax

    if steps is not None and steps < 1:
      raise RestoreError(f'steps={steps!r}: expected a positive number of sampler steps')
    self.steps = steps
    self.network_calls = network_calls(self.config, steps)
    p = spectral.SpectralParams.from_config(self.config.spectral)
    enhance = enhancer(self.config, self._nets, steps=steps)

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
    with audio.open_audio(in_path) as source:
      return self.restore_opened(source, os.fspath(out_path), progress)

  def restore_opened(self, source: sf.SoundFile, out_path: str, progress: bool) -> dict[str, float]:
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
