"""Conditional diffusion: noise processes, EDM preconditioning and the training loss.

Everything is expressed in the EDM parameterisation (Karras et al. 2022): a noisy sample is
``x = x0 + sigma * eps`` and a denoiser ``D(x; sigma) ~ E[x0 | x]``. The network is a callable
``net_fn(x_in, cond, c_noise) -> out`` where ``cond`` is the degraded spectrogram
``[B, T, F, 2]`` (passed through untouched: the model concatenates it to its input) and
``c_noise = log(sigma) / 4`` is the per-example noise-level input, the same for both schedules.

Two schedules share that network and the samplers in :mod:`restoration.objectives.sampling`:

- ``'edm'``: ``D = c_skip x + c_out F(c_in x; cond, c_noise)``, log-normal ``sigma`` and the
  weighting ``lambda(sigma) = 1 / c_out^2`` (unit-variance effective target).
- ``'vp_cosine'``: ``x_t = alpha x0 + sigma_t eps`` with ``alpha = cos(pi t / 2)``,
  ``sigma_t = sin(pi t / 2)``, and the network predicts ``eps``, ``x0`` or ``v``
  (``v = alpha eps - sigma_t x0``) with a plain MSE on that target. ``x_t / alpha`` is an EDM
  sample at ``sigma = sigma_t / alpha``, which is how :func:`denoiser` lets EDM samplers run a
  VP-trained model. (The v-loss equals the EDM x0-loss weighted as for ``sigma_data = 1``.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

SIGMA_MIN = 0.002  # noise range of the process (EDM defaults), shared with the samplers
SIGMA_MAX = 80.0
SCHEDULES = ('edm', 'vp_cosine')
VP_TARGETS = ('eps', 'x0', 'v')
SPACES = ('clean', 'residual')

NetFn = Callable[[jax.Array, Any, jax.Array], jax.Array]  # (x_in, cond, c_noise[B]) -> out
DenoiseFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x, sigma[B]) -> x0_hat


def _expand(v: jax.Array, x: jax.Array) -> jax.Array:
  """Right-pad ``v``'s shape with 1s so a per-example ``[B]`` value broadcasts against ``x``."""
  v = jnp.asarray(v)
  return v.reshape(v.shape + (1,) * (x.ndim - v.ndim))


def _per_example_mean(x: jax.Array) -> jax.Array:
  return jnp.mean(x.reshape(x.shape[0], -1), axis=1)


def sample_sigma_lognormal(
  rng: jax.Array, shape: tuple[int, ...], p_mean: float = -1.2, p_std: float = 1.2
) -> jax.Array:
  """``ln sigma ~ N(p_mean, p_std^2)``: EDM's training noise distribution."""
  return jnp.exp(p_mean + p_std * jax.random.normal(rng, shape))


def noise_conditioning(sigma: jax.Array) -> jax.Array:
  """``c_noise = log(sigma) / 4``: the network's noise-level input (EDM)."""
  return 0.25 * jnp.log(sigma)


def edm_preconditioning(
  sigma: jax.Array, sigma_data: float
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """``(c_skip, c_out, c_in, c_noise)``: unit-variance network input and target at every
  noise level, and ``c_skip`` chosen to minimise the magnitude of ``c_out`` (EDM Table 1)."""
  total = jnp.square(sigma) + sigma_data**2
  c_skip = sigma_data**2 / total
  c_out = sigma * sigma_data / jnp.sqrt(total)
  c_in = 1.0 / jnp.sqrt(total)
  return c_skip, c_out, c_in, noise_conditioning(sigma)


def edm_loss_weight(sigma: jax.Array, sigma_data: float) -> jax.Array:
  """``lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 = 1 / c_out^2``."""
  return (jnp.square(sigma) + sigma_data**2) / jnp.square(sigma * sigma_data)


def edm_denoise(
  net_fn: NetFn, x_noisy: jax.Array, sigma: jax.Array, cond: Any, sigma_data: float
) -> jax.Array:
  """``D(x; sigma) = c_skip x + c_out F(c_in x; cond, c_noise)`` for per-example ``sigma[B]``."""
  c_skip, c_out, c_in, c_noise = edm_preconditioning(sigma, sigma_data)
  out = net_fn(_expand(c_in, x_noisy) * x_noisy, cond, c_noise)
  return _expand(c_skip, x_noisy) * x_noisy + _expand(c_out, x_noisy) * out


def _check_space(space: str) -> None:
  if space not in SPACES:
    raise ValueError(f'diffusion space {space!r} is unknown; expected one of {SPACES}')


def to_process(
  clean: jax.Array, degraded: jax.Array, space: str, residual_scale: float
) -> jax.Array:
  """The variable the process diffuses: the clean spectrogram, or (``'residual'``) what the
  codec removed, ``(clean - degraded) / residual_scale``.

  The residual is the same parameterisation as the regression/GAN U-Net (``degraded + delta``):
  an untrained denoiser then predicts "no change" instead of silence, and the process spends
  its capacity on the missing detail, not on re-creating what the input already carries.
  ``residual_scale`` brings the residual to about ``sigma_data`` (EDM's unit-scale defaults).
  """
  _check_space(space)
  return clean if space == 'clean' else (clean - degraded) / residual_scale


def from_process(x: jax.Array, degraded: jax.Array, space: str, residual_scale: float) -> jax.Array:
  """Inverse of :func:`to_process`: a spectrogram from a sample of the process variable."""
  _check_space(space)
  return x if space == 'clean' else degraded + residual_scale * x


def cosine_alpha_sigma(t: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Variance-preserving cosine schedule: ``(cos(pi t / 2), sin(pi t / 2))`` for t in [0, 1]."""
  return jnp.cos(0.5 * math.pi * t), jnp.sin(0.5 * math.pi * t)


def _cosine_t(sigma_edm: float) -> float:
  """Inverse of ``sigma_edm = tan(pi t / 2)``: maps the EDM noise range onto t."""
  return 2.0 / math.pi * math.atan(sigma_edm)


def _check_vp_target(kind: str) -> None:
  if kind not in VP_TARGETS:
    raise ValueError(f'diffusion target {kind!r} is unknown; expected one of {VP_TARGETS}')


def vp_target(
  kind: str, x0: jax.Array, eps: jax.Array, alpha: jax.Array, sigma: jax.Array
) -> jax.Array:
  """Regression target of a VP model predicting ``kind`` (``alpha``/``sigma`` per example)."""
  _check_vp_target(kind)
  if kind == 'eps':
    return eps
  if kind == 'x0':
    return x0
  return _expand(alpha, x0) * eps - _expand(sigma, x0) * x0


def vp_denoised(
  kind: str, pred: jax.Array, x_t: jax.Array, alpha: jax.Array, sigma: jax.Array
) -> jax.Array:
  """The ``x0`` estimate implied by a VP prediction of ``kind`` (needs alpha^2 + sigma^2 = 1)."""
  _check_vp_target(kind)
  alpha, sigma = _expand(alpha, x_t), _expand(sigma, x_t)
  if kind == 'eps':
    return (x_t - sigma * pred) / alpha
  if kind == 'x0':
    return pred
  return alpha * x_t - sigma * pred


def _check_schedule(schedule: str, target: str) -> None:
  if schedule not in SCHEDULES:
    raise ValueError(f'diffusion schedule {schedule!r} is unknown; expected one of {SCHEDULES}')
  if schedule == 'edm' and target != 'x0':
    raise ValueError(
      f"diffusion target {target!r} needs schedule 'vp_cosine'; the 'edm' "
      "schedule trains the preconditioned denoiser (target 'x0')"
    )
  _check_vp_target(target)


def _vp_predict(
  net_fn: NetFn, x_t: jax.Array, cond: Any, alpha: jax.Array, sigma: jax.Array
) -> jax.Array:
  """Run a VP network; its noise input is that of the equivalent EDM level ``sigma / alpha``."""
  return net_fn(x_t, cond, noise_conditioning(sigma / alpha))


def denoiser(
  net_fn: NetFn, cond: Any, *, schedule: str = 'edm', target: str = 'x0', sigma_data: float = 0.5
) -> DenoiseFn:
  """``(x, sigma[B]) -> x0_hat`` in EDM sigma-space for either schedule, for the samplers."""
  _check_schedule(schedule, target)
  if schedule == 'edm':
    return lambda x, sigma: edm_denoise(net_fn, x, sigma, cond, sigma_data)

  def vp_denoise(x: jax.Array, sigma: jax.Array) -> jax.Array:
    # x = x0 + sigma eps  ->  x_t = alpha x with alpha = 1 / sqrt(1 + sigma^2).
    alpha = jax.lax.rsqrt(1.0 + jnp.square(sigma))
    x_t = _expand(alpha, x) * x
    pred = _vp_predict(net_fn, x_t, cond, alpha, sigma * alpha)
    return vp_denoised(target, pred, x_t, alpha, sigma * alpha)

  return vp_denoise


def diffusion_loss(
  keys: jax.Array,
  net_fn: NetFn,
  x0: jax.Array,
  cond: Any,
  *,
  schedule: str = 'edm',
  target: str = 'x0',
  sigma_data: float = 0.5,
  p_mean: float = -1.2,
  p_std: float = 1.2,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Denoising loss on clean ``x0`` ``[B, ...]`` -> ``(loss, metrics)``, its noise drawn from
  ``keys``, one per example (so the draw does not depend on how the batch is split).

  ``'edm'``: ``E[lambda(sigma) ||D(x0 + sigma eps) - x0||^2]`` with log-normal sigma
  (``p_mean``, ``p_std``). ``'vp_cosine'``: ``E ||pred - target||^2`` with t uniform over the
  EDM noise range [SIGMA_MIN, SIGMA_MAX]. Squared errors are means over each example.
  ``metrics['x0_mse']`` is the unweighted denoising error, comparable across schedules.
  """
  _check_schedule(schedule, target)
  k_level, k_eps = jax.vmap(jax.random.split, out_axes=1)(keys)
  eps = jax.vmap(lambda k: jax.random.normal(k, x0.shape[1:], x0.dtype))(k_eps)
  if schedule == 'edm':
    sigma = jax.vmap(lambda k: sample_sigma_lognormal(k, (), p_mean, p_std))(k_level)
    x0_hat = edm_denoise(net_fn, x0 + _expand(sigma, x0) * eps, sigma, cond, sigma_data)
    per_example = edm_loss_weight(sigma, sigma_data) * _per_example_mean(jnp.square(x0_hat - x0))
  else:
    lo, hi = _cosine_t(SIGMA_MIN), _cosine_t(SIGMA_MAX)
    t = jax.vmap(lambda k: jax.random.uniform(k, minval=lo, maxval=hi))(k_level)
    alpha, sigma = cosine_alpha_sigma(t)
    x_t = _expand(alpha, x0) * x0 + _expand(sigma, x0) * eps
    pred = _vp_predict(net_fn, x_t, cond, alpha, sigma)
    per_example = _per_example_mean(jnp.square(pred - vp_target(target, x0, eps, alpha, sigma)))
    x0_hat = vp_denoised(target, pred, x_t, alpha, sigma)
  loss = jnp.mean(per_example)
  return loss, {'loss': loss, 'x0_mse': jnp.mean(jnp.square(x0_hat - x0))}
