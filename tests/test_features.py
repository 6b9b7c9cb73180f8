"""The projected critic on pretrained features: a real 'features' run feeds a real GAN run."""

import logging
import shutil

import jax
import numpy as np
import pytest
from flax import nnx
from test_train import smoke_config, truncate_step

from restoration import state as state_lib
from restoration.checkpoint import Checkpointer, CheckpointMismatchError
from restoration.errors import NoCheckpointError
from restoration.models import features
from restoration.train import loop


def _saved(workdir: str, config) -> dict:
  """The train state of the latest step in ``workdir``, restored the way training resumes."""
  return Checkpointer(workdir, read_only=True).restore(state_lib.abstract_state(config, None))


def _arrays(tree) -> list[np.ndarray]:
  return [np.asarray(x) for x in jax.tree.leaves(nnx.to_pure_dict(tree))]


def test_projected_gan_freezes_the_trunk_a_features_run_trained(
  smoke_run, smoke_data_dir, tmp_path
):
  features_dir = smoke_run('features')
  features_config = smoke_config('features', smoke_data_dir)
  trunk = _saved(features_dir, features_config)['params']['classifier']['trunk']

  loaded = features.load_feature_net(features_dir, features_config.critic.preset)
  for got, want in zip(_arrays(nnx.state(loaded, nnx.Param)), _arrays(trunk), strict=True):
    np.testing.assert_array_equal(got, want)

  c = smoke_config('projected_gan', smoke_data_dir)
  c.critic.feature_checkpoint = features_dir
  gan_dir = str(tmp_path / 'projected_gan')
  assert np.isfinite(loop.train_and_evaluate(c, gan_dir)['loss'])
  gan = _saved(gan_dir, c)
  frozen = gan['rest']['critic']['features']
  assert 'features' not in gan['params']['critic']  # no optimizer ever saw the trunk
  for got, want in zip(_arrays(frozen), _arrays(trunk), strict=True):
    np.testing.assert_array_equal(got, want)

  c.critic.feature_checkpoint = ''
  _, random_init, _ = state_lib.create(c)
  random_frozen = _arrays(random_init['rest']['critic']['features'])
  assert all(not np.array_equal(a, b) for a, b in zip(_arrays(frozen), random_frozen, strict=True))

  with pytest.raises(
    CheckpointMismatchError, match=r"its trunk has .*; expected FeatureNet preset 'demo'"
  ):
    features.load_feature_net(features_dir, 'demo')
  with pytest.raises(
    CheckpointMismatchError, match=f'^load_feature_net: {gan_dir} step .* lacks the trunk'
  ):
    features.load_feature_net(gan_dir, 'smoke')
  with pytest.raises(NoCheckpointError, match="no checkpoint under .*; expected a 'features' run"):
    features.load_feature_net(tmp_path / 'missing', 'smoke')


def test_an_unreadable_newest_step_falls_back_to_the_trunk_before_it(smoke_run, tmp_path, caplog):
  """A copy of the features run whose newest step is damaged loads the step before it."""
  run = tmp_path / 'features'
  shutil.copytree(smoke_run('features'), run)
  step = max(Checkpointer(run, read_only=True).all_steps())
  shutil.copytree(run / 'checkpoints' / str(step), run / 'checkpoints' / str(step + 1))
  truncate_step(run / 'checkpoints' / str(step + 1))
  want = _arrays(nnx.state(features.load_feature_net(smoke_run('features'), 'smoke')))
  with caplog.at_level(logging.WARNING, logger='restoration'):
    loaded = features.load_feature_net(run, 'smoke')
  assert f'checkpoint step {step + 1} ' in caplog.text
  for got, expected in zip(_arrays(nnx.state(loaded)), want, strict=True):
    np.testing.assert_array_equal(got, expected)
