"""The study (``python -m restoration.study``) at smoke size: the plan, the preset, a real run of
regression + GAN (+ the stochastic GAN) through training, scoring and the report, and a re-run
that reuses everything."""

from __future__ import annotations

import json
import os

import pytest

from restoration import plan, study
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
  # Listed before its source, the GAN still trains after it.
  names = [r.name for r in study.plan(['gan', 'regression'], seeds=(0,), lr_scales=())]
  assert names == ['regression/seed=0', 'gan/seed=0', 'gan_stochastic/seed=0']
  with pytest.raises(ConfigError, match='warm start gan/seed=0:regression/seed=0'):
    study.plan(['gan'])


def test_default_methods_are_the_restoring_ones():
  names = study.default_methods()
  assert names[0] == 'regression' and 'features' not in names
  assert {'gan', 'wgan', 'projected_gan', 'diffusion', 'bridge', 'vocoder'} <= set(names)


def test_every_restoring_method_answers_for_one_side_of_the_paper():
  from restoration import methods

  sides = {m: report.side(methods.get(m).family) for m in study.default_methods()}
  assert None not in sides.values(), sides  # a new family must be given a side
  assert {m for m, s in sides.items() if s == 'GAN'} == {'gan', 'wgan', 'projected_gan'}
  diffusion = {m for m, s in sides.items() if s == 'diffusion'}
  assert {'diffusion', 'bridge', 'predictive_bridge', 'vocoder'} <= diffusion
  assert methods.get('bridge').family != methods.get('diffusion').family


@pytest.mark.parametrize('method', ['regression', 'gan', 'wgan', 'vocoder'])
def test_study_preset_quarters_the_demo(method):
  demo, tuned = load_config(method, 'demo'), load_config(method, 'demo,study')
  assert tuned.train.global_batch * 2 == demo.train.global_batch
  assert tuned.train.num_steps == demo.train.num_steps // 2
  # four validations per run: the learning curve's points
  assert -(-tuned.train.num_steps // tuned.train.eval_every) == 4
  ft = load_config(method, 'demo,finetune,study')
  assert ft.objective.adversarial.critic_warmup_steps < ft.train.num_steps


def test_run_config_scales_every_learning_rate(tmp_path):
  run = next(r for r in study.plan(['regression', 'gan']) if r.name == 'gan/lr=2x')
  c = plan.config(run, 'smoke', 'data/tfds', str(tmp_path), presets=('study',))
  base = load_config('gan', 'smoke,finetune,study')
  assert c.presets == base.presets
  assert c.train.learning_rate == 2 * base.train.learning_rate
  assert c.train.critic_learning_rate == 2 * base.train.critic_learning_rate
  assert c.train.init_from == os.path.join(str(tmp_path), 'regression/seed=0')
  stochastic = plan.config(study.plan(['regression', 'gan'])[-1], 'smoke', 'd', 'o', ('study',))
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
  # The critic's signal, logged at every step of the group's three runs, counted at chance.
  logged, total = rows['gan']['critic_at_chance']
  history = [
    h
    for name in ('gan/seed=0', 'gan/seed=1', 'gan/lr=2x')
    for line in open(os.path.join(out, name, 'train_log.jsonl'))
    for h in json.loads(line)['history']
  ]
  assert total == len(history) == 3 * load_config('gan', 'smoke,finetune,study').train.num_steps
  assert logged == sum(h['critic/accuracy'] <= report.CHANCE_ACCURACY for h in history)
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


# The nine verdict rules on constructed numbers: every figure a rule reads is set here, and each
# case changes only what its rule reads. BASE: GAN 'gan', diffusion 'diffusion', regression.
BASE = dict(
  methods=('regression', 'gan', 'diffusion'),
  critic_accuracy={'gan': [0.8, 0.7]},
  lsd_high={'regression': [3.0, 3.0], 'gan': [2.0, 2.4], 'diffusion': [1.0, 1.2]},
  lr_spread={'regression': 0.1, 'gan': 0.5, 'diffusion': 0.1},
  diversity={'gan_stochastic': 0.1, 'diffusion': 2.0},
  reached={'regression': 5.0, 'gan': 10.0, 'diffusion': 20.0},
  rtf={'regression': 0.1, 'gan': 0.2, 'diffusion': 3.0},
  noise_removed={'regression': 1.0, 'gan': 1.0, 'diffusion': 2.0},
  code_lines={'regression': 50, 'gan': 100, 'diffusion': 200},
)
PER_METHOD = ('critic_accuracy', 'lsd_high', 'lr_spread', 'reached', 'rtf', 'noise_removed')


def _verdict(monkeypatch, aspect: str, **changes) -> str:
  """The verdict word :func:`report.aspects` gives ``aspect`` on BASE with ``changes``."""
  s = {**BASE, **changes}
  ms = list(s['methods'])
  s.update({k: {m: v for m, v in s[k].items() if m in ms} for k in PER_METHOD if s[k]})
  lines = s['code_lines']
  monkeypatch.setattr(
    report,
    'train_summary',
    lambda path: {'code_lines': {'own': lines[os.path.basename(os.path.dirname(path))]}},
  )
  rows = {
    m: {
      'critic_accuracy': s['critic_accuracy'].get(m, []),
      'seeds': {'lsd_high': s['lsd_high'][m], 'mel_distance': [1.0]},
      'lr_spread': s['lr_spread'][m],
      'diverged': [],
      'runs': 5,
      'critic_at_chance': [0, 0],
    }
    for m in ms
  }
  removed = s['noise_removed']
  noise = {
    c: {m: {'noise_removed_db': {'mean': v}} for m, v in removed.items()} for c in report.NOISY
  }
  result = {
    'methods': ms,
    'evals': {
      f'{m}/seed=0': None
      if s['rtf'][m] is None
      else {'real_time_factor': s['rtf'][m], 'network_calls': 1}
      for m in ms
    },
    'diversity': {g: {'log_spectral_std_db': v} for g, v in s['diversity'].items()},
    'noise': {'scores': noise} if removed else {},
  }
  table = report.aspects('study', result, rows, s['reached'], target=1.5)
  assert [a for a, *_ in table] == list(report.CLAIMS)
  return next(v for a, _, _, v in table if a == aspect).split('**')[1]


def _plus(name: str, like: str, **figures) -> dict:
  """Changes adding method ``name`` with method ``like``'s figures, ``figures`` overriding."""
  out = {'methods': (*BASE['methods'], name)}
  for k in (*PER_METHOD, 'code_lines'):
    out[k] = {**BASE[k], name: figures.get(k, BASE[k].get(like))}
  return out


def test_base_scenario_agrees_on_every_aspect(monkeypatch):
  for aspect in report.CLAIMS:
    assert _verdict(monkeypatch, aspect) == 'agrees', aspect


def test_architecture_is_agreed_by_construction(monkeypatch):
  assert _verdict(monkeypatch, 'architecture', methods=('regression', 'gan')) == 'agrees'


def test_training_principle_rule(monkeypatch):
  rule = lambda **kw: _verdict(monkeypatch, 'training principle', **kw)  # noqa: E731
  assert rule(critic_accuracy={'gan': [0.51, 0.6]}) == 'agrees'
  assert rule(critic_accuracy={'gan': [0.5, 0.5]}) == 'disagrees'  # chance is not better
  assert rule(**_plus('wgan', 'gan', critic_accuracy=[0.45])) == 'disagrees'  # every GAN
  assert rule(**_plus('wgan', 'gan', critic_accuracy=[0.55])) == 'agrees'
  assert rule(methods=('regression', 'diffusion')) == 'not decided'  # no GAN
  assert rule(critic_accuracy={'gan': []}) == 'not decided'  # never measured
  assert rule(**_plus('wgan', 'gan', critic_accuracy=[])) == 'not decided'
  unmeasured_gan = _plus('wgan', 'gan', critic_accuracy=[0.45])
  unmeasured_gan['critic_accuracy'] = {**unmeasured_gan['critic_accuracy'], 'gan': []}
  assert rule(**unmeasured_gan) == 'disagrees'  # one GAN at chance decides it, whatever the other


def test_quality_rule(monkeypatch):
  rule = lambda **kw: _verdict(monkeypatch, 'quality', **kw)  # noqa: E731
  lsd = BASE['lsd_high']
  assert rule() == 'agrees'  # diffusion 1.1 against the GAN's 2.2; seed std at most 0.2
  assert rule(lsd_high={**lsd, 'gan': [1.0, 1.2], 'diffusion': [2.0, 2.4]}) == 'disagrees'
  # A gap within the leaders' larger seed std (0.2) is not decided, either way.
  assert rule(lsd_high={**lsd, 'gan': [1.0, 1.4], 'diffusion': [1.0, 1.2]}) == 'not decided'
  assert rule(lsd_high={**lsd, 'gan': [1.0, 1.2], 'diffusion': [1.0, 1.4]}) == 'not decided'
  # The best of each family is compared: a worse second GAN changes nothing, a better one does.
  assert rule(**_plus('wgan', 'gan', lsd_high=[5.0, 5.0])) == 'agrees'
  assert rule(**_plus('wgan', 'gan', lsd_high=[0.5, 0.5])) == 'disagrees'
  assert rule(methods=('regression', 'gan')) == 'not decided'  # no diffusion method


def test_stability_rule_counts_three_votes(monkeypatch):
  rule = lambda **kw: _verdict(monkeypatch, 'stability', **kw)  # noqa: E731
  calm_gan = {**BASE['lsd_high'], 'gan': [2.0, 2.0]}  # seed std 0 < diffusion's 0.1
  even_lr = {**BASE['lr_spread'], 'gan': 0.1}  # the same spread as diffusion's: not more
  spread_gan = {'gan_stochastic': 3.0, 'diffusion': 2.0}  # no mode collapse
  assert rule() == 'agrees'
  assert rule(lsd_high=calm_gan) == 'partly agrees'
  assert rule(lr_spread=even_lr) == 'partly agrees'
  assert rule(diversity=spread_gan) == 'partly agrees'
  assert rule(lsd_high=calm_gan, lr_spread=even_lr, diversity=spread_gan) == 'disagrees'
  # Without the stochastic GAN's spread the mode-collapse vote abstains; the other two decide.
  assert rule(diversity={'diffusion': 2.0}) == 'agrees'
  assert rule(diversity={'diffusion': 2.0}, lsd_high=calm_gan) == 'partly agrees'
  assert rule(diversity={'diffusion': 2.0}, lsd_high=calm_gan, lr_spread=even_lr) == 'disagrees'
  # Without a diffusion method no vote can be cast: not decided, never "disagrees".
  assert rule(methods=('regression', 'gan')) == 'not decided'


def test_compute_rule(monkeypatch):
  rule = lambda gan, diffusion, **kw: _verdict(  # noqa: E731
    monkeypatch, 'compute', reached={'regression': 1.0, 'gan': gan, 'diffusion': diffusion}, **kw
  )
  assert rule(10.0, 20.0) == 'agrees'
  assert rule(10.0, None) == 'agrees'  # diffusion never reached the target
  assert rule(20.0, 10.0) == 'disagrees'
  assert rule(10.0, 10.0) == 'disagrees'  # a tie is not less time
  assert rule(None, 10.0) == 'disagrees'
  assert rule(None, None) == 'not decided'
  assert rule(10.0, None, methods=('regression', 'gan')) == 'not decided'


def test_generation_speed_rule(monkeypatch):
  rule = lambda gan, diffusion: _verdict(  # noqa: E731
    monkeypatch, 'generation speed', rtf={'regression': 0.1, 'gan': gan, 'diffusion': diffusion}
  )
  assert rule(0.2, 3.0) == 'agrees'
  assert rule(0.2, 0.2) == 'disagrees'  # not slower
  assert rule(5.0, 3.0) == 'disagrees'
  assert rule(None, 3.0) == 'not decided'  # a method not scored
  assert rule(0.2, None) == 'not decided'
  assert _verdict(monkeypatch, 'generation speed', **_plus('wgan', 'gan', rtf=4.0)) == 'disagrees'


def test_noise_handling_rule(monkeypatch):
  rule = lambda gan, diffusion: _verdict(  # noqa: E731
    monkeypatch,
    'noise handling',
    noise_removed={'regression': 0, 'gan': gan, 'diffusion': diffusion},
  )
  assert rule(1.0, 1.6) == 'agrees'
  assert rule(1.0, 1.4) == 'disagrees'  # less than 0.5 dB more
  assert rule(2.0, 1.0) == 'disagrees'
  assert _verdict(monkeypatch, 'noise handling', noise_removed={}) == 'not decided'  # not run


def test_implementation_complexity_rule(monkeypatch):
  rule = lambda **kw: _verdict(monkeypatch, 'implementation complexity', **kw)  # noqa: E731
  assert rule(code_lines={'regression': 9, 'gan': 100, 'diffusion': 101}) == 'agrees'
  assert rule(code_lines={'regression': 9, 'gan': 100, 'diffusion': 100}) == 'disagrees'
  assert rule(methods=('regression', 'gan')) == 'not decided'


def test_uses_rule_needs_real_time_gans_and_the_quality_verdict(monkeypatch):
  rule = lambda **kw: _verdict(monkeypatch, 'uses', **kw)  # noqa: E731
  lsd = BASE['lsd_high']
  assert rule() == 'agrees'  # GAN RTF 0.2 < 1 and diffusion has the best detail
  assert rule(rtf={'regression': 0.1, 'gan': 1.0, 'diffusion': 3.0}) == 'disagrees'
  assert rule(lsd_high={**lsd, 'gan': [1.0, 1.2], 'diffusion': [2.0, 2.4]}) == 'disagrees'
  assert rule(lsd_high={**lsd, 'gan': [1.0, 1.4], 'diffusion': [1.0, 1.2]}) == 'not decided'
  assert rule(rtf={'regression': 0.1, 'gan': None, 'diffusion': 3.0}) == 'not decided'
