"""Backbone, critics and frozen feature networks: shapes, init behaviour, frozen weights."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from restoration.models import discriminators, features, unet
from restoration.spectral import SpectralParams

F = 257


@pytest.fixture(autouse=True)
def _fast_rng_compiles():
  """XLA:CPU takes seconds (up to minutes) to compile partitionable threefry for N-d shapes,
  which every parameter initialiser hits; the classic algorithm compiles in ~0.3 s."""
  with jax.threefry_partitionable(False):
    yield


@nnx.jit
def _apply(model, x, kwargs):
  return model(x, **kwargs)


def _call(model, x, **kwargs):
  """Jitted ``model(x, **kwargs)``: eager nnx calls would compile every op separately."""
  return _apply(model, x, kwargs)


def _spec(key: int, t: int, c: int = 2, batch: int = 2) -> jax.Array:
  return 0.1 * jax.random.normal(jax.random.key(key), (batch, t, F, c))


def _randomize_output_layer(model: unet.UNet) -> None:
  """Make the zero-initialised band-merge layer nonzero so conditioning can show."""
  k = model.band_merge.kernel
  k[...] = 0.1 * jax.random.normal(jax.random.key(99), k.shape)


def test_unet_is_identity_at_init_for_any_length():
  model = unet.UNet(**unet.UNET_PRESETS['smoke'], rngs=nnx.Rngs(0))
  for t in (37, 20):  # odd, and a different length with the same model
    x = _spec(t, t)
    y = _call(model, x)
    assert y.shape == (2, t, F, 2) and y.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x))


def test_unet_bfloat16_compute_keeps_float32_params_and_output():
  model = unet.UNet(**unet.UNET_PRESETS['smoke'], dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  _randomize_output_layer(model)
  x = _spec(0, 13)
  y = _call(model, x)
  assert y.dtype == jnp.float32 and y.shape == x.shape and bool(jnp.all(jnp.isfinite(y)))
  assert not np.array_equal(np.asarray(y), np.asarray(x))
  assert {p.dtype for p in jax.tree.leaves(nnx.state(model, nnx.Param))} == {jnp.dtype('float32')}


@pytest.fixture(scope='module')
def conditioned_unet():
  """A denoiser-like model (cond + noise level, residual=False) with noise injection too."""
  with jax.threefry_partitionable(False):
    return unet.UNet(
      **unet.UNET_PRESETS['smoke'],
      cond_channels=2,
      noise_channels=1,
      noise_embedding=True,
      residual=False,
      rngs=nnx.Rngs(0, noise=1),
    )


def test_unet_noise_level_embedding_conditions_the_output(conditioned_unet):
  model = nnx.clone(conditioned_unet)
  x, cond, noise = _spec(1, 21), _spec(2, 21), _spec(3, 21, c=1)
  y0 = _call(model, x, cond=cond, noise=noise, noise_level=jnp.ones(2))
  np.testing.assert_array_equal(np.asarray(y0), 0.0)  # zero-initialised output layer
  _randomize_output_layer(model)
  low = _call(model, x, cond=cond, noise=noise, noise_level=jnp.full((2,), -1.0))
  high = _call(model, x, cond=cond, noise=noise, noise_level=jnp.full((2,), 2.0))
  assert low.shape == (2, 21, F, 2)
  assert float(jnp.max(jnp.abs(low - high))) > 1e-4
  with pytest.raises(ValueError, match='noise_level'):
    _call(model, x, cond=cond, noise=noise)
  with pytest.raises(ValueError, match='cond'):
    _call(model, x, noise=noise, noise_level=jnp.ones(2))


def test_unet_noise_injection_from_argument_or_stream(conditioned_unet):
  model = nnx.clone(conditioned_unet)
  _randomize_output_layer(model)
  x, cond, level = _spec(1, 21), _spec(2, 21), jnp.ones(2)
  n1, n2 = _spec(4, 21, c=1), _spec(5, 21, c=1)
  y1 = _call(model, x, cond=cond, noise=n1, noise_level=level)
  np.testing.assert_array_equal(
    np.asarray(y1), np.asarray(_call(model, x, cond=cond, noise=n1, noise_level=level))
  )
  y2 = _call(model, x, cond=cond, noise=n2, noise_level=level)
  assert float(jnp.max(jnp.abs(y1 - y2))) > 1e-4
  drawn = [_call(model, x, cond=cond, noise_level=level) for _ in range(2)]
  assert float(jnp.max(jnp.abs(drawn[0] - drawn[1]))) > 1e-4  # fresh draws from the stream
  with pytest.raises(ValueError, match='noise'):
    _call(model, x, cond=cond, noise=_spec(4, 21, c=2), noise_level=level)


def test_unet_presets_parameter_counts_and_demo_compute_budget():
  models = {
    name: nnx.eval_shape(lambda: unet.UNet(**kw, rngs=nnx.Rngs(0)))
    for name, kw in unet.UNET_PRESETS.items()
  }
  counts = {name: unet.count_trainable_params(m) for name, m in models.items()}
  print('UNet parameters:', counts)
  assert counts['smoke'] < counts['demo'] < counts['base'] < counts['large']
  demo = models['demo']
  one_second = SpectralParams().n_frames(16_000)
  gflops = unet.forward_flops(demo, jnp.zeros((1, one_second, F, 2))) / 1e9
  print(f'UNet demo: {gflops:.3f} GFLOP per audio second')
  assert 0.1 < gflops <= 0.5  # docs/DESIGN.md compute budget for the CPU demo


@pytest.fixture(scope='module')
def projected_critic():
  with jax.threefry_partitionable(False):
    return discriminators.make_critic(
      'projected', 'smoke', spectral=SpectralParams(), rngs=nnx.Rngs(0)
    )


def _check_critic_output(logits, feats, expected_heads):
  assert len(logits) == len(feats) == expected_heads
  for logit, feat in zip(logits, feats):
    assert logit.shape[0] == 2 and logit.shape[-1] == 1 and bool(jnp.all(jnp.isfinite(logit)))
    assert feat and all(f.shape[0] == 2 and bool(jnp.all(jnp.isfinite(f))) for f in feat)


def test_wave_critics_return_one_logits_map_and_feature_list_per_sub_critic():
  critic = discriminators.make_critic(
    'mrstft+mpd', 'smoke', spectral=SpectralParams(), rngs=nnx.Rngs(0)
  )
  assert critic.takes == 'wave'
  stft_critic, period_critic = critic.critics
  n_stft, n_period = len(stft_critic.windows), len(period_critic.subs)
  logits, feats = _call(critic, jax.random.normal(jax.random.key(0), (2, 4001)))
  _check_critic_output(logits, feats, n_stft + n_period)
  # STFT logits are (time, freq) maps; period logits keep one column per period.
  assert [l.shape[2] for l in logits[n_stft:]] == [s.period for s in period_critic.subs]

  magnitude = discriminators.make_critic(
    'mrstft',
    'smoke',
    spectral=SpectralParams(),
    rngs=nnx.Rngs(0),
    options={'mrstft': {'input_kind': 'magnitude', 'windows': (128,)}},
  )
  _check_critic_output(*_call(magnitude, jax.random.normal(jax.random.key(1), (2, 999))), 1)


def test_projected_critic_returns_one_logits_map_per_scale(projected_critic):
  assert projected_critic.takes == 'spec'
  _check_critic_output(*_call(projected_critic, _spec(0, 37)), 4)


def test_make_critic_rejects_bad_arguments():
  p = SpectralParams()
  with pytest.raises(ValueError, match='kind'):
    discriminators.make_critic('patchgan', 'smoke', spectral=p, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match='size'):
    discriminators.make_critic('mpd', 'huge', spectral=p, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match='input_kind'):
    discriminators.make_critic(
      'mrstft', 'smoke', spectral=p, rngs=nnx.Rngs(0), options={'mrstft': {'input_kind': 'phase'}}
    )
  with pytest.raises(ValueError, match='same input'):
    discriminators.CombinedCritic(
      [
        discriminators.make_critic('mpd', 'smoke', spectral=p, rngs=nnx.Rngs(0)),
        discriminators.make_critic('projected', 'smoke', spectral=p, rngs=nnx.Rngs(0)),
      ]
    )


def _paths(state) -> set:
  return {path for path, _ in nnx.to_flat_state(state)}


def _critic_loss(critic, x):
  logits, _ = critic(x)
  return sum(jnp.mean(jnp.square(l - 1.0)) for l in logits)


@nnx.jit
def _param_and_input_grads(critic, x):
  return nnx.grad(_critic_loss, argnums=(0, 1))(critic, x)


@nnx.jit
def _grads_wrt_all_variables(critic, x):
  return nnx.grad(_critic_loss, argnums=nnx.DiffState(0, ...))(critic, x)


@nnx.jit
def _update(optimizer, critic, grads):
  optimizer.update(critic, grads)


def test_projected_critic_frozen_weights_get_no_gradient_and_no_update(projected_critic):
  critic = nnx.clone(projected_critic)
  frozen_before = jax.tree.map(np.array, nnx.to_pure_dict(nnx.state(critic, features.Frozen)))
  params_before = jax.tree.map(np.array, nnx.to_pure_dict(nnx.state(critic, nnx.Param)))
  frozen_paths = _paths(nnx.state(critic, features.Frozen))
  assert frozen_paths and not frozen_paths & _paths(nnx.state(critic, nnx.Param))
  x = _spec(7, 19)

  grads, x_grad = _param_and_input_grads(critic, x)
  assert not frozen_paths & _paths(grads)
  assert float(jnp.max(jnp.abs(x_grad))) > 0.0  # generator gradients flow through frozen nets
  frozen_grads = nnx.state(_grads_wrt_all_variables(critic, x), features.Frozen)
  assert jax.tree.leaves(frozen_grads)
  assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree.leaves(frozen_grads))

  optimizer = nnx.Optimizer(critic, optax.adam(1e-2), wrt=nnx.Param)
  _update(optimizer, critic, grads)
  jax.tree.map(
    np.testing.assert_array_equal,
    frozen_before,
    nnx.to_pure_dict(nnx.state(critic, features.Frozen)),
  )
  changed = jax.tree.map(
    lambda a, b: not np.array_equal(a, b),
    params_before,
    nnx.to_pure_dict(nnx.state(critic, nnx.Param)),
  )
  assert all(jax.tree.leaves(changed))


def test_projected_critic_accepts_a_loaded_feature_net():
  trunk = features.random_feature_net('smoke', nnx.Rngs(5))
  critic = discriminators.make_critic(
    'projected', 'smoke', spectral=SpectralParams(), feature_net=trunk, rngs=nnx.Rngs(0)
  )
  # The critic froze a copy: the classifier's own trunk is still trainable.
  assert nnx.state(trunk, nnx.Param) and not nnx.state(trunk, features.Frozen)
  frozen = nnx.to_pure_dict(nnx.state(critic.features, features.Frozen))
  jax.tree.map(np.testing.assert_array_equal, frozen, nnx.to_pure_dict(nnx.state(trunk)))
