"""The method registry: every registered method has a config, trains at smoke size, records what
the report prints, and (when it restores) restores audio through the shared inference path. A
new method is covered here by registering it."""

import json
import os

import numpy as np
import pytest

from restoration import config as config_lib
from restoration import methods
from restoration.checkpoint import Checkpointer
from restoration.errors import ConfigError

NAMES = methods.names()


def test_every_config_file_is_a_registered_method_and_back():
  configs = {f[:-3] for f in os.listdir(config_lib.CONFIG_DIR) if f.endswith('.py')}
  assert configs == set(NAMES)
  for name in NAMES:
    assert config_lib.load_config(name, 'smoke').method == name


def test_registry_refuses_unknown_and_duplicate_names():
  with pytest.raises(KeyError, match="'nosuch' is not registered; expected one of"):
    methods.get('nosuch')
  with pytest.raises(ValueError, match='registered twice'):
    methods.register(type(methods.get('regression'))('regression'))


def test_unknown_method_is_a_config_error():
  c = config_lib.load_config('regression', 'smoke')
  c.method = 'nosuch'
  with pytest.raises(ConfigError, match=r"config.method='nosuch': expected one of"):
    config_lib.validate(c)


@pytest.mark.parametrize('name', NAMES)
def test_method_trains_records_its_facts_and_restores(name, smoke_run):
  method = methods.get(name)
  workdir = smoke_run(name)
  c = config_lib.load_config(name, 'smoke')
  assert Checkpointer(workdir, read_only=True).latest_step() == c.train.num_steps
  [record] = [json.loads(line) for line in open(os.path.join(workdir, 'train_log.jsonl'))]
  assert np.isfinite(record['last']['loss'])
  assert record['describe']['family'] == method.family and record['describe']['objective']
  assert set(record['gflops_per_audio_second']) == set(record['params'])
  assert all(v > 0 for v in record['gflops_per_audio_second'].values())
  assert record['code_lines']['own'] > 10 and record['code_lines']['shared'] > 100
  if not method.restores:
    assert 'eval/lsd' not in record['last']
    return
  assert np.isfinite(record['last']['eval/lsd'])
  from restoration.inference import Restorer

  restorer = Restorer(workdir, chunk_seconds=0.5, overlap_seconds=0.1)
  wave = np.random.default_rng(0).uniform(-0.3, 0.3, 12345).astype(np.float32)
  for steps in method.eval_steps(restorer.config):
    r = restorer.with_steps(steps)
    out = r.restore_array(wave, 16000)
    assert out.shape == wave.shape and np.isfinite(out).all(), steps
    assert r.network_calls >= (steps or 1)
    assert 0 < np.sqrt(np.mean(np.square(out - wave))) < 1, steps  # did something, no blow-up
