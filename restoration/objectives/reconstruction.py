"""Reconstruction losses shared by the GAN generator step and the regression baseline.

Waveforms are ``[B, samples]``; spectrograms use the model representation ``[B, T, F, 2]``
(compressed complex STFT, see :mod:`restoration.spectral`). Wave-domain terms are computed
on ``spectral.synthesis`` of the representation, so every method is judged on audio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from restoration import spectral

DEFAULT_RESOLUTIONS = ((512, 128), (1024, 256), (256, 64))
_POWER_FLOOR = 1e-7  # floor on |X|^2 for MR-STFT: finite gradients and logs at silent bins
_MEL_FLOOR = 1e-5  # floor on mel magnitude before the log (HiFi-GAN)
TERMS = ('mse', 'mrstft', 'mel')


def _check_same_shape(name: str, pred: jax.Array, target: jax.Array) -> None:
  if pred.shape != target.shape:
    raise ValueError(f'{name}: prediction shape {pred.shape} != target shape {target.shape}')


def _stft_magnitude(wave: jax.Array, n_fft: int, hop: int, power_floor: float) -> jax.Array:
  """``|STFT|`` with ``|X|^2`` floored: ``jnp.abs`` has a NaN gradient at 0."""
  spec = spectral.stft(wave, n_fft, hop)
  return jnp.sqrt(jnp.maximum(jnp.square(spec.real) + jnp.square(spec.imag), power_floor))


def spectral_convergence(pred_mag: jax.Array, target_mag: jax.Array) -> jax.Array:
  """``||S_t - S_p||_F / ||S_t||_F`` per example, averaged over the batch (so loud examples
  do not dominate quiet ones)."""
  axes = tuple(range(1, target_mag.ndim))
  num = jnp.sqrt(jnp.sum(jnp.square(target_mag - pred_mag), axis=axes))
  den = jnp.sqrt(jnp.sum(jnp.square(target_mag), axis=axes))
  return jnp.mean(num / den)


def multi_resolution_stft_loss(
  pred_wave: jax.Array,
  target_wave: jax.Array,
  resolutions: Sequence[tuple[int, int]] = DEFAULT_RESOLUTIONS,
) -> jax.Array:
  """Spectral convergence + log-magnitude L1, averaged over ``(n_fft, hop)`` resolutions.

  Several resolutions keep the generator from trading time for frequency accuracy
  (Parallel WaveGAN).
  """
  _check_same_shape('multi_resolution_stft_loss', pred_wave, target_wave)
  if not resolutions:
    raise ValueError(
      'multi_resolution_stft_loss: resolutions is empty; expected (n_fft, hop) pairs'
    )
  total = 0.0
  for n_fft, hop in resolutions:
    pred_mag = _stft_magnitude(pred_wave, n_fft, hop, _POWER_FLOOR)
    target_mag = _stft_magnitude(target_wave, n_fft, hop, _POWER_FLOOR)
    log_l1 = jnp.mean(jnp.abs(jnp.log(target_mag) - jnp.log(pred_mag)))
    total = total + spectral_convergence(pred_mag, target_mag) + log_l1
  return total / len(resolutions)


def log_mel(
  wave: jax.Array, *, sample_rate: int, n_fft: int = 1024, hop: int = 256, n_mels: int = 80
) -> jax.Array:
  """Log mel magnitude ``[B, frames, n_mels]`` (power 1, Slaney filterbank)."""
  fb = spectral.mel_filterbank(sample_rate, n_fft, n_mels)
  mel = _stft_magnitude(wave, n_fft, hop, _MEL_FLOOR**4) @ fb  # bin floor far below mel floor
  return jnp.log(jnp.maximum(mel, _MEL_FLOOR))


def mel_l1(
  pred_wave: jax.Array,
  target_wave: jax.Array,
  *,
  sample_rate: int,
  n_fft: int = 1024,
  hop: int = 256,
  n_mels: int = 80,
) -> jax.Array:
  """L1 between log mel spectrograms: perceptually weighted, phase-blind."""
  _check_same_shape('mel_l1', pred_wave, target_wave)
  kw = dict(sample_rate=sample_rate, n_fft=n_fft, hop=hop, n_mels=n_mels)
  return jnp.mean(jnp.abs(log_mel(target_wave, **kw) - log_mel(pred_wave, **kw)))


def complex_mse(pred_spec: jax.Array, target_spec: jax.Array) -> jax.Array:
  """Mean over ``[B, T, F]`` bins of the squared complex error ``|P - T|^2`` (real^2 + imag^2)."""
  _check_same_shape('complex_mse', pred_spec, target_spec)
  return jnp.mean(jnp.sum(jnp.square(pred_spec - target_spec), axis=-1))


def reconstruction_loss(
  pred_spec: jax.Array,
  target_spec: jax.Array,
  *,
  params: spectral.SpectralParams,
  length: int,
  weights: Mapping[str, float],
  sample_rate: int = 16000,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Weighted sum of the terms in ``weights`` (keys from ``TERMS``) -> ``(total, terms)``.

  Waves are synthesised once per call and only if a wave-domain term has non-zero weight;
  ``terms`` holds the unweighted value of every term with non-zero weight, for logging.
  """
  unknown = sorted(set(weights) - set(TERMS))
  if unknown:
    raise ValueError(
      f'reconstruction weights: unknown term(s) {unknown}; expected keys from {TERMS}'
    )
  _check_same_shape('reconstruction_loss', pred_spec, target_spec)
  active = {k: float(w) for k, w in weights.items() if w}
  terms: dict[str, jax.Array] = {}
  if 'mse' in active:
    terms['mse'] = complex_mse(pred_spec, target_spec)
  if {'mrstft', 'mel'} & set(active):
    pred_wave = spectral.synthesis(pred_spec, params, length)
    target_wave = spectral.synthesis(target_spec, params, length)
    if 'mrstft' in active:
      terms['mrstft'] = multi_resolution_stft_loss(pred_wave, target_wave)
    if 'mel' in active:
      terms['mel'] = mel_l1(pred_wave, target_wave, sample_rate=sample_rate)
  total = sum((active[k] * v for k, v in terms.items()), jnp.zeros((), pred_spec.dtype))
  return total, terms
