"""The config layout: fields declared once in the base config, one size table, and the upgrade
of configs saved in an older layout."""

import ast
import json
import pathlib

import pytest

from restoration import config as config_lib
from restoration.config import SIZES, base_config, load_config

METHOD_CONFIGS = sorted(p.stem for p in config_lib.CONFIG_DIR.glob('*.py'))

# ``load_config('gan', 'smoke').to_dict()`` as training saved it (JSON) before the objective
# had per-family sections.
OLD_GAN_SMOKE = {
  'critic': {'feature_checkpoint': '', 'kind': 'mrstft', 'preset': 'smoke'},
  'data': {
    'audio_dir': '',
    'channels': 1,
    'clip_seconds': 1.0,
    'crop_seconds': 0.5,
    'data_dir': 'data/tfds',
    'degradations': ['mp3:24', 'opus:12'],
    'device_prefetch': 1,
    'loader': 'auto',
    'num_test': 4,
    'num_train': 16,
    'num_validation': 4,
    'prefetch': 4,
    'sample_rate': 16000,
    'shuffle_seed': 0,
    'source': 'synthetic',
    'spectra_on': 'auto',
    'tfds_data_dir': '',
    'tfds_name': '',
    'workers': 0,
  },
  'distributed': False,
  'method': 'gan',
  'model': {'noise_channels': 0, 'overrides': {}, 'preset': 'smoke', 'remat': False},
  'objective': {
    'adversarial': 'non_saturating',
    'adversarial_weight': 1.0,
    'critic_warmup_steps': 0,
    'feature_matching_weight': 2.0,
    'gp_weight': 0.0,
    'n_critic': 1,
    'p_mean': -1.2,
    'p_std': 1.2,
    'r1_weight': 0.0,
    'reconstruction': {'mel': 0.0, 'mrstft': 1.0, 'mse': 1.0},
    'residual_scale': 0.1,
    'schedule': 'edm',
    'sigma_data': 0.5,
    'space': 'residual',
    'target': 'x0',
  },
  'parallel': {'backend': 'jit', 'model_axis': 1},
  'presets': [],
  'sampling': {
    'eval_steps': [1, 2, 4, 8, 16, 32],
    'rho': 7.0,
    'sampler': 'heun',
    'sigma_max': 20.0,
    'sigma_min': 0.002,
    'start_sigma': 0.0,
    'steps': 8,
  },
  'seed': 0,
  'size': 'smoke',
  'spectral': {'alpha': 0.5, 'beta': 0.15, 'hop': 128, 'n_fft': 512},
  'train': {
    'adam_eps': 1e-08,
    'b1': 0.8,
    'b2': 0.99,
    'best_metric': 'lsd',
    'checkpoint_every': 2,
    'checkpoint_fallback': True,
    'compute_dtype': 'float32',
    'critic_learning_rate': 0.001,
    'ema_decay': 0.999,
    'eval_batches': 1,
    'eval_every': 4,
    'global_batch': 8,
    'grad_clip': 1.0,
    'init_from': '',
    'keep_checkpoints': 3,
    'learning_rate': 0.001,
    'log_every': 2,
    'max_nonfinite_steps': 20,
    'max_train_seconds': 0.0,
    'num_steps': 4,
    'warmup_steps': 100,
    'weight_decay': 0.0,
  },
}


def _fields(tree: dict, prefix: str = '') -> set[str]:
  out = set()
  for key, value in tree.items():
    if isinstance(value, dict) and value and key not in ('reconstruction', 'overrides'):
      out |= _fields(value, f'{prefix}{key}.')
    else:
      out.add(prefix + key)
  return out


def _json(c) -> dict:
  return json.loads(c.to_json(sort_keys=True))


def test_upgrade_maps_an_old_saved_config_to_todays():
  assert _json(config_lib.upgrade(OLD_GAN_SMOKE)) == _json(load_config('gan', 'smoke'))


def test_upgrade_moves_old_bridge_fields_and_fills_fields_a_run_predates():
  old = json.loads(json.dumps(OLD_GAN_SMOKE))
  old['method'] = 'predictive_bridge'
  old['objective'].update(bridge_sigma=0.3, bridge_p_start=0.5, adversarial='hinge')
  del old['model']['remat'], old['train']['compute_dtype'], old['train']['max_train_seconds']
  c = config_lib.upgrade(old)
  assert (c.objective.bridge.sigma, c.objective.bridge.p_start) == (0.3, 0.5)
  assert c.objective.adversarial.loss == 'hinge'
  assert c.model.remat is False and c.train.compute_dtype == 'float32'
  assert c.train.max_train_seconds == 0.0
  assert 'bridge_sigma' not in c.objective and 'schedule' not in c.objective
  assert old['objective']['bridge_sigma'] == 0.3  # the caller's dict is left as it was


def test_upgrade_keeps_a_current_config():
  c = load_config('vocoder', 'demo,music44k')
  assert _json(config_lib.upgrade(c.to_dict())) == _json(c)


@pytest.mark.parametrize('method', METHOD_CONFIGS)
def test_method_configs_set_only_fields_the_base_config_declares(method):
  for size in SIZES:
    assert _fields(load_config(method, size).to_dict()) == _fields(
      base_config(method, size).to_dict()
    )


@pytest.mark.parametrize('method', METHOD_CONFIGS)
def test_method_configs_do_not_repeat_a_default(method):
  """A ``c.<field> = <literal>`` at the top level of ``get_config`` differs from the default
  (a repeated default hides which fields the method really changes)."""
  source = pathlib.Path(config_lib.CONFIG_DIR / f'{method}.py').read_text()
  body = next(
    f for f in ast.parse(source).body if isinstance(f, ast.FunctionDef) and f.name == 'get_config'
  ).body
  defaults = base_config(method, 'demo')
  for stmt in body:
    if not isinstance(stmt, ast.Assign) or not isinstance(stmt.value, ast.Constant):
      continue
    field = ast.unparse(stmt.targets[0])
    if not field.startswith('c.') or field == 'c.method':
      continue
    node = defaults
    for part in field[2:].split('.'):
      node = node[part]
    assert node != stmt.value.value, f'configs/{method}.py: {field} repeats the default'


def test_size_table_sets_declared_fields_only():
  """Each per-size field lives in the one table and names an existing section."""
  c = base_config('regression', 'demo')
  for size, fields in config_lib.SIZE_TABLE.items():
    for field in fields:
      section = field.split('.')[0]
      assert section in c, (size, field)
  common = set.intersection(*(set(f) for f in config_lib.SIZE_TABLE.values()))
  assert {'data.num_train', 'data.crop_seconds', 'train.global_batch'} <= common
