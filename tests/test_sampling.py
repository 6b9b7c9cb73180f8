"""Samplers against the exact denoiser of Gaussian data, whose ODE flow is known."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from restoration.objectives import sampling

MU, S = 0.7, 0.4
SHAPE = (4096, 8)  # 4096 samples of 8 independent dimensions


def gaussian_denoiser(x, sigma):
  """``E[x0 | x0 + sigma eps]`` for ``x0 ~ N(MU, S^2)`` per dimension."""
  sigma = sigma[:, None]
  return MU + S**2 / (S**2 + sigma**2) * (x - MU)


@functools.partial(jax.jit, static_argnames=('sampler', 'steps', 'start_sigma'))
def run(rng, *, sampler, steps, x_start=None, start_sigma=None):
  return sampling.sample(
    gaussian_denoiser,
    SHAPE,
    rng=rng,
    steps=steps,
    sampler=sampler,
    x_start=x_start,
    start_sigma=start_sigma,
  )


def errors(x):
  """(mean error, relative std error) of samples against N(MU, S^2)."""
  x = np.asarray(x)
  return x.mean() - MU, x.std() / S - 1.0


# Euler/DDIM are first order: at 32 steps their std is ~9% low, at 128 steps ~2%.
@pytest.mark.parametrize('sampler, steps', [('heun', 32), ('euler', 128), ('ddim', 128)])
def test_sampler_reproduces_gaussian(sampler, steps):
  mean_err, std_err = errors(run(jax.random.key(0), sampler=sampler, steps=steps))
  assert abs(mean_err) < 0.03 and abs(std_err) < 0.05, (mean_err, std_err)


def test_ddim_is_euler_in_sigma_space():
  rng = jax.random.key(1)
  ddim, euler = (run(rng, sampler=s, steps=16) for s in ('ddim', 'euler'))
  np.testing.assert_allclose(ddim, euler, rtol=1e-4, atol=1e-4)


def test_heun_beats_euler_at_equal_network_calls():
  heun_steps = 32
  calls = sampling.num_network_calls('heun', heun_steps)
  assert calls == 2 * heun_steps - 1 == sampling.num_network_calls('euler', calls)
  rng = jax.random.key(2)
  _, heun_err = errors(run(rng, sampler='heun', steps=heun_steps))
  _, euler_err = errors(run(rng, sampler='euler', steps=calls))
  assert abs(heun_err) < 0.5 * abs(euler_err), (heun_err, euler_err)


def test_start_from_noised_input_needs_few_steps():
  # x_start ~ data plus start_sigma noise is exactly the sigma = start_sigma marginal.
  k_data, k_noise = jax.random.split(jax.random.key(3))
  x_start = MU + S * jax.random.normal(k_data, SHAPE)
  x = run(k_noise, sampler='heun', steps=8, x_start=x_start, start_sigma=0.5)
  mean_err, std_err = errors(x)
  assert abs(mean_err) < 0.03 and abs(std_err) < 0.05, (mean_err, std_err)
  # The same 8 steps from pure noise are far off: starting close is what saves the steps.
  assert abs(errors(run(k_noise, sampler='heun', steps=8))[1]) > 0.2


@pytest.mark.parametrize('sampler', sampling.SAMPLERS)
def test_sampler_is_one_scan(sampler):
  jaxpr = jax.make_jaxpr(
    lambda rng: sampling.sample(gaussian_denoiser, (2, 3), rng=rng, steps=5, sampler=sampler)
  )(jax.random.key(0))
  assert 'scan' in str(jaxpr)


def test_edm_sigmas_schedule():
  sigmas = np.asarray(sampling.edm_sigmas(6, sigma_min=0.01, sigma_max=10.0, rho=7.0))
  assert sigmas.shape == (7,) and sigmas[-1] == 0.0
  np.testing.assert_allclose(sigmas[[0, -2]], [10.0, 0.01], rtol=1e-5)
  assert np.all(np.diff(sigmas) < 0)
  # rho = 1 is a uniform grid.
  np.testing.assert_allclose(
    sampling.edm_sigmas(3, 1.0, 3.0, rho=1.0), [3.0, 2.0, 1.0, 0.0], rtol=1e-6
  )
  np.testing.assert_allclose(sampling.edm_sigmas(1, 0.01, 5.0), [5.0, 0.0], rtol=1e-6)


def test_sampler_argument_errors():
  rng = jax.random.key(0)
  with pytest.raises(ValueError, match='sampler'):
    sampling.sample(gaussian_denoiser, SHAPE, rng=rng, steps=4, sampler='dpm')
  with pytest.raises(ValueError, match='start_sigma'):
    sampling.sample(gaussian_denoiser, SHAPE, rng=rng, steps=4, x_start=jnp.zeros(SHAPE))
  with pytest.raises(ValueError, match='x_start shape'):
    sampling.sample(
      gaussian_denoiser, SHAPE, rng=rng, steps=4, x_start=jnp.zeros((2, 8)), start_sigma=0.5
    )
  with pytest.raises(ValueError, match='steps'):
    sampling.num_network_calls('euler', 0)
  with pytest.raises(ValueError, match='sigma_min'):
    sampling.edm_sigmas(4, sigma_min=1.0, sigma_max=0.5)
