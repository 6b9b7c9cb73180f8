"""The comparison pipeline behind `make demo`, at smoke size: warm-started GAN, the equal-budget
regression column, evaluation, figure and report, with no real recordings."""

import json

import pytest

from restoration import compare
from restoration.errors import ConfigError
from restoration.evaluate import harm


def test_warm_started_comparison_with_an_equal_budget_baseline(smoke_data_dir, tmp_path):
  out = tmp_path / 'cmp'
  result = compare.run(
    str(out),
    'smoke',
    ['regression', 'gan', 'predictive_bridge'],
    smoke_data_dir,
    real=False,
    warm_start={'gan': 'regression'},
    equal_budget=True,
  )
  assert set(result['evals']) == {'regression', 'gan', 'predictive_bridge', compare.EQUAL_BUDGET}
  gan = [json.loads(line) for line in open(out / 'gan' / 'train_log.jsonl')]
  # The GAN fine-tunes (the finetune preset's learning rate); the bridge reads its predictor.
  assert gan[-1]['last']['learning_rate'] <= 2e-4
  bridge = [json.loads(line) for line in open(out / 'predictive_bridge' / 'train_log.jsonl')]
  assert bridge[-1]['init_from']['workdir'] == str(out / 'regression')
  extra = [json.loads(line) for line in open(out / compare.EQUAL_BUDGET / 'train_log.jsonl')]
  assert gan[-1]['init_from']['workdir'] == str(out / 'regression')
  assert extra[-1]['init_from']['workdir'] == str(out / 'regression')
  assert extra[-1]['method'] == 'regression' and extra[-1]['end_step'] >= 1
  report = (out / 'report.md').read_text()
  header = next(line for line in report.splitlines() if line.startswith('| aspect |'))
  assert compare.EQUAL_BUDGET in header and '| gan |' in header
  cols = [c.strip() for c in header.split('|')[1:-1]]
  accuracy = next(line for line in report.splitlines() if 'critic accuracy, held-out' in line)
  cells = dict(zip(cols, (c.strip() for c in accuracy.split('|')[1:-1])))
  held_out, on_training = (gan[-1]['last'][k] for k in ('eval/critic_accuracy', 'critic/accuracy'))
  assert cells['regression'] == '–'
  assert cells['gan'] == f'{held_out:.3g} ({on_training:.3g})'
  assert (out / 'spectrograms.png').stat().st_size > 0
  assert 'reused the finished' not in report
  assert 'docs/study.md' in report
  # The generative methods' targets, said against both regression baselines, met or not.
  for m in ('gan', 'predictive_bridge'):
    target = next(line for line in report.splitlines() if f'Target for **{m}**' in line)
    assert target.count(': met') + target.count(': missed') == 2
    assert f'vs {compare.EQUAL_BUDGET}: LSD-high' in target
  assert 'Target for **regression' not in report
  # Per degradation and method, the clips restoring made worse and the recommendation.
  lines = report.splitlines()
  start = lines.index('## Harm: test clips made worse than their degraded input')
  assert lines[start + 2] == '| degradation | ' + ' | '.join(cols[2:]) + ' |'
  degradations = result['evals']['regression']['degradations']
  rows = lines[start + 4 : start + 5 + len(degradations)]
  assert [r.split(' | ')[0] for r in rows] == [f'| {d}' for d in [*degradations, 'all']]
  for r in rows:
    cells = [c.strip() for c in r.split('|')[2:-1]]
    verdicts = (harm.RECOMMENDED, harm.NOT_RECOMMENDED, harm.UNCHANGED)
    assert all(c.endswith(tuple(f': {v}' for v in verdicts)) for c in cells)
  assert lines[start + 6 + len(degradations)].endswith(harm.rule_text())
  assert '- Restoring recommended by the harm rule at: regression ' in report
  # The bridge's step counts are swept on a subset; the table's count is scored on the split.
  sweep, scored = result['sweeps']['predictive_bridge'], result['evals']['predictive_bridge']
  assert [r['steps'] for r in sweep['runs']] == [1, 2] and len(scored['runs']) == 1
  lsd = {r['steps']: r['metrics']['all']['restored']['lsd']['mean'] for r in sweep['runs']}
  assert scored['runs'][0]['steps'] == min(lsd, key=lsd.get)
  assert sweep['num_clips'] == min(compare.SWEEP_ITEMS, scored['num_clips'])
  assert (out / 'predictive_bridge' / 'eval' / 'steps' / 'metrics.json').exists()
  assert f'Scored on the first {sweep["num_clips"]} test clips' in report
  assert set(result['sweeps']) == {'predictive_bridge'}
  # A re-run trains nothing again and says so.
  again = compare.run(str(out), 'smoke', ['regression'], smoke_data_dir, real=False)
  assert again['timings']['reused'] == ['regression']
  assert 'reused the finished trainings of regression' in (out / 'report.md').read_text()


def test_a_warm_start_needs_its_source_among_the_methods(smoke_data_dir, tmp_path):
  with pytest.raises(ConfigError, match='warm start gan:regression: expected regression among'):
    compare.run(
      str(tmp_path),
      'smoke',
      ['gan', 'wgan'],
      smoke_data_dir,
      False,
      warm_start={'gan': 'regression'},
    )
  assert not (tmp_path / 'gan').exists()  # refused before anything trains


def test_full_band_models_train_beside_the_16k_ones_and_are_scored_on_stereo_music(
  smoke_data_dir, tmp_path
):
  from restoration.evaluate import real_audio, report

  out = tmp_path / 'cmp'
  result = compare.run(
    str(out),
    'smoke',
    ['regression'],
    smoke_data_dir,
    real=False,
    warm_start={'gan': 'regression'},
    full_band=['regression', 'gan'],
  )
  wide = result[compare.FULL_BAND]
  assert wide['methods'] == ['regression', 'gan'] and set(wide['evals']) == {'regression', 'gan'}
  gan = [json.loads(line) for line in open(out / 'music44k' / 'gan' / 'train_log.jsonl')]
  assert gan[-1]['init_from']['workdir'] == str(out / 'music44k' / 'regression')
  assert wide['evals']['regression']['sample_rate'] == 44100
  text = (out / 'report.md').read_text()
  assert '## Full-band models: 44.1 kHz stereo music' in text
  assert 'train_music44k_gan_seconds' in text and 'music44k_prepare_seconds' in text

  # The real music at the models' rate, in stereo, the high band from each clip's codec cut-off.
  flute = next(s for s in real_audio.REAL_SOURCES if s.name == 'pyo_flute')
  if real_audio.missing_packages([flute]):  # `make test` as root (CI) installs them first
    pytest.fail('real recordings need their Debian packages: run `make real-audio`')
  from restoration.inference import Restorer

  # A restorer that keeps every chunk (no band edge lies below 0.001 of Nyquist) writes its input.
  keep = Restorer(str(out / 'music44k' / 'regression'), identity_above=1e-3, tail_parts=1)
  real = compare.score_real_recordings(
    str(out / 'music44k'),
    ['regression', 'kept'],
    degradations=('mp3:64', 'opus:96'),
    max_seconds=1.0,
    sources=[flute],
    visqol_degradations=(),
    restorers={'regression': wide_restorer(out), 'kept': keep},
    kinds=('music',),
    cutoff_from_codec=True,
  )
  assert (real['sample_rate'], real['channels']) == (44100, 2)
  assert real['high_band'] == "above each clip's codec cut-off"
  assert set(real['per_clip']) == {'music mp3:64', 'music opus:96'}
  # An output within half a 16-bit step of its input is scored as the input, and counted.
  for rows in real['per_clip'].values():
    assert rows['kept'] == rows['input']
  assert real['outputs_same_as_input'] >= 2
  assert harm.verdict(real['harm']['music']['kept']) == harm.UNCHANGED
  table = report.full_band_targets(['regression', 'kept'], real)
  assert [line.split(' | ')[:2] for line in table[2:]] == [
    ['| music mp3:64', 'regression'],
    ['| music mp3:64', 'kept'],
    ['| music opus:96', 'regression'],
    ['| music opus:96', 'kept'],
  ]
  assert table[3].endswith('| 0/1 | +0.00 (+0.00) | 1/1 |')


def wide_restorer(out):
  from restoration.inference import Restorer

  return Restorer(str(out / 'music44k' / 'regression'), tail_parts=1)
