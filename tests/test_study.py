"""The study (``python -m restoration.study``) at smoke size: the plan, the preset, a real run of
regression + GAN (+ the stochastic GAN) through training, scoring and the report, and a re-run
that reuses everything."""

from __future__ import annotations

import json
import os

import pytest

from restoration import study
from restoration.config import load_config
from restoration.errors import ConfigError
from restoration.evaluate import harm
from restoration.study import report


def test_plan_orders_sources_first_and_pairs_seeds():
  runs = study.plan(['regression', 'gan', 'predictive_bridge'])
  names = [r.name for r in runs]
  assert len(runs) == 3 * 5 + 1  # 3 seeds + 2 learning rates per method, the stochastic GAN
  for r in runs:
    if r.source:
      assert names.index(r.source) < names.index(r.name)
  gan = {r.name: r for r in runs if r.method == 'gan'}
  assert gan['gan/seed=2'].source == 'regression/seed=2'  # fine-tunes the same seed
  assert gan['gan/lr=2x'].source == 'regression/seed=0' and gan['gan/lr=2x'].lr_scale == 2.0
  assert gan['gan_stochastic/seed=0'].source is None  # its first layer differs in shape
  assert runs[-1].name == 'gan_stochastic/seed=0'
  assert {r.source for r in runs if r.method == 'predictive_bridge'} == {
    f'regression/seed={s}' for s in (0, 1, 2)
  }
  with pytest.raises(ConfigError, match='gan starts from regression'):
    study.plan(['gan', 'regression'])


def test_default_methods_are_the_restoring_ones():
  names = study.default_methods()
  assert names[0] == 'regression' and 'features' not in names
  assert {'gan', 'wgan', 'projected_gan', 'diffusion', 'bridge', 'vocoder'} <= set(names)


@pytest.mark.parametrize('method', ['regression', 'gan', 'wgan', 'vocoder'])
def test_study_preset_quarters_the_demo(method):
  demo, tuned = load_config(method, 'demo'), load_config(method, 'demo,study')
  assert tuned.train.global_batch * 2 == demo.train.global_batch
  assert tuned.train.num_steps == demo.train.num_steps // 2
  # four validations per run: the learning curve's points
  assert -(-tuned.train.num_steps // tuned.train.eval_every) == 4
  ft = load_config(method, 'demo,finetune,study')
  assert ft.objective.critic_warmup_steps < ft.train.num_steps


def test_config_for_scales_every_learning_rate(tmp_path):
  run = study.Run('gan/lr=2x', 'gan', lr_scale=2.0, source='regression/seed=0')
  c = study.config_for(run, 'smoke', 'data/tfds', str(tmp_path))
  base = load_config('gan', 'smoke,finetune,study')
  assert c.train.learning_rate == 2 * base.train.learning_rate
  assert c.train.critic_learning_rate == 2 * base.train.critic_learning_rate
  assert c.train.init_from == os.path.join(str(tmp_path), 'regression/seed=0')
  stochastic = study.config_for(study.plan(['regression', 'gan'])[-1], 'smoke', 'd', 'o')
  for field, value in study.STOCHASTIC_FIELDS.items():
    node = stochastic
    for part in field.split('.'):
      node = node[part]
    assert node == value


@pytest.fixture(scope='module')
def small_study(tmp_path_factory, smoke_data_dir):
  out = str(tmp_path_factory.mktemp('study'))
  kwargs = dict(
    size='smoke',
    methods=['regression', 'gan'],
    data_dir=smoke_data_dir,
    eval_items=2,
    noise_items=2,
    diversity_items=2,
    diversity_seeds=(0, 1),
    seeds=(0, 1),
    lr_scales=(2.0,),
  )
  return out, kwargs, study.run(out, **kwargs)


def test_study_writes_every_row(small_study):
  out, _, result = small_study
  assert set(result['status']) == {
    'regression/seed=0',
    'regression/seed=1',
    'regression/lr=2x',
    'gan/seed=0',
    'gan/seed=1',
    'gan/lr=2x',
    'gan_stochastic/seed=0',
  }
  assert {s['status'] for s in result['status'].values()} == {'done'}
  text = open(os.path.join(out, 'study.md')).read()
  for aspect in report.CLAIMS:
    assert f'| {aspect} |' in text
  assert os.path.getsize(os.path.join(out, 'learning_curves.png')) > 10_000
  # Harm per degradation and method (seed 0), the rule under it, the count over every run.
  lines = text.splitlines()
  start = lines.index('## Harm: test clips made worse than their input (seed 0)')
  assert lines[start + 2] == '| degradation | regression | gan |'
  degradations = list(load_config('regression', 'smoke,study').data.degradations)
  assert lines[start + 4].startswith(f'| {degradations[0]} | ')
  assert any(harm.rule_text() in line for line in lines[start:])
  assert 'Over every run of a method (seeds and learning rates), clips made worse: ' in text
  judged = result['evals']['gan/seed=0']['harm']
  assert list(judged) == [*degradations, 'all'] and 'harmed_clips' not in judged['all']
  assert judged['all']['clips'] == 2 * len(degradations)  # eval_items=2 test items each
  saved = json.load(open(os.path.join(out, 'study.json')))
  rows = saved['stability']
  assert len(rows['regression']['seeds']['lsd_high']) == 2
  assert set(rows['gan']['learning_rates']) == {'1x', '2x'}
  logged, total = rows['gan']['critic_at_chance']
  assert 0 <= logged <= total and total > 0  # the critic's signal was logged at every step
  assert rows['regression']['critic_at_chance'] == [0, 0]
  # Four validations per run, in order, timed; the GAN's curve starts after its warm start.
  reg = report.learning_curve(os.path.join(out, 'regression/seed=0'))
  gan = report.learning_curve(os.path.join(out, 'gan/seed=0'))
  assert [p['step'] for p in reg] == [1, 2, 3, 4]
  assert all(a['seconds'] < b['seconds'] for a, b in zip(reg, reg[1:]))
  assert gan[0]['seconds'] > reg[-1]['seconds'] * 0.5
  assert set(result['noise']['scores']['white:10']) >= {'input', 'regression', 'gan'}
  assert result['diversity']['regression']['log_spectral_std_db'] == 0.0
  assert result['diversity']['gan_stochastic']['log_spectral_std_db'] > 0.0


def test_study_rerun_reuses_trainings_and_scores(small_study):
  out, kwargs, first = small_study
  mtimes = {
    name: os.path.getmtime(os.path.join(out, name, 'eval', 'metrics.json'))
    for name in first['status']
  }
  again = study.run(out, **kwargs)
  assert {s['status'] for s in again['status'].values()} == {'reused'}
  assert again['evals'] == first['evals']
  for name, mtime in mtimes.items():  # read back, not recomputed
    assert os.path.getmtime(os.path.join(out, name, 'eval', 'metrics.json')) == mtime
