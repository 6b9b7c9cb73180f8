"""train.init_from: a GAN's generator starts from a trained regression run (exactly its weights,
its budget recorded), a network of other shapes is refused with one line; GAN validation
reports the critic's accuracy on held-out pairs."""

import jax
import numpy as np
import pytest
from test_train import smoke_config

from restoration import config as config_lib
from restoration import inference, records
from restoration.checkpoint import CheckpointMismatchError
from restoration.errors import ConfigError
from restoration.train import loop


def test_gan_generator_starts_from_the_regression_run(smoke_run, smoke_data_dir, tmp_path):
  source = smoke_run('regression')
  c = smoke_config('gan', smoke_data_dir)
  c.train.init_from = source
  _, nets, state, _, ckpt = loop.setup(c, str(tmp_path / 'setup'))
  ckpt.close()
  _, _, want, _, _ = inference.load_workdir(source, 'latest')
  got = jax.device_get(state['params'][nets.main])
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(jax.tree.leaves(jax.device_get(state['ema'])), jax.tree.leaves(want)):
    np.testing.assert_array_equal(a, b)

  last = loop.train_and_evaluate(c, str(tmp_path / 'gan'))
  # The share of held-out (clean, restored) pairs the critic orders right: k of n pairs.
  pairs = c.train.eval_batches * c.train.global_batch
  right = last['eval/critic_accuracy'] * pairs
  assert right == pytest.approx(round(right), abs=1e-4) and 0 <= round(right) <= pairs
  [segment] = records.read(tmp_path / 'gan')
  src = records.read(source)
  assert segment.init_from.method == 'regression' and segment.init_from.workdir == source
  assert segment.init_from.wall_seconds == pytest.approx(sum(r.wall_seconds for r in src))
  assert segment.init_from.eval_seconds == pytest.approx(sum(r.eval_seconds for r in src))
  assert records.budget([segment]).total.steps == segment.end_step + src[-1].end_step


def test_other_shapes_are_refused_in_one_line(smoke_run, smoke_data_dir, tmp_path):
  c = smoke_config('bridge', smoke_data_dir)
  c.train.init_from = smoke_run('regression')
  with pytest.raises(CheckpointMismatchError, match=r'^train.init_from=.*: its main network has'):
    loop.setup(c, str(tmp_path))


def test_predictive_bridge_freezes_the_regression_run_as_its_predictor(smoke_run, smoke_data_dir):
  source, workdir = smoke_run('regression'), smoke_run('predictive_bridge')
  _, _, want, _, _ = inference.load_workdir(source, 'latest')
  _, _, _, rest, _ = inference.load_workdir(workdir, 'latest')
  got = jax.device_get(rest['predictor'])
  leaves = jax.tree.leaves(want)
  assert len(jax.tree.leaves(got)) == len(leaves) > 0
  for a, b in zip(jax.tree.leaves(got), leaves):  # trained through, still the source's weights
    np.testing.assert_array_equal(a, b)
  [segment] = records.read(workdir)
  assert segment.init_from == records.source(source)

  c = smoke_config('predictive_bridge', smoke_data_dir)
  with pytest.raises(ConfigError, match=r'^config.train.init_from=.*regression'):
    config_lib.validate(c)
