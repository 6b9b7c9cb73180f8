"""The stochastic GAN generator (``model.noise_channels``, Lattner & Nistal 2021): N(0, 1)
channels beside the degraded input, drawn from the train step's rng and from the restorer's
sampling key, so a seed picks the restoration and the same seed gives the same one."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_train import smoke_config

from restoration import config as config_lib
from restoration import inference, methods
from restoration import state as state_lib
from restoration.benchmark import synthetic_batch
from restoration.checkpoint import Checkpointer
from restoration.errors import ConfigError
from restoration.spectral import SpectralParams
from restoration.train import loop

NOISE = 2


@pytest.fixture(scope='module')
def noisy_gan_run(smoke_data_dir, tmp_path_factory):
  c = smoke_config('gan', smoke_data_dir)
  c.model.noise_channels = NOISE
  workdir = str(tmp_path_factory.mktemp('noisy_gan'))
  loop.train_and_evaluate(c, workdir)
  return workdir


def test_noisy_gan_trains_records_and_restores(noisy_gan_run):
  c = config_lib.load_config('gan', 'smoke')
  assert Checkpointer(noisy_gan_run, read_only=True).latest_step() == c.train.num_steps
  [record] = [json.loads(line) for line in open(os.path.join(noisy_gan_run, 'train_log.jsonl'))]
  assert np.isfinite(record['last']['loss']) and np.isfinite(record['last']['eval/lsd'])
  assert f'noise input ({NOISE} N(0, 1) channels)' in record['describe']['architecture']
  assert all(v > 0 for v in record['gflops_per_audio_second'].values())
  restorer = inference.Restorer(noisy_gan_run, chunk_seconds=0.5, overlap_seconds=0.1)
  assert restorer.config.model.noise_channels == NOISE
  wave = np.random.default_rng(0).uniform(-0.3, 0.3, 12345).astype(np.float32)
  out = restorer.restore(wave, restorer.sample_rate)
  assert out.shape == wave.shape and np.all(np.isfinite(out))


def test_noisy_gan_restorer_samples_by_seed_and_index(noisy_gan_run):
  waves = np.random.default_rng(1).uniform(-0.3, 0.3, (2, 8000)).astype(np.float32)
  # Full-band noise: the model's sampling is under test, not the band gate that would keep it.
  chunks = dict(chunk_seconds=0.5, overlap_seconds=0.1, identity_above=None)
  r0 = inference.Restorer(noisy_gan_run, **chunks)
  r1 = inference.Restorer(noisy_gan_run, **chunks, seed=1)
  a, again, other_index = (r0.restore_waves(waves, i) for i in (0, 0, 1))
  np.testing.assert_array_equal(a, again)
  assert np.max(np.abs(a - other_index)) > 0
  assert np.max(np.abs(a - r1.restore_waves(waves, 0))) > 0
  # Per-example keys: one channel restored alone draws the noise it drew in the batch.
  np.testing.assert_allclose(r0.restore_waves(waves[:1], 0)[0], a[0], atol=1e-5)
  wave = waves[0, :6000]
  np.testing.assert_array_equal(r0.restore(wave, r0.sample_rate), r0.restore(wave, r0.sample_rate))


def _perturbed_state(noise_channels: int):
  """The smoke GAN's config, networks and train state, its generator at random weights
  whose zero-initialised output layer no longer hides the input (noise included)."""
  c = config_lib.load_config('gan', 'smoke')
  c.model.noise_channels = noise_channels
  config_lib.validate(c)
  nets, state, _ = state_lib.create(c)
  leaves, treedef = jax.tree.flatten(state['params']['generator'])
  keys = jax.random.split(jax.random.key(0), len(leaves))
  perturbed = [x + 0.05 * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
  state['params']['generator'] = jax.tree.unflatten(treedef, perturbed)
  return c, nets, state


def _enhancer(noise_channels: int):
  c, nets, state = _perturbed_state(noise_channels)
  enhance = jax.jit(inference.enhancer(c, nets))
  f = SpectralParams.from_config(c.spectral).n_freq
  degraded = jax.random.normal(jax.random.key(1), (2, 16, f, 2))
  params, rest = state['params']['generator'], state['rest']['generator']
  return lambda rng: np.asarray(enhance(params, rest, degraded, rng))


def test_gan_output_depends_on_the_rng_only_with_noise_channels():
  deterministic = _enhancer(0)
  np.testing.assert_array_equal(deterministic(jax.random.key(0)), deterministic(jax.random.key(1)))
  stochastic = _enhancer(NOISE)
  a = stochastic(jax.random.key(0))
  np.testing.assert_array_equal(a, stochastic(jax.random.key(0)))
  assert np.max(np.abs(a - stochastic(jax.random.key(1)))) > 1e-4


def test_gan_step_draws_its_noise_from_the_step_rng():
  """Two step keys give two generator losses, one key the same loss (the generator's own rng
  stream, frozen inside a pure step, would give one loss for every key)."""
  c, nets, state = _perturbed_state(NOISE)
  a = c.objective.adversarial
  assert not a.gp_weight and not a.r1_weight  # rng feeds the noise only
  step = jax.jit(methods.get('gan').step(c, nets))
  batch = {k: jnp.asarray(v) for k, v in synthetic_batch(c, 0).items()}
  losses = [float(step(state, batch, jax.random.key(k))[1]['loss']) for k in (0, 0, 1)]
  assert losses[0] == losses[1] != losses[2]


def test_bad_noise_channels_is_a_config_error():
  c = config_lib.load_config('gan', 'smoke')
  assert c.model.noise_channels == 0
  c.model.noise_channels = -1
  with pytest.raises(
    ConfigError, match=r'config.model.noise_channels=-1: expected an integer >= 0'
  ):
    config_lib.validate(c)
  # Other methods do not take a noise input: building their U-Net stops at start.
  r = config_lib.load_config('regression', 'smoke')
  r.model.noise_channels = NOISE
  with pytest.raises(ConfigError, match=r'config.model.noise_channels=2: expected 0: only the GAN'):
    state_lib.networks(r)


def test_exported_noisy_gan_samples_like_its_restorer(noisy_gan_run, tmp_path):
  from restoration import export, exported

  r = inference.Restorer(
    noisy_gan_run, chunk_seconds=0.5, overlap_seconds=0.1, seed=3, identity_above=None
  )
  export.export(r, tmp_path / 'gan.zip')
  e = exported.load(tmp_path / 'gan.zip')
  waves = np.random.default_rng(2).uniform(-0.3, 0.3, (2, r.chunk_length)).astype(np.float32)
  np.testing.assert_allclose(e.restore_waves(waves, 1), r.restore_waves(waves, 1), atol=1e-5)
  other = exported.load(tmp_path / 'gan.zip', seed=4).restore_waves(waves, 1)
  assert np.max(np.abs(e.restore_waves(waves, 1) - other)) > 1e-4
