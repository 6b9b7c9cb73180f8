"""The harm rule on constructed per-clip scores: better, worse by each criterion, at a threshold."""

import json
import math

import pytest

from restoration.evaluate import harm

INPUT = {'si_sdr': 12.0, 'lsd': 1.5, 'pesq_wb': 2.5, 'visqol': 3.2, 'mel_distance': 0.4}


def _out(**changes):
  return {k: v + changes.get(k, 0.0) for k, v in INPUT.items()}


def test_a_better_output_is_not_harmed():
  [clip] = harm.judge([INPUT], [_out(si_sdr=3.0, lsd=-0.7, pesq_wb=0.4, visqol=0.6)])
  assert clip == harm.ClipHarm(False, ())


@pytest.mark.parametrize(
  'metric, worse',
  [
    ('si_sdr', -harm.SI_SDR_DROP_DB),
    ('lsd', harm.LSD_RISE),
    ('pesq_wb', -harm.PERCEPTUAL_DROP),
    ('visqol', -harm.PERCEPTUAL_DROP),
  ],
)
def test_each_criterion_fires_past_its_threshold_and_not_at_it(metric, worse):
  past, at, within = (_out(**{metric: worse * f}) for f in (1.01, 1.0, 0.5))
  assert harm.judge([INPUT], [past]) == [harm.ClipHarm(True, (metric,))]
  # Exactly at the threshold (e.g. LSD 1.5 -> 1.52, 0.02 up to float rounding) is not harm.
  assert harm.judge([INPUT] * 2, [at, within]) == [harm.ClipHarm(False, ())] * 2


def test_other_metrics_never_count_and_several_criteria_are_all_named():
  assert not harm.judge([INPUT], [_out(mel_distance=5.0)])[0].harmed
  [clip] = harm.judge([INPUT], [_out(si_sdr=-1.0, lsd=0.1, visqol=-1.0)])
  assert clip.criteria == ('si_sdr', 'lsd', 'visqol')


def test_a_criterion_not_scored_on_both_sides_does_not_fire():
  before = {'si_sdr': 12.0, 'lsd': 1.5, 'pesq_wb': math.nan, 'visqol': None}
  after = {'si_sdr': 12.0, 'lsd': 1.5, 'pesq_wb': 1.0, 'visqol': 1.0}
  assert not harm.judge([before], [after])[0].harmed
  assert not harm.judge([{'si_sdr': 12.0}], [{'lsd': 9.0}])[0].harmed
  assert harm.summarize([before], [after])['scored'] == {'si_sdr': 1, 'lsd': 1}
  # A silent output (SI-SDR -inf) is the worst drop there is.
  assert harm.judge([before], [dict(after, si_sdr=-math.inf)])[0].criteria == ('si_sdr',)
  with pytest.raises(ValueError, match='2 input scores but 1 output'):
    harm.judge([before] * 2, [after])


def test_summaries_count_share_criteria_and_the_recommendation():
  outputs = [_out(lsd=-0.5)] * 18 + [_out(lsd=-0.5, si_sdr=-2.0), _out(lsd=0.3, si_sdr=-2.0)]
  inputs = [INPUT] * 20
  s = harm.summarize(inputs, outputs, keys=[f'clip{i}' for i in range(20)])
  assert (s['clips'], s['harmed'], s['share']) == (20, 2, 0.1)
  assert s['criteria'] == {'si_sdr': 2, 'lsd': 1, 'pesq_wb': 0, 'visqol': 0}
  assert s['scored'] == {'si_sdr': 20, 'lsd': 20, 'pesq_wb': 20, 'visqol': 20}
  assert s['lsd']['input'] == pytest.approx(1.5) and s['lsd']['restored'] < 1.5
  assert s['harmed_clips'] == [
    {'key': 'clip18', 'criteria': ['si_sdr']},
    {'key': 'clip19', 'criteria': ['si_sdr', 'lsd']},
  ]
  assert not s['recommended'] and harm.verdict(s) == harm.NOT_RECOMMENDED  # 10% > 5%
  one = harm.summarize(inputs, outputs[:19] + [_out(lsd=-0.5)])  # 1 of 20: 5%, LSD lower
  assert one['share'] == harm.MAX_HARM_SHARE and harm.verdict(one) == harm.RECOMMENDED
  assert 'harmed_clips' not in one
  assert harm.count_text(one) == '1/20 (5.0%)' and harm.criteria_text(one) == 'SI-SDR 1'
  # No clip harmed but the mean LSD not lowered: nothing gained, not recommended.
  same = harm.summarize(inputs, inputs)
  assert same['harmed'] == 0 and not same['recommended'] and harm.criteria_text(same) == '–'
  # The restorer gave the input back: said as such, not as a failed recommendation.
  assert same['unchanged'] and harm.verdict(same) == harm.UNCHANGED
  nudged = harm.summarize(inputs, inputs[:19] + [{**INPUT, 'si_sdr': INPUT['si_sdr'] + 0.01}])
  assert not nudged['unchanged'] and harm.verdict(nudged) == harm.NOT_RECOMMENDED
  assert not s['unchanged'] and not one['unchanged']
  assert json.loads(json.dumps(s)) == s  # lists and str keys only: a JSON round trip is equal


def test_by_degradation_adds_all_and_only_measured_criteria():
  inputs = {'mp3:16': [{'lsd': 2.0, 'si_sdr': 10.0}] * 2, 'opus:12': [{'lsd': 1.0, 'si_sdr': 9.0}]}
  outputs = {'mp3:16': [{'lsd': 1.0, 'si_sdr': 10.0}, {'lsd': 1.0, 'si_sdr': 8.0}]}
  outputs['opus:12'] = [{'lsd': 0.9, 'si_sdr': 9.0}]
  s = harm.by_degradation(inputs, outputs, keys={'mp3:16': ['a', 'b'], 'opus:12': ['a']})
  assert list(s) == ['mp3:16', 'opus:12', 'all']
  assert s['mp3:16']['harmed_clips'] == [{'key': 'b', 'criteria': ['si_sdr']}]
  assert s['opus:12']['recommended'] and not s['mp3:16']['recommended']  # 1 of 2 harmed
  assert (s['all']['clips'], s['all']['harmed']) == (3, 1) and 'harmed_clips' not in s['all']
  assert set(s['all']['scored']) == {'si_sdr', 'lsd'}  # no perceptual scores given
  assert harm.count_text(None) == harm.verdict({'clips': 0}) == '–'


def test_the_rule_text_states_every_threshold():
  text = harm.rule_text()
  for c in harm.CRITERIA:
    assert f'{c.label} {"down" if c.higher_is_better else "up"} more than {c.threshold:g}' in text
  assert f'at most {harm.MAX_HARM_SHARE:.0%} of the clips' in text


def _evaluation(degradations, inputs, outputs):
  """An ``evaluate_workdir`` result of one single-pass run, from per-clip scores."""
  from restoration import metrics

  def block(d):
    side = lambda s: metrics.aggregate(s[d] if d != 'all' else [c for v in s.values() for c in v])  # noqa: E731
    return {'restored': side(outputs), 'degraded': side(inputs)}

  return {
    'num_clips': len(next(iter(inputs.values()))),
    'degradations': list(degradations),
    'perceptual': None,
    'runs': [
      {
        'steps': None,
        'network_calls': 1,
        'real_time_factor': 0.01,
        'metrics': {d: block(d) for d in [*degradations, 'all']},
        'perceptual': None,
        'harm': harm.by_degradation(inputs, outputs),
      }
    ],
  }


def test_the_demo_report_renders_harm_per_method_and_degradation(tmp_path):
  from restoration.evaluate import report

  degs = ('mp3:16', 'opus:12')
  inputs = {d: [dict(INPUT)] * 4 for d in degs}
  good = {d: [_out(lsd=-0.5)] * 4 for d in degs}
  noisy = {
    'mp3:16': [_out(lsd=-0.5, si_sdr=-3.0)] + [_out(lsd=-0.5)] * 3,
    'opus:12': good['opus:12'],
  }
  evals = {'regression': _evaluation(degs, inputs, good), 'gan': _evaluation(degs, inputs, noisy)}
  real = {
    'clips': [{'name': 'voice', 'kind': 'speech', 'seconds': 2.0}],
    'degradations': ['mp3:16'],
    'scores': {
      g: {'input': {'lsd': {'mean': 1.5}}, 'regression': {}, 'gan': {}}
      for g in ('speech mp3:16', 'speech', 'all')
    },
    'harm': {
      g: {'regression': harm.summarize(inputs['mp3:16'], good['mp3:16']), 'gan': None}
      for g in ('speech mp3:16', 'speech', 'all')
    },
  }
  path = report.write_demo_report(
    str(tmp_path), ['regression', 'gan'], evals, real, {}, str(tmp_path / 'none.png')
  )
  lines = open(path).read().splitlines()
  row = next(line for line in lines if line.startswith('| quality: clips made worse'))
  assert row.endswith('| 0/8 (0.0%) | 1/8 (12.5%) |')
  start = lines.index('## Harm: test clips made worse than their degraded input')
  assert lines[start + 2] == '| degradation | regression | gan |'
  assert lines[start + 4] == (
    '| mp3:16 | 0/4 (0.0%): recommended | 1/4 (25.0%), SI-SDR 1: not recommended |'
  )
  assert lines[start + 5] == '| opus:12 | 0/4 (0.0%): recommended | 0/4 (0.0%): recommended |'
  assert lines[start + 6].startswith('| all | 0/8 (0.0%): recommended | 1/8 (12.5%)')
  assert lines[start + 8].endswith(harm.rule_text())
  real_start = next(i for i, line in enumerate(lines) if line.startswith('Harm on the real'))
  assert lines[real_start + 2] == '| recordings | regression | gan |'
  assert lines[real_start + 4] == '| speech mp3:16 | 0/4 (0.0%): recommended | – |'
  assert lines[real_start + 7] == ''
  assert sum(harm.rule_text() in line for line in lines) == 1
  assert (
    '- Restoring recommended by the harm rule at: regression mp3:16, opus:12; gan opus:12.' in lines
  )
