"""The run planner: warm-start sources, training order, a run's config, and what a re-run trains
again (real checkpoints, a stand-in for the training loop)."""

from __future__ import annotations

import os

import ml_collections
import numpy as np
import pytest

from restoration import plan
from restoration.checkpoint import Checkpointer
from restoration.config import load_config
from restoration.errors import ConfigError
from restoration.train import loop


def test_sources_follow_the_recipe_and_the_methods_own_starts():
  starts = plan.sources(['regression', 'gan', 'predictive_bridge', 'diffusion'], plan.WARM_START)
  assert starts == {'gan': ('regression', True), 'predictive_bridge': ('regression', False)}
  assert plan.sources(['gan'], {}) == {}  # no recipe: the GAN trains from scratch


def test_order_puts_each_source_before_its_users_and_keeps_the_rest():
  runs = [
    plan.Run('a', 'gan', source='c'),
    plan.Run('b', 'regression'),
    plan.Run('c', 'regression', source='d'),
    plan.Run('d', 'regression'),
    plan.Run('e', 'gan', source='a'),
  ]
  assert [r.name for r in plan.order(runs)] == ['d', 'c', 'a', 'b', 'e']
  ordered = plan.order(runs)
  assert plan.order(ordered) == ordered  # an ordered plan is left as it is


def test_an_unknown_source_or_a_cycle_is_a_one_line_error():
  with pytest.raises(ConfigError, match=r'^warm start a:z: expected z among the runs \(a, b\)$'):
    plan.order([plan.Run('a', 'gan', source='z'), plan.Run('b', 'regression')])
  runs = [
    plan.Run('a', 'gan', source='b'),
    plan.Run('b', 'gan', source='c'),
    plan.Run('c', 'gan', source='a'),
  ]
  with pytest.raises(
    ConfigError, match=r'^warm start c:a: a cycle of sources \(a -> b -> c -> a\)$'
  ):
    plan.order(runs)
  with pytest.raises(ConfigError, match='a cycle of sources'):
    plan.order([plan.Run('a', 'gan', source='a')])


def test_config_puts_finetune_between_the_size_and_the_presets(tmp_path):
  run = plan.Run(
    'gan/x', 'gan', seed=3, lr_scale=0.5, source='reg', fine_tunes=True, fields=(('seed', 5),)
  )
  c = plan.config(run, 'smoke,music44k', 'data', str(tmp_path), presets=('study',))
  base = load_config('gan', 'smoke,music44k,finetune,study')
  assert c.presets == base.presets == ('music44k', 'finetune', 'study')
  assert c.train.learning_rate == 0.5 * base.train.learning_rate
  assert c.seed == 5  # fields last: they override the run's seed
  assert c.data.data_dir == 'data' and c.train.init_from == os.path.join(str(tmp_path), 'reg')
  scratch = plan.config(plan.Run('r', 'regression'), 'smoke', 'data', str(tmp_path))
  assert scratch.presets == () and scratch.train.init_from == ''


def _config(num_steps: int) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({'train': {'num_steps': num_steps}})


def _save(workdir: str, step: int) -> None:
  with Checkpointer(workdir) as ckpt:
    ckpt.save(step, {'w': np.zeros(2, np.float32)}, config={}, force=True)


@pytest.fixture
def trainer(monkeypatch):
  """Stands in for the training loop: records which workdir it trained from which saved step,
  saves the last step (or ``stops[name]``), and diverges for the names in ``diverges``."""
  calls: list[tuple[str, int | None]] = []
  stops: dict[str, int] = {}
  diverges: set[str] = set()

  def train(config, workdir):
    name = os.path.basename(workdir)
    calls.append((name, Checkpointer(workdir, read_only=True).latest_step()))
    if name in diverges:
      raise loop.NonFiniteError(f'{name}: non-finite loss')
    step = stops.get(name, config.train.num_steps)
    _save(workdir, step)
    return {'step': step}

  monkeypatch.setattr(loop, 'train_and_evaluate', train)
  return calls, stops, diverges


def test_a_rerun_trains_only_what_is_missing(tmp_path, trainer):
  calls, _, _ = trainer
  out = str(tmp_path)
  runs = plan.order(
    [plan.Run('gan', 'gan', source='reg'), plan.Run('reg', 'regression'), plan.Run('wgan', 'wgan')]
  )
  configs = {'reg': _config(4), 'gan': _config(3), 'wgan': _config(4)}
  _save(os.path.join(out, 'reg'), 4)  # finished earlier
  _save(os.path.join(out, 'wgan'), 2)  # preempted half-way
  status = plan.train_missing(runs, configs, out, label='test')
  assert {n: s['status'] for n, s in status.items()} == {
    'reg': 'reused',
    'gan': 'done',
    'wgan': 'done',
  }
  assert calls == [('gan', None), ('wgan', 2)]  # the short run resumes from its checkpoint
  assert plan.finished(os.path.join(out, 'wgan'), configs['wgan'])
  calls.clear()
  again = plan.train_missing(runs, configs, out, label='test')
  assert calls == [] and {s['status'] for s in again.values()} == {'reused'}
  configs['gan'] = _config(6)  # more steps asked of a finished run: it trains on
  plan.train_missing(runs, configs, out, label='test')
  assert calls == [('gan', 3)]


def test_a_preempted_run_stops_the_plan(tmp_path, trainer):
  calls, stops, _ = trainer
  stops['a'] = 1
  runs = [plan.Run('a', 'regression'), plan.Run('b', 'regression')]
  status = plan.train_missing(runs, {'a': _config(4), 'b': _config(4)}, str(tmp_path), label='t')
  assert status == {'a': {'status': 'stopped'}}
  assert calls == [('a', None)]


def test_a_diverged_source_skips_its_users_or_stops_everything(tmp_path, trainer):
  calls, _, diverges = trainer
  diverges.add('reg')
  runs = [plan.Run('reg', 'regression'), plan.Run('gan', 'gan', source='reg')]
  runs.append(plan.Run('wgan', 'wgan'))
  configs = {n: _config(2) for n in ('reg', 'gan', 'wgan')}
  status = plan.train_missing(runs, configs, str(tmp_path), label='t', keep_going=True)
  assert [status[n]['status'] for n in ('reg', 'gan', 'wgan')] == ['diverged', 'skipped', 'done']
  assert status['gan']['error'] == 'its source reg did not finish'
  assert [name for name, _ in calls] == ['reg', 'wgan']
  with pytest.raises(loop.NonFiniteError, match='reg: non-finite'):
    plan.train_missing(runs, configs, str(tmp_path / 'again'), label='t')
