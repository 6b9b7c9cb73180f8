"""Chunked streaming restore of arrays, files and folders, for any model that maps a batch of
fixed-length single-channel chunks to restored chunks.

Shared by :class:`restoration.inference.Restorer` (a trained run) and
:class:`restoration.exported.ExportedRestorer` (a serialised model), so this module imports no
training, model or checkpoint code: an exported model runs with jax, numpy, soxr and soundfile.

Files stream with bounded memory: blocks are read as they are needed (libsndfile; other formats
are first decoded by ffmpeg to a temporary WAV on disk), resampled to the model's rate by a
streaming resampler, restored in chunks of a fixed size (the last one mirror-padded to the
shortest of :func:`tail_lengths`, so a file shorter than a chunk costs about its own length)
that overlap and are joined with a Hann cross-fade, resampled back and written to a temporary
file beside the output that replaces it only when complete. A folder is restored a few files at
a time in threads (one model call alone keeps ~1.2 of 2 CPU cores busy). Each channel is
restored independently (the models are trained on single channels). The output has the
input's rate, channel count and exact length, sample-aligned with it (soxr compensates its
filter delay). An input with a NaN or infinite sample is refused by position before anything is
restored, and no non-finite sample is ever written (:func:`restoration.data.audio.writing`).

A model restores up to its own Nyquist frequency and never takes away what a file holds above
it: at a rate above the model's, a zero-phase :class:`Crossover` at the file's rate keeps the
model's output below :func:`crossover_band` and the input's own samples above it (``x +
lowpass(y - x)``, so where the model changes nothing the input comes back as it was).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from restoration.data import audio
from restoration.errors import UserError

log = logging.getLogger('restoration')
_NOTE_LOCK = threading.Lock()  # a folder's threads say the band note once between them

_RF64_BYTES = 2**32 - 2**20  # plain WAV (RIFF) sizes are 32-bit; switch to RF64 before that
# Output formats by suffix: WAV keeps float (restored audio overshoots full scale and reads
# back exactly); FLAC is integer-only, 24 bits, clipped to full scale.
OUTPUT_SUBTYPES = {'.wav': 'FLOAT', '.flac': 'PCM_24'}


class RestoreError(UserError, ValueError):
  """Bad arguments or input for a restore; the message names the culprit."""


def chunk_samples(chunk_seconds: float, overlap_seconds: float, rate: int) -> tuple[int, int]:
  """``(chunk, overlap)`` in samples at ``rate``, checked: overlap at most half a chunk."""
  if not chunk_seconds > 0:
    raise RestoreError(f'chunk_seconds={chunk_seconds!r}: expected > 0')
  if not 0 <= overlap_seconds <= chunk_seconds / 2:
    raise RestoreError(
      f'overlap_seconds={overlap_seconds!r}: expected in [0, '
      f'chunk_seconds / 2 = {chunk_seconds / 2:g}]'
    )
  return max(1, int(round(chunk_seconds * rate))), int(round(overlap_seconds * rate))


def default_workers() -> int:
  """Files a folder restore works on at once: one per CPU core, plus one so that no core idles
  while a thread reads, writes or dispatches."""
  return (os.cpu_count() or 1) + 1


def resolve_workers(workers: int | None, name: str = 'workers') -> int:
  """``workers``, or :func:`default_workers` when None; under 1 is an error naming ``name``."""
  if workers is None:
    return default_workers()
  if workers < 1:
    raise RestoreError(f'{name}={workers!r}: expected at least 1')
  return workers


def tail_lengths(chunk: int, parts: int = 4) -> tuple[int, ...]:
  """The lengths a stream's last chunk may be padded to: ``parts`` even steps up to
  ``chunk`` (each one more compiled shape), so the last chunk costs at most ``chunk / parts``
  of padding instead of up to a whole chunk."""
  return tuple(sorted({max(1, -(-chunk * k // parts)) for k in range(1, parts + 1)}))


def resampler(in_rate: int, out_rate: int, channels: int) -> Callable[..., np.ndarray]:
  """``fn(block [n, C], last=False)``: streaming soxr HQ (delay-compensated), or identity."""
  if in_rate == out_rate:
    return lambda x, last=False: x
  stream = soxr.ResampleStream(in_rate, out_rate, channels, dtype='float32', quality='HQ')
  return lambda x, last=False: stream.resample_chunk(np.ascontiguousarray(x, np.float32), last)


# The crossover's transition band, as fractions of the model's Nyquist frequency: it ends
# below where soxr's HQ resampling starts to roll off (0.92), so the model's output is flat
# wherever it is kept, and the round trip through the model's rate adds no level step or comb.
CROSSOVER_BAND = (0.85, 0.9)
CROSSOVER_ATTENUATION_DB = 100.0


def crossover_band(model_rate: int) -> tuple[float, float]:
  """``(pass_hz, stop_hz)``: below ``pass_hz`` the output is the model's, above ``stop_hz`` the
  input's, in between a linear-phase blend of both."""
  nyquist = model_rate / 2
  return CROSSOVER_BAND[0] * nyquist, CROSSOVER_BAND[1] * nyquist


def lowpass_taps(
  rate: int, pass_hz: float, stop_hz: float, attenuation_db: float = CROSSOVER_ATTENUATION_DB
) -> np.ndarray:
  """A linear-phase (symmetric, odd-length) Kaiser-window FIR low-pass at ``rate``, unit gain
  below ``pass_hz``, ``attenuation_db`` down above ``stop_hz`` (numpy only: the exported-model
  loader uses it)."""
  width = (stop_hz - pass_hz) / rate
  n = int(math.ceil((attenuation_db - 7.95) / (2.285 * 2 * math.pi * width))) | 1
  beta = 0.1102 * (attenuation_db - 8.7)
  cutoff = (pass_hz + stop_hz) / 2 / rate
  t = np.arange(n) - (n - 1) / 2
  taps = 2 * cutoff * np.sinc(2 * cutoff * t) * np.kaiser(n, beta)
  return taps / taps.sum()


def _convolve_valid(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
  """``x [L, C]`` convolved with ``taps [N]`` where they overlap fully: ``[L - N + 1, C]``, by
  overlap-save over FFTs of about 4N (cheaper than one FFT of the whole block)."""
  length, n = x.shape[0], taps.shape[0]
  if length < n:
    return np.zeros((0, x.shape[1]), np.float32)
  size = 1 << (4 * n - 1).bit_length()
  step = size - n + 1  # outputs per segment
  count = -(-(length - n + 1) // step)
  x = np.pad(x, ((0, (count - 1) * step + size - length), (0, 0)))
  segments = np.lib.stride_tricks.sliding_window_view(x, size, axis=0)[::step]  # [S, C, size]
  y = np.fft.irfft(np.fft.rfft(segments, axis=-1) * np.fft.rfft(taps, size), size, axis=-1)
  y = y[..., n - 1 :].transpose(0, 2, 1).reshape(-1, x.shape[1])
  return y[: length - n + 1].astype(np.float32)


class Crossover:
  """Joins a model's output ``y`` (resampled back to the input's rate and aligned with it) to
  the input ``x`` above the model's band: ``x + lowpass(y - x)``, a zero-phase FIR (its delay
  taken back). So the low band is the model's, the band above :func:`crossover_band` is the
  input's own samples, and low and high are complementary: they sum to ``x`` where ``y = x``.
  Streams with a latency of half the filter; in total as many samples out as in."""

  def __init__(self, rate: int, model_rate: int, channels: int):
    self.taps = lowpass_taps(rate, *crossover_band(model_rate))
    self._delay = (self.taps.shape[0] - 1) // 2
    self._x = np.zeros((0, channels), np.float32)  # input not yet output
    # y - x from `delay` samples before the next output on (0 before the start)
    self._diff = np.zeros((self._delay, channels), np.float32)
    self._matched = 0  # samples of self._x that have their y

  def push(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Takes the next input samples ``x`` and the next model samples ``y`` (which lag behind
    ``x``), returns the joined samples that are final."""
    self._x = np.concatenate([self._x, x])
    m = self._matched
    self._diff = np.concatenate([self._diff, y - self._x[m : m + y.shape[0]]])
    self._matched += y.shape[0]
    return self._emit()

  def finish(self, y: np.ndarray) -> np.ndarray:
    """The rest, once the last model samples ``y`` are in."""
    out = self.push(self._x[:0], y)
    self._diff = np.pad(self._diff, ((0, self._delay), (0, 0)))  # y - x after the end is 0
    return np.concatenate([out, self._emit()])

  def _emit(self) -> np.ndarray:
    low = _convolve_valid(self._diff, self.taps)
    n = low.shape[0]
    out = self._x[:n] + low
    self._x, self._diff, self._matched = self._x[n:], self._diff[n:], self._matched - n
    return out


class Chunker:
  """Restores a stream at the model rate in chunks of ``length`` samples, each starting
  ``length - overlap`` after the previous one; overlaps are cross-faded with Hann halves
  (fade-in + fade-out = 1), which also hides the edges of each chunk's zero-padded STFT."""

  def __init__(
    self,
    fn: Callable[[np.ndarray, int], np.ndarray],
    length: int,
    overlap: int,
    channels: int,
    tails: tuple[int, ...] = (),
  ):
    """``fn(chunk [n, channels], chunk_index) -> restored chunk``: ``n`` is ``length``, or
    for the last chunk the shortest of ``tails`` that holds what is left."""
    self._fn, self._length, self._overlap = fn, length, overlap
    self._tails = sorted({*tails, length})
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
    if y.shape[0] == self._length:  # a shorter one is the last: nothing follows it
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
    """The rest of the stream, through a last chunk padded with its own mirror image: an
    abrupt stop would splatter over every frequency and hide where a codec cut the band
    (``spectral.band_edge``), and the model never sees an edge it did not train on."""
    n = self._buffer.shape[0]
    if n == 0 and self._count:
      return self._buffer
    padded = next(t for t in self._tails if t >= n)
    mode = 'symmetric' if n else 'constant'
    return self._chunk(np.pad(self._buffer, ((0, padded - n), (0, 0)), mode=mode), n)


class Stream:
  """Input-rate blocks in, restored input-rate blocks out; in total exactly as many samples
  as went in (resampler rounding is padded or trimmed at the end, never in the middle)."""

  def __init__(
    self, fn, model_rate: int, rate: int, channels: int, length: int, overlap: int, tails=()
  ):
    self._down = resampler(rate, model_rate, channels)
    self._chunker = Chunker(fn, length, overlap, channels, tails)
    self._up = resampler(model_rate, rate, channels)
    # Above the model's rate, its band ends below the file's: the rest is the input's own.
    self.crossover = Crossover(rate, model_rate, channels) if rate > model_rate else None
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
    y = self._release(self._up(self._chunker.push(self._down(block))))
    return y if self.crossover is None else self.crossover.push(block, y)

  def finish(self) -> np.ndarray:
    rest = self._chunker.push(self._down(np.zeros((0, self._channels), np.float32), last=True))
    rest = np.concatenate([rest, self._chunker.finish()])
    y = self._release(self._up(rest, last=True), final=True)
    return y if self.crossover is None else self.crossover.finish(y)


@dataclasses.dataclass
class TreeResult:
  """What :meth:`ChunkedRestorer.restore_tree` did: output paths restored now, outputs that
  already existed (a re-run resumes), ``(input, one-line reason)`` of the files that failed."""

  restored: list[str] = dataclasses.field(default_factory=list)
  existing: list[str] = dataclasses.field(default_factory=list)
  failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
  audio_seconds: float = 0.0
  wall_seconds: float = 0.0


def plan_tree(in_dir: audio.PathLike, out_dir: audio.PathLike, fmt: str) -> list[tuple[Path, Path]]:
  """``(input, output)`` for every audio file under ``in_dir``, mirrored under ``out_dir`` with
  the suffix ``.{fmt}``; inputs whose outputs would collide (``a.mp3``, ``a.wav``) keep their
  suffix in the name (``a.mp3.wav``). Refuses folders that are, or lie inside, each other, so
  no output is ever written over or inside an input."""
  from restoration.data.sources import AUDIO_EXTENSIONS, list_audio_files  # imports scipy

  suffix = f'.{fmt}'
  if suffix not in OUTPUT_SUBTYPES:
    raise RestoreError(f'format={fmt!r}: expected one of {", ".join(OUTPUT_SUBTYPES)}')
  src, dst = Path(os.path.realpath(in_dir)), Path(os.path.realpath(out_dir))
  if not src.is_dir():
    raise RestoreError(f'{os.fspath(in_dir)}: not a directory')
  if dst.exists() and not dst.is_dir():
    raise RestoreError(f'{os.fspath(out_dir)}: exists and is not a directory')
  if dst == src or src in dst.parents or dst in src.parents:
    raise RestoreError(
      f'{os.fspath(out_dir)}: the output folder must not be, or lie inside, the input folder '
      f'{os.fspath(in_dir)} (nor contain it); choose a separate folder'
    )
  files = list_audio_files(src)
  if not files:
    raise RestoreError(
      f'{os.fspath(in_dir)}: no audio files ({", ".join(AUDIO_EXTENSIONS)}) under it'
    )
  outputs = [f.relative_to(src).with_suffix(suffix) for f in files]
  taken = collections.Counter(outputs)
  return [
    (f, dst / (o if taken[o] == 1 else f.relative_to(src).with_name(f.name + suffix)))
    for f, o in zip(files, outputs)
  ]


class ChunkedRestorer:
  """Arrays, files and folders of any length through :meth:`restore_waves`, a model pass over
  ``[batch, length]`` chunks at :attr:`sample_rate`; subclasses set the three attributes."""

  sample_rate: int
  chunk_length: int  # samples the model sees at once (one compiled shape)
  overlap: int  # samples cross-faded between consecutive chunks
  tail_lengths: tuple[int, ...] = ()  # shorter lengths the last chunk may take (more shapes)

  def restore_waves(self, waves: np.ndarray, index: int = 0) -> np.ndarray:
    """One model pass over ``waves [batch, n]``, ``n`` the chunk length or one of the tail
    lengths; ``index`` picks sampling noise."""
    raise NotImplementedError

  def band_note(self, rate: int) -> str | None:
    """What a file at ``rate`` keeps of its own: None at or below the model's rate."""
    if rate <= self.sample_rate:
      return None
    low, high = crossover_band(self.sample_rate)
    return (
      f'the model is band-limited to {self.sample_rate / 2:g} Hz (it runs at '
      f"{self.sample_rate} Hz): the output is the model's below {low:g} Hz and above "
      f"{high:g} Hz the input's own, passed through unchanged"
    )

  def _noted(self, rate: int) -> None:
    """Logs :meth:`band_note` once per restorer, after a restore that used it (not per chunk
    nor per file, and not before an error)."""
    note = self.band_note(rate)
    with _NOTE_LOCK:
      if note is None or getattr(self, '_band_noted', False):
        return
      self._band_noted = True
    log.warning(note)

  def _stream(self, rate: int, channels: int) -> Stream:
    return Stream(
      lambda x, i: self.restore_waves(x.T, i).T,
      self.sample_rate,
      rate,
      channels,
      self.chunk_length,
      self.overlap,
      self.tail_lengths,
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
    audio.check_finite(x, 'wave')
    stream = self._stream(int(sample_rate), x.shape[1])
    y = np.concatenate([stream.push(x), stream.finish()])
    self._noted(int(sample_rate))
    return y.reshape(wave.shape)

  restore = restore_array

  def restore_file(
    self, in_path: audio.PathLike, out_path: audio.PathLike, progress: bool = True
  ) -> dict[str, float]:
    """Restores ``in_path`` into ``out_path`` (*.wav: 32-bit float; *.flac: 24-bit) block by
    block (bounded memory).

    Returns ``{'audio_seconds', 'wall_seconds', 'real_time_factor'}`` (wall / audio, so
    below 1 is faster than real time; the first call includes compilation).
    """
    audio.check_output(out_path, refuse=[in_path])
    with audio.open_audio(in_path) as source:
      return self.restore_opened(source, os.fspath(out_path), progress)

  def restore_opened(self, source: sf.SoundFile, out_path: str, progress: bool) -> dict[str, float]:
    from tqdm import tqdm

    suffix = os.path.splitext(out_path)[1].lower()
    if suffix not in OUTPUT_SUBTYPES:
      raise RestoreError(
        f'{out_path}: restored audio is written as WAV or FLAC; name it *.wav or *.flac'
      )
    rate, channels = source.samplerate, source.channels
    subtype = OUTPUT_SUBTYPES[suffix]
    kind = suffix[1:].upper()
    if kind == 'WAV' and source.frames * channels * 4 > _RF64_BYTES:
      kind = 'RF64'
    block = max(1024, (self.chunk_length - self.overlap) * rate // self.sample_rate)
    stream = self._stream(rate, channels)
    start = time.perf_counter()
    with (
      audio.writing(out_path, rate, channels, format=kind, subtype=subtype) as write,
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
        audio.check_finite(x, source.name, frames)  # open_audio checked its files already
        write(stream.push(x))
        frames += x.shape[0]
        bar.update(round(x.shape[0] / rate, 3))
      write(stream.finish())
    wall = time.perf_counter() - start
    seconds = frames / rate
    self._noted(rate)
    return {'audio_seconds': seconds, 'wall_seconds': wall, 'real_time_factor': wall / seconds}

  def restore_tree(
    self,
    in_dir: audio.PathLike,
    out_dir: audio.PathLike,
    *,
    fmt: str = 'wav',
    progress: bool = True,
    workers: int | None = None,
  ) -> TreeResult:
    """Restores every audio file under ``in_dir`` into the same layout under ``out_dir``
    (see :func:`plan_tree`), with this one loaded model, ``workers`` files at a time (default
    :func:`default_workers`; the model's calls overlap each other and the file I/O). Outputs that
    exist are kept (each is renamed into place only when complete), so a re-run resumes; a
    file that fails is recorded in the result and the rest go on."""
    from tqdm import tqdm

    workers = resolve_workers(workers)
    plan = plan_tree(in_dir, out_dir, fmt)
    result = TreeResult()
    todo = []
    for src, dst in plan:
      if dst.exists():
        result.existing.append(os.fspath(dst))
      else:
        todo.append((src, dst))

    def restore(src: Path, dst: Path) -> dict[str, float]:
      dst.parent.mkdir(parents=True, exist_ok=True)
      return self.restore_file(src, dst, progress=False)

    start = time.perf_counter()
    with (
      tqdm(
        total=len(plan),
        initial=len(result.existing),
        unit='file',
        desc='restore',
        file=sys.stderr,
        disable=not progress,
      ) as bar,
      concurrent.futures.ThreadPoolExecutor(workers) as pool,
    ):
      futures = {pool.submit(restore, src, dst): (src, dst) for src, dst in todo}
      try:
        for future in concurrent.futures.as_completed(futures):
          src, dst = futures[future]
          try:
            stats = future.result()
          except (UserError, sf.SoundFileError) as e:  # this file only: unreadable, corrupt
            result.failed.append((os.fspath(src), ' '.join(str(e).split())))
          else:
            result.restored.append(os.fspath(dst))
            result.audio_seconds += stats['audio_seconds']
          result.wall_seconds = time.perf_counter() - start
          bar.set_postfix_str(
            f'{result.audio_seconds:.0f} s audio, '
            f'{result.audio_seconds / max(result.wall_seconds, 1e-9):.0f}x real time'
          )
          bar.update()
      except BaseException:  # Ctrl-C, a bug: files not started are dropped, finished ones kept
        pool.shutdown(cancel_futures=True)
        raise
    order = {os.fspath(p): i for i, pair in enumerate(plan) for p in pair}
    result.restored.sort(key=order.get)
    result.failed.sort(key=lambda f: order[f[0]])
    return result
