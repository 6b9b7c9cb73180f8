"""Training paths no other test reaches: parameters sharded on a 'model' mesh axis, the GAN's
critic warm-up gate, and a TFDS dataset as the corpus from preparation to a trained model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_sources import dominant_hz
from test_train import smoke_config

from restoration import methods
from restoration import state as state_lib
from restoration.benchmark import synthetic_batch
from restoration.data import builder as builder_lib
from restoration.train import loop, sharding, steps


def _train_params(c, model_axis: int, min_size: int, steps: int = 2):
  """(parameters after ``steps`` jit steps on all 8 devices, the state's shardings)."""
  mesh = sharding.make_mesh(model_axis)
  nets, state, shardings = state_lib.create(
    c, sharding_fn=lambda a: sharding.param_sharding(mesh, a, min_size=min_size)
  )
  step = sharding.compile_step(methods.get(c.method).step(c, nets), mesh, shardings)
  state = step.to_step(state)
  for k in range(steps):
    batch = synthetic_batch(c, k)
    batch = {key: jax.device_put(v, sharding.batch_sharding(mesh)) for key, v in batch.items()}
    state, _ = step(state, batch, jax.random.key(k))
  return step.from_step(state)['params'], shardings['params']


def test_model_axis_shards_parameters_and_trains_as_data_parallel(tmp_path):
  """A 4 x 2 mesh with the smoke model's larger kernels split over 'model' (its leaves are
  below the default size threshold) trains to the parameters of a pure data-parallel mesh."""
  c = smoke_config('regression', tmp_path, global_batch=8, adam_eps=1e-3)  # synthetic batches
  split, split_shardings = _train_params(c, model_axis=2, min_size=2048)
  data, _ = _train_params(c, model_axis=1, min_size=2048)
  specs = [s.spec for s in jax.tree.leaves(split_shardings)]
  assert any(sharding.MODEL in spec for spec in specs)
  assert any(sharding.MODEL not in spec for spec in specs)  # small leaves stay replicated
  for leaf, spec in zip(jax.tree.leaves(split), specs):
    assert leaf.sharding.spec == spec  # the step kept the layout it was given
  moved = 0.0
  for a, b in zip(jax.tree.leaves(jax.device_get(split)), jax.tree.leaves(jax.device_get(data))):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
  initial = state_lib.create(c)[1]['params']
  for a, b in zip(jax.tree.leaves(jax.device_get(split)), jax.tree.leaves(initial)):
    moved = max(moved, float(np.max(np.abs(a - np.asarray(b)))))
  assert moved > 1e-4  # training changed the parameters (the comparison is not vacuous)


def test_critic_warm_up_gate_turns_the_generators_adversarial_terms_on(tmp_path):
  """Before ``objective.adversarial.critic_warmup_steps`` the generator's loss is its reconstruction
  alone; from that step on it adds the weighted adversarial and feature-matching terms."""
  c = smoke_config('gan', tmp_path)  # synthetic batches: no dataset read
  o = c.objective.adversarial
  o.critic_warmup_steps = 3
  nets, state, _ = state_lib.create(c)
  step = jax.jit(methods.get('gan').step(c, nets))
  batch = synthetic_batch(c)
  weights = steps.reconstruction_weights(c)
  for at, on in ((2, 0.0), (3, 1.0)):
    _, m = step({**state, 'step': jnp.asarray(at, state['step'].dtype)}, batch, jax.random.key(0))
    m = {k: float(v) for k, v in jax.device_get(m).items()}
    recon = sum(w * m[f'recon/{k}'] for k, w in weights.items() if w)
    adversarial = (
      o.weight * m['generator/adversarial']
      + o.feature_matching_weight * m['generator/feature_matching']
    )
    assert abs(adversarial) > 0.01 * recon  # the gate, not a vanishing term, makes the change
    assert m['loss'] == pytest.approx(recon + on * adversarial, rel=1e-5), at


def test_training_from_a_tfds_dataset(tmp_path):
  """``data.source='tfds'``: a TFDS audio dataset (8 kHz int16 tones, no validation split) is
  prepared into pairs at the model's rate and trained on, through validation and a checkpoint."""
  import tiny_audio_tfds

  tiny_audio_tfds.prepare(str(tmp_path / 'tfds'))
  c = smoke_config('regression', tmp_path / 'pairs', num_steps=2, eval_every=2)
  c.data.update(source='tfds', tfds_name='corpus_test_audio', tfds_data_dir=str(tmp_path / 'tfds'))
  last = loop.train_and_evaluate(c, str(tmp_path / 'run'))
  assert last['step'] == 2 and np.isfinite(last['eval/lsd'])
  source = builder_lib.get_builder(c.data).as_data_source('train')
  assert len(source) == c.data.num_train
  for i in range(3):  # clips of the dataset's tones, resampled to the model's rate
    clean = source[i]['clean'][:, 0].astype(np.float32)
    hz = dominant_hz(clean, c.data.sample_rate)
    assert min(abs(hz - f) for f in tiny_audio_tfds.FREQS) < 5, hz
