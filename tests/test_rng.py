"""The random-number rules: every method draws a step's noise from one key per global example,
so jit and pmap train alike; the package leaves the process's JAX config alone."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_train import _train_params, smoke_config

from restoration import methods
from restoration.train import steps

RESTORERS = [m for m in methods.names() if methods.get(m).restores]


def test_example_keys_are_the_same_per_example_under_jit_and_pmap():
  rng = jax.random.key(3)
  n = jax.device_count()
  whole = steps.example_keys(rng, 2 * n, None)
  parts = jax.pmap(lambda _: steps.example_keys(rng, 2, 'data'), axis_name='data')(jnp.zeros(n))
  np.testing.assert_array_equal(
    jax.random.key_data(whole), jax.random.key_data(parts).reshape(2 * n, -1)
  )
  assert len({tuple(k) for k in np.asarray(jax.random.key_data(whole))}) == 2 * n


@pytest.mark.parametrize('method', RESTORERS)
def test_steps_under_jit_and_pmap_give_the_same_parameters(method, smoke_data_dir):
  # A larger Adam eps keeps near-zero gradients (whose sign the summation order of 8 devices
  # can flip) from taking full +-lr steps.
  c = smoke_config(method, smoke_data_dir, global_batch=8, adam_eps=1e-3)
  start = _train_params(c, jax.devices(), 'jit', 0)
  # Two steps: the learning-rate warm-up makes the first a step of size 0.
  jitted = _train_params(c, jax.devices(), 'jit', 2)
  pmapped = _train_params(c, jax.devices(), 'pmap', 2)
  for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(pmapped)):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
  moved = max(
    float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(start))
  )
  assert moved > 1e-4  # the step changed the parameters (the comparison is not vacuous)


def test_importing_the_package_leaves_the_threefry_flag_alone():
  code = (
    'import jax\n'
    'before = jax.config.jax_threefry_partitionable\n'
    'import restoration, restoration.train.loop, restoration.inference\n'
    'assert jax.config.jax_threefry_partitionable == before, "flag changed on import"\n'
  )
  subprocess.run([sys.executable, '-c', code], check=True)
