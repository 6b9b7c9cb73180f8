"""Adversarial losses the GAN methods compare, over multi-head critics.

A critic returns ``(logits, features)``: ``logits`` is a list with one map per sub-critic or
head (multi-resolution STFT, multi-period and projected discriminators all have several),
``features`` a list (per sub-critic) of lists (per layer) of activations. Every loss takes the
mean within a head and sums over heads, so adding a head adds a term instead of diluting
the others.

``ADVERSARIAL[name]`` gives ``(critic_loss_fn, generator_loss_fn)`` with signatures
``critic_loss_fn(real_logits, fake_logits) -> scalar`` and
``generator_loss_fn(fake_logits) -> scalar``.

Wasserstein training needs a (roughly) 1-Lipschitz critic: add ``gradient_penalty``
(WGAN-GP, weight ~10) to the critic loss and take ``n_critic`` (~5) critic updates per
generator update. That schedule lives in the training step (``restoration.train.steps``),
not here. ``r1_penalty`` is the usual regulariser for the other losses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

Logits = Sequence[jax.Array]
Features = Sequence[Sequence[jax.Array]]
CriticFn = Callable[[jax.Array], Logits]
CriticLoss = Callable[[Logits, Logits], jax.Array]
GeneratorLoss = Callable[[Logits], jax.Array]


def _sum_of_means(fn: Callable[[jax.Array], jax.Array], logits: Logits) -> jax.Array:
  """Mean of ``fn(head)`` within each head, summed over heads."""
  return sum(jnp.mean(fn(head)) for head in logits)


def _check_heads(real: Logits, fake: Logits) -> None:
  if len(real) != len(fake):
    raise ValueError(
      f'real_logits has {len(real)} heads but fake_logits has {len(fake)}; '
      'expected the same critic on both'
    )


def non_saturating_critic(real: Logits, fake: Logits) -> jax.Array:
  """Minimax critic loss ``-log sigmoid(real) - log(1 - sigmoid(fake))``."""
  _check_heads(real, fake)
  return _sum_of_means(lambda r: jax.nn.softplus(-r), real) + _sum_of_means(jax.nn.softplus, fake)


def non_saturating_generator(fake: Logits) -> jax.Array:
  """``-log sigmoid(fake)``: the non-saturating generator loss of Goodfellow et al."""
  return _sum_of_means(lambda f: jax.nn.softplus(-f), fake)


def hinge_critic(real: Logits, fake: Logits) -> jax.Array:
  _check_heads(real, fake)
  return _sum_of_means(lambda r: jax.nn.relu(1.0 - r), real) + _sum_of_means(
    lambda f: jax.nn.relu(1.0 + f), fake
  )


def linear_generator(fake: Logits) -> jax.Array:
  """``-fake``: the generator loss shared by hinge and Wasserstein GANs."""
  return _sum_of_means(lambda f: -f, fake)


def lsgan_critic(real: Logits, fake: Logits) -> jax.Array:
  _check_heads(real, fake)
  return _sum_of_means(lambda r: jnp.square(r - 1.0), real) + _sum_of_means(jnp.square, fake)


def lsgan_generator(fake: Logits) -> jax.Array:
  return _sum_of_means(lambda f: jnp.square(f - 1.0), fake)


def wasserstein_critic(real: Logits, fake: Logits) -> jax.Array:
  """``fake - real``; only meaningful with a Lipschitz constraint (``gradient_penalty``)."""
  _check_heads(real, fake)
  return _sum_of_means(lambda f: f, fake) - _sum_of_means(lambda r: r, real)


ADVERSARIAL: dict[str, tuple[CriticLoss, GeneratorLoss]] = {
  'non_saturating': (non_saturating_critic, non_saturating_generator),
  'hinge': (hinge_critic, linear_generator),
  'lsgan': (lsgan_critic, lsgan_generator),
  'wasserstein': (wasserstein_critic, linear_generator),
}


def get_adversarial(name: str) -> tuple[CriticLoss, GeneratorLoss]:
  """``(critic_loss_fn, generator_loss_fn)`` for a config's ``gan.loss`` name."""
  if name not in ADVERSARIAL:
    raise ValueError(f'adversarial loss {name!r} is unknown; expected one of {sorted(ADVERSARIAL)}')
  return ADVERSARIAL[name]


def _per_example_mean(head: jax.Array) -> jax.Array:
  return jnp.mean(head.reshape(head.shape[0], -1), axis=1)


def _per_example_sq_norm(grad: jax.Array) -> jax.Array:
  return jnp.sum(jnp.square(grad.reshape(grad.shape[0], -1)), axis=1)


def gradient_penalty(
  critic_fn: CriticFn, real: jax.Array, fake: jax.Array, rng: jax.Array
) -> jax.Array:
  """WGAN-GP: ``mean (||grad_x D(x_hat)||_2 - 1)^2`` on random interpolates.

  ``x_hat = eps * real + (1 - eps) * fake`` with one ``eps ~ U(0, 1)`` per example. ``D`` is
  the scalar the Wasserstein loss sees: per-example logit means summed over heads.
  ``rng`` is one key, or one key per example (``[B]``, e.g. ``train.steps.example_keys``).
  """
  if real.shape != fake.shape:
    raise ValueError(f'gradient_penalty: real shape {real.shape} != fake shape {fake.shape}')
  eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
  if jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key) and rng.shape == real.shape[:1]:
    # One key per example: the draw does not depend on how the batch is split over devices.
    eps = jax.vmap(lambda k: jax.random.uniform(k, (), real.dtype))(rng).reshape(eps_shape)
  else:
    eps = jax.random.uniform(rng, eps_shape, real.dtype)
  x_hat = eps * real + (1.0 - eps) * fake

  def critic_sum(x):
    # Examples are independent, so the gradient of the batch sum is the per-example gradient.
    return sum(jnp.sum(_per_example_mean(head)) for head in critic_fn(x))

  grad = jax.grad(critic_sum)(x_hat)
  norm = jnp.sqrt(_per_example_sq_norm(grad) + 1e-12)  # finite gradient at norm 0
  return jnp.mean(jnp.square(norm - 1.0))


def r1_penalty(critic_fn: CriticFn, real: jax.Array) -> jax.Array:
  """R1 (Mescheder et al. 2018): ``0.5 * mean ||grad_x D_h(real)||^2`` summed over heads."""
  logits, vjp_fn = jax.vjp(lambda x: list(critic_fn(x)), real)
  total = 0.0
  for h, head in enumerate(logits):
    # Cotangent selects head h; d(mean over a head's map)/d(logit) = 1 / map size.
    cotangent = [jnp.zeros_like(l) for l in logits]
    cotangent[h] = jnp.full_like(head, 1.0 / (head.size // head.shape[0]))
    (grad,) = vjp_fn(cotangent)
    total = total + 0.5 * jnp.mean(_per_example_sq_norm(grad))
  return total


def feature_matching(real_features: Features, fake_features: Features) -> jax.Array:
  """L1 between critic activations (MelGAN): mean per layer, averaged over layers, summed
  over sub-critics. Real activations are constants: this term trains only the generator."""
  if len(real_features) != len(fake_features):
    raise ValueError(
      f'feature_matching: {len(real_features)} real sub-critics but '
      f'{len(fake_features)} fake; expected the same critic on both'
    )
  total = 0.0
  for real_layers, fake_layers in zip(real_features, fake_features):
    if len(real_layers) != len(fake_layers) or not real_layers:
      raise ValueError(
        f'feature_matching: sub-critic layer counts differ or are empty '
        f'({len(real_layers)} real, {len(fake_layers)} fake)'
      )
    per_layer = [
      jnp.mean(jnp.abs(jax.lax.stop_gradient(r) - f)) for r, f in zip(real_layers, fake_layers)
    ]
    total = total + sum(per_layer) / len(per_layer)
  return total
