"""Spectral transforms in JAX: STFT/iSTFT, amplitude compression, mel filterbank.

The model representation is the amplitude-compressed complex STFT
``c(X) = beta * |X|**alpha * exp(i angle X)`` as two real channels, layout
``[batch, time, freq, 2]``. The tf.data pipeline computes the same STFT with
``tf.signal`` (see ``restoration.data.pipeline``); ``tests/test_spectral.py`` pins parity.

Framing convention (shared with tf.signal): the wave is zero-padded by ``n_fft // 2``
on both sides, frames start every ``hop`` samples, periodic Hann window, so a wave of
``n`` samples gives ``1 + n // hop`` frames and ``n_fft // 2 + 1`` bins.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

_EPS = 1e-8


@dataclasses.dataclass(frozen=True)
class SpectralParams:
  """STFT and compression parameters; hashable so it can be a static jit argument."""

  n_fft: int = 512
  hop: int = 128
  alpha: float = 0.5
  beta: float = 0.15

  @property
  def n_freq(self) -> int:
    return self.n_fft // 2 + 1

  def n_frames(self, n_samples: int) -> int:
    return 1 + n_samples // self.hop

  @classmethod
  def from_config(cls, cfg) -> SpectralParams:
    return cls(n_fft=int(cfg.n_fft), hop=int(cfg.hop), alpha=float(cfg.alpha), beta=float(cfg.beta))


@functools.cache
def hann_window(n_fft: int) -> np.ndarray:
  """Periodic Hann window (same as tf.signal.hann_window(periodic=True))."""
  n = np.arange(n_fft)
  return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)


def _frame_indices(n_frames: int, n_fft: int, hop: int) -> np.ndarray:
  return np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]


def stft(x: jax.Array, n_fft: int, hop: int) -> jax.Array:
  """Complex STFT of real ``x[..., samples]`` -> ``[..., frames, n_fft // 2 + 1]``."""
  n = x.shape[-1]
  pad = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
  xp = jnp.pad(x, pad)
  frames = xp[..., _frame_indices(1 + n // hop, n_fft, hop)] * hann_window(n_fft)
  return jnp.fft.rfft(frames, n=n_fft, axis=-1)


def istft(spec: jax.Array, n_fft: int, hop: int, length: int) -> jax.Array:
  """Inverse of :func:`stft` by windowed overlap-add; returns ``[..., length]``."""
  n_frames = spec.shape[-2]
  window = hann_window(n_fft)
  frames = jnp.fft.irfft(spec, n=n_fft, axis=-1) * window
  total = (n_frames - 1) * hop + n_fft
  idx = _frame_indices(n_frames, n_fft, hop).reshape(-1)
  batch_shape = frames.shape[:-2]
  out = jnp.zeros(batch_shape + (total,), frames.dtype)
  out = out.at[..., idx].add(frames.reshape(batch_shape + (-1,)))
  norm = np.zeros(total, np.float32)
  np.add.at(norm, idx, np.tile(window**2, n_frames))
  out = out / np.maximum(norm, 1e-6)
  start = n_fft // 2
  out = out[..., start : start + length]
  if out.shape[-1] < length:  # frames did not cover the tail (length > (n_frames-1)*hop)
    out = jnp.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, length - out.shape[-1])])
  return out


def compress(spec: jax.Array, alpha: float, beta: float) -> jax.Array:
  """``beta * |X|**alpha * exp(i angle X)``: evens out the dynamic range across frequency."""
  mag = jnp.abs(spec)
  return beta * jnp.power(mag + _EPS, alpha) * (spec / (mag + _EPS))


def decompress(spec: jax.Array, alpha: float, beta: float) -> jax.Array:
  """Inverse of :func:`compress`."""
  mag = jnp.abs(spec)
  return jnp.power(mag / beta + _EPS, 1.0 / alpha) * (spec / (mag + _EPS))


def to_channels(spec: jax.Array) -> jax.Array:
  """Complex ``[..., T, F]`` -> real ``[..., T, F, 2]`` (real, imag)."""
  return jnp.stack([spec.real, spec.imag], axis=-1)


def from_channels(x: jax.Array) -> jax.Array:
  """Real ``[..., T, F, 2]`` -> complex ``[..., T, F]``."""
  return jax.lax.complex(x[..., 0], x[..., 1])


def analysis(wave: jax.Array, p: SpectralParams) -> jax.Array:
  """Wave ``[..., samples]`` -> model representation ``[..., T, F, 2]``."""
  return to_channels(compress(stft(wave, p.n_fft, p.hop), p.alpha, p.beta))


def synthesis(x: jax.Array, p: SpectralParams, length: int) -> jax.Array:
  """Model representation ``[..., T, F, 2]`` -> wave ``[..., length]``."""
  return istft(decompress(from_channels(x), p.alpha, p.beta), p.n_fft, p.hop, length)


def bin_power(x: jax.Array, p: SpectralParams) -> jax.Array:
  """Mean power per bin over frames, up to a constant: ``[..., T, F, 2]`` -> ``[..., F]``."""
  # |c|**2 = beta**2 |X|**(2 alpha), so (|c|**2)**(1 / alpha) is the power up to a constant.
  return jnp.mean(jnp.power(jnp.sum(jnp.square(x), axis=-1), 1.0 / p.alpha), axis=-2)


def end_frames(n_fft: int, hop: int) -> int:
  """How many frames at each end of a centred STFT have a window that crosses the clip's end
  (zero padded there: an abrupt start or stop splatters over every bin, so spectra that judge
  where content ends leave them out)."""
  return -(-n_fft // (2 * hop))


def band_edge(
  x: jax.Array, p: SpectralParams, floor_db: float = 50.0, width: int = 7, gap: int = 10
) -> tuple[jax.Array, jax.Array]:
  """Where a clip's content ends and how steeply. ``x``: the model representation
  ``[..., T, F, 2]``. Returns ``(ratio, cliff_db)``, each ``[...]``: ``ratio`` is the highest
  bin whose mean power over the clip's frames lies within ``floor_db`` of its loudest bin's, as
  a fraction of Nyquist; ``cliff_db`` is how far ``width`` bins ending ``gap`` below that edge
  (past the window's leakage skirt) lie above the ``width`` bins just past it (0 when the edge
  is within a few bins of Nyquist). A codec's low-pass is a cliff (real recordings through MP3
  at 16-24 kbps, 16 kHz: ratio 0.64-0.73, mostly 14-50 dB); a recording's own band edge is a
  slope (a flute's at 0.75-0.81, speech's tail at 0.71: 1-6 dB)."""
  edge = end_frames(p.n_fft, p.hop)  # left out when the clip has others
  if x.shape[-3] > 2 * edge:
    x = x[..., edge : x.shape[-3] - edge, :, :]
  power = bin_power(x, p)
  bins = power.shape[-1]
  loud = power > jnp.max(power, axis=-1, keepdims=True) * 10 ** (-floor_db / 10)
  top = bins - 1 - jnp.argmax(loud[..., ::-1], axis=-1)
  cumulative = jnp.concatenate([jnp.zeros_like(power[..., :1]), jnp.cumsum(power, -1)], -1)

  silence = jnp.max(power, axis=-1) * 1e-12  # -120 dB: bins a codec zeroed stay finite

  def mean_db(first, stop):  # mean power of bins [first, stop), clipped to the spectrum
    first, stop = jnp.clip(first, 0, bins), jnp.clip(stop, 0, bins)
    total = jnp.take_along_axis(cumulative, stop[..., None], -1) - jnp.take_along_axis(
      cumulative, first[..., None], -1
    )
    return 10 * jnp.log10(total[..., 0] / jnp.maximum(stop - first, 1) + silence)

  above_exists = top + 2 + width <= bins
  cliff = jnp.where(
    above_exists,
    mean_db(top - gap - width, top - gap) - mean_db(top + 2, top + 2 + width),
    0.0,
  )
  return top / (bins - 1), cliff


def crossover(low: jax.Array, high: jax.Array, edge: jax.Array, width: int) -> jax.Array:
  """``low`` below ``edge`` (a fraction of Nyquist, ``[...]``), ``high`` from it on, through a
  raised cosine over the ``width`` bins that end at the edge; ``[..., T, F, 2]`` each. An edge
  of 0 is ``high`` throughout. Both share one STFT grid, so no comb or level step at the seam."""
  bins = low.shape[-2]
  start = edge * (bins - 1) - width
  w = jnp.clip((jnp.arange(bins) - start[..., None]) / width, 0.0, 1.0)
  w = (0.5 - 0.5 * jnp.cos(jnp.pi * w))[..., None, :, None]
  return low * (1 - w) + high * w


def continue_envelope(
  x: jax.Array,
  reference: jax.Array,
  edge: jax.Array,
  p: SpectralParams,
  gap: int = 10,
  headroom_db: float = 0.0,
) -> jax.Array:
  """``x`` with its band above ``edge`` (a fraction of Nyquist, ``[...]``; 0: unchanged) no
  louder, bin by bin over the clip, than ``reference``'s spectrum continued past the edge (a
  power law, dB against log frequency, fitted over the octave below it, ``gap`` bins short of
  the codec's transition), then ``headroom_db`` quieter still. What a model fills in keeps the
  recording's own slope; it may be quieter, never louder. ``[..., T, F, 2]`` each."""
  bins = x.shape[-2]
  f = jnp.arange(bins, dtype=jnp.float32)
  top = (edge * (bins - 1))[..., None]
  ref, own = bin_power(reference, p), bin_power(x, p)
  db = 10 * jnp.log10(ref + jnp.max(ref, axis=-1, keepdims=True) * 1e-12)
  octave = jnp.log2(jnp.maximum(f, 1.0))
  w = ((f >= top / 2) & (f <= top - gap)).astype(jnp.float32)
  n = jnp.maximum(jnp.sum(w, -1, keepdims=True), 1.0)
  mean_f, mean_db = (
    jnp.sum(w * octave, -1, keepdims=True) / n,
    jnp.sum(w * db, -1, keepdims=True) / n,
  )
  slope = jnp.sum(w * (octave - mean_f) * (db - mean_db), -1, keepdims=True) / jnp.maximum(
    jnp.sum(w * jnp.square(octave - mean_f), -1, keepdims=True), 1e-6
  )
  cap = jnp.power(10.0, (mean_db + slope * (octave - mean_f)) / 10)
  gain = jnp.minimum(1.0, cap / jnp.maximum(own, 1e-30)) * 10 ** (-headroom_db / 10)
  gain = jnp.where((f > top) & (top > 0), gain, 1.0)
  # Power scales as |c| ** (2 / alpha) in the compressed representation.
  return x * jnp.power(gain, p.alpha / 2)[..., None, :, None]


def magnitude(x: jax.Array) -> jax.Array:
  """Compressed magnitude ``[..., T, F]`` of the 2-channel representation."""
  return jnp.sqrt(jnp.sum(jnp.square(x), axis=-1) + _EPS)


@functools.cache
def mel_filterbank(
  sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
  """Slaney mel filterbank ``[n_fft // 2 + 1, n_mels]`` (librosa), for mel losses/metrics."""
  import librosa  # local: heavy import, only needed here

  fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
  return np.asarray(fb.T, np.float32)
