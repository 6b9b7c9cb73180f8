"""The data-to-data bridge: both ends noise-free, one step is one regression pass, the last step
returns the network's estimate, and an exact predictor is recovered at every step count."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from restoration.objectives import bridge

SHAPE = (3, 5, 7, 2)


def test_interpolant_is_noise_free_at_both_ends_and_noisiest_in_the_middle():
  x1 = jax.random.normal(jax.random.key(0), SHAPE)
  eps = jax.random.normal(jax.random.key(1), SHAPE)
  t = jnp.array([0.0, 1.0, 0.5])
  x = bridge.interpolate(x1, t, eps, sigma_max=2.0)
  np.testing.assert_allclose(x[0], 0.0)
  np.testing.assert_allclose(x[1], x1[1], rtol=1e-6)
  np.testing.assert_allclose(x[2], 0.5 * x1[2] + 1.0 * eps[2], rtol=1e-6)


@pytest.mark.parametrize('steps', [1, 2, 4, 8])
def test_an_exact_predictor_is_recovered_without_noise(steps):
  x1 = jax.random.normal(jax.random.key(0), SHAPE)
  out = bridge.sample(lambda x, t: x1, SHAPE, rng=jax.random.key(2), steps=steps, sigma_max=1.0)
  np.testing.assert_allclose(out, x1, rtol=1e-5, atol=1e-5)


def test_one_step_is_one_pass_from_the_input_at_t0_and_steps_count_calls():
  calls = []

  def predict(x, t):
    calls.append(1)
    return x + 3.0 + t[:, None, None, None]  # depends on its input and on t

  out = bridge.sample(predict, SHAPE, rng=jax.random.key(0), steps=1, sigma_max=1.0)
  np.testing.assert_allclose(out, 3.0)  # predict(0, t=0)
  # fori_loop traces the body once; the result still differs per step count.
  two = bridge.sample(predict, SHAPE, rng=jax.random.key(0), steps=2, sigma_max=1.0)
  assert not np.allclose(two, out)


def test_training_times_mix_the_start_and_uniform_draws():
  t = bridge.sample_t(jax.random.split(jax.random.key(0), 4000), p_start=0.25)
  assert 0.2 < float(jnp.mean(t == 0)) < 0.3
  assert float(t.min()) >= 0 and float(t.max()) < 1
  with pytest.raises(ValueError, match='positive int'):
    bridge.sample(lambda x, t: x, SHAPE, rng=jax.random.key(0), steps=0, sigma_max=1.0)
