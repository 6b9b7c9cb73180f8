"""A data-to-data Brownian bridge with a data-prediction network, sampled in a few steps.

The process runs from the degraded input (``t = 0``) to the clean target (``t = 1``) in the
space of :func:`restoration.objectives.diffusion.to_process` (the scaled codec residual by
default, where the degraded input is exactly 0)::

  x_t = t * x1 + sigma(t) * eps,   sigma(t) = sigma_max * sqrt(t * (1 - t)),

so both ends are noise-free: sampling starts at the input itself and the last step returns the
model's clean estimate, with no residual noise floor. The network ``D(x_t, t; degraded)``
predicts ``x1`` (data prediction, as in the Schroedinger-bridge enhancement of Jukic et al.
2024); a DDIM-like step keeps the implied noise and moves to ``t'``::

  x_t' = t' * D + sigma(t') * (x_t - t * D) / sigma(t).

One step (0 -> 1) is one regression pass ``D(0, 0)``; more steps let later calls see a noisy
partial estimate and add detail. The first step, where ``sigma(0) = 0`` carries no noise,
draws fresh noise instead.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

# ``predict(x_t, t[B]) -> x1_hat``: the data-prediction network with its conditioning bound.
PredictFn = Callable[[jax.Array, jax.Array], jax.Array]


def _expand(v: jax.Array, x: jax.Array) -> jax.Array:
  return v.reshape(v.shape + (1,) * (x.ndim - v.ndim))


def sigma(t: jax.Array, sigma_max: float) -> jax.Array:
  """The bridge's noise level: 0 at both ends, ``sigma_max / 2`` at ``t = 1/2``."""
  return sigma_max * jnp.sqrt(jnp.clip(t * (1 - t), 0.0, None))


def sample_t(keys: jax.Array, p_start: float) -> jax.Array:
  """Training times, one per example key (``[B]``): ``t = 0`` (the one-step case, a plain
  regression pass) with probability ``p_start``, else uniform in [0, 1)."""

  def one(key):
    k_zero, k_t = jax.random.split(key)
    return jnp.where(jax.random.uniform(k_zero) < p_start, 0.0, jax.random.uniform(k_t))

  return jax.vmap(one)(keys)


def training_input(
  keys: jax.Array, x1: jax.Array, p_start: float, sigma_max: float
) -> tuple[jax.Array, jax.Array]:
  """``(t, x_t)`` for a training step on ``x1 [B, ...]``, drawn from one key per example."""
  k_t, k_eps = jax.vmap(jax.random.split, out_axes=1)(keys)
  t = sample_t(k_t, p_start)
  eps = jax.vmap(lambda k: jax.random.normal(k, x1.shape[1:]))(k_eps)
  return t, interpolate(x1, t, eps, sigma_max)


def interpolate(x1: jax.Array, t: jax.Array, eps: jax.Array, sigma_max: float) -> jax.Array:
  """``x_t`` on the bridge from 0 (the degraded input) to ``x1``."""
  return _expand(t, x1) * x1 + _expand(sigma(t, sigma_max), x1) * eps


def sample(
  predict: PredictFn, shape: tuple[int, ...], *, rng: jax.Array, steps: int, sigma_max: float
) -> jax.Array:
  """Integrates the bridge from 0 to 1 in ``steps`` uniform steps (``steps`` network calls)."""
  if not isinstance(steps, int) or steps < 1:
    raise ValueError(f'bridge sampling steps must be a positive int, got {steps!r}')
  batch = shape[0]
  ts = jnp.linspace(0.0, 1.0, steps + 1)

  def body(k, x):
    t, t_next = ts[k], ts[k + 1]
    x1 = predict(x, jnp.full((batch,), t))
    s = sigma(t, sigma_max)
    fresh = jax.random.normal(jax.random.fold_in(rng, k), shape)
    eps = jnp.where(s > 0, (x - t * x1) / jnp.maximum(s, 1e-12), fresh)
    return t_next * x1 + sigma(t_next, sigma_max) * eps

  return jax.lax.fori_loop(0, steps, body, jnp.zeros(shape))
