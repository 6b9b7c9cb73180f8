"""Deterministic diffusion samplers for the probability-flow ODE ``dx/dsigma = (x - D(x)) / sigma``.

``denoise_fn(x, sigma[B]) -> x0_hat`` is any EDM-space denoiser (see
:func:`restoration.objectives.diffusion.denoiser`, which also adapts VP-trained models).
Steps run under ``jax.lax.scan`` with ``steps`` static, so a sampler jits to one loop body.

- ``'euler'``: first order, one network call per step.
- ``'heun'``: EDM Algorithm 1 (no churn): an Euler predictor plus a trapezoidal corrector,
  except on the last step to ``sigma = 0`` where the ODE slope is undefined; ``2N - 1`` calls.
- ``'ddim'``: ``x' = x0_hat + (sigma' / sigma) (x - x0_hat)``, i.e. DDIM with eta = 0 written
  in sigma-space. Algebraically it *is* the Euler step (``x + (sigma' - sigma)(x - x0_hat) /
  sigma``), so the two differ only by rounding; it is kept in its own form because that is
  the form in which DDIM is usually stated and extended.

Restoration can start from the degraded input instead of pure noise (SDEdit): with
``x_start`` the trajectory begins at ``x_start + start_sigma * noise`` and the schedule runs
from ``start_sigma`` down, which needs fewer steps when the input is already close.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from restoration.objectives.diffusion import SIGMA_MAX, SIGMA_MIN, DenoiseFn

SAMPLERS = ('euler', 'heun', 'ddim')

Step = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]  # (x, sigma, sigma_next) -> x


def _check_sampler(sampler: str) -> None:
  if sampler not in SAMPLERS:
    raise ValueError(f'sampler {sampler!r} is unknown; expected one of {SAMPLERS}')


def _check_steps(steps: int) -> None:
  if not isinstance(steps, int) or steps < 1:
    raise ValueError(f'sampling steps must be a positive int, got {steps!r}')


def edm_sigmas(
  steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = 7.0
) -> jax.Array:
  """EDM time steps ``(sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``
  for i < N, then 0: ``steps + 1`` values. Large rho spends the steps at low noise."""
  _check_steps(steps)
  static = all(isinstance(v, (int, float)) for v in (sigma_min, sigma_max))
  if static and not 0 < sigma_min < sigma_max:
    raise ValueError(
      f'need 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}'
    )
  ramp = jnp.linspace(0.0, 1.0, steps)
  inv = 1.0 / rho
  sigmas = (sigma_max**inv + ramp * (sigma_min**inv - sigma_max**inv)) ** rho
  return jnp.concatenate([sigmas, jnp.zeros((1,), sigmas.dtype)])


def num_network_calls(sampler: str, steps: int) -> int:
  """Denoiser evaluations per sample: the cost that step counts should be compared by."""
  _check_sampler(sampler)
  _check_steps(steps)
  return 2 * steps - 1 if sampler == 'heun' else steps


def _steppers(denoise_fn: DenoiseFn, batch: int) -> dict[str, Step]:
  def denoise(x, sigma):
    return denoise_fn(x, jnp.full((batch,), sigma, x.dtype))

  def slope(x, sigma):
    return (x - denoise(x, sigma)) / sigma

  def euler(x, sigma, sigma_next):
    return x + (sigma_next - sigma) * slope(x, sigma)

  def ddim(x, sigma, sigma_next):
    x0_hat = denoise(x, sigma)
    return x0_hat + (sigma_next / sigma) * (x - x0_hat)

  def heun(x, sigma, sigma_next):
    d = slope(x, sigma)
    x_pred = x + (sigma_next - sigma) * d
    return x + (sigma_next - sigma) * 0.5 * (d + slope(x_pred, sigma_next))

  return {'euler': euler, 'ddim': ddim, 'heun': heun}


def _scan(step: Step, x: jax.Array, sigmas: jax.Array) -> jax.Array:
  """Apply ``step`` along consecutive pairs of ``sigmas``."""
  x, _ = jax.lax.scan(lambda x, s: (step(x, s[0], s[1]), None), x, (sigmas[:-1], sigmas[1:]))
  return x


def sample(
  denoise_fn: DenoiseFn,
  shape: Sequence[int],
  *,
  rng: jax.Array,
  steps: int,
  sampler: str = 'heun',
  sigma_min: float = SIGMA_MIN,
  sigma_max: float = SIGMA_MAX,
  rho: float = 7.0,
  x_start: jax.Array | None = None,
  start_sigma: float | None = None,
) -> jax.Array:
  """Integrate the probability-flow ODE from noise (or a noised ``x_start``) to ``sigma = 0``.

  ``shape`` is ``[B, ...]``; ``denoise_fn`` gets ``sigma`` as ``[B]``. ``steps`` and
  ``sampler`` must be static under jit. With ``x_start`` (same shape), ``start_sigma``
  replaces ``sigma_max``.
  """
  _check_sampler(sampler)
  shape = tuple(shape)
  if x_start is None:
    if start_sigma is not None:
      raise ValueError('sample: start_sigma is set but x_start is None; pass both or neither')
    x = sigma_max * jax.random.normal(rng, shape)
  else:
    if start_sigma is None:
      raise ValueError('sample: x_start needs start_sigma (the noise level to start from)')
    if x_start.shape != shape:
      raise ValueError(f'sample: x_start shape {x_start.shape} != shape {shape}')
    sigma_max = start_sigma
    x = x_start + start_sigma * jax.random.normal(rng, shape, x_start.dtype)
  sigmas = edm_sigmas(steps, sigma_min, sigma_max, rho)
  step = _steppers(denoise_fn, shape[0])
  if sampler != 'heun':
    return _scan(step[sampler], x, sigmas)
  x = _scan(step['heun'], x, sigmas[:-1])  # second-order steps down to sigma_min
  return step['euler'](x, sigmas[-2], sigmas[-1])  # last step to sigma = 0: Euler
