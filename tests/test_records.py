"""The run record: a segment written is the segment read, older lines read with defaults, and
the one budget rule on constructed segments (a warm-start chain charged once per link)."""

import json

import pytest

from restoration import records
from restoration.evaluate import report
from restoration.records import Budget, RecordError, Segment, Source


def _segment(start, end, wall, compile_s, eval_s, method='gan', **fields):
  return Segment(
    method=method,
    start_step=start,
    end_step=end,
    wall_seconds=wall,
    compile_seconds=compile_s,
    eval_seconds=eval_s,
    **fields,
  )


def test_written_segments_read_back_equal(tmp_path):
  first = _segment(
    0,
    4,
    10.0,
    2.0,
    1.0,
    out_of_time=True,
    skipped_steps=1,
    devices=8,
    params={'generator': 123},
    describe={'family': 'GAN'},
    gflops_per_audio_second={'generator': 0.5},
    code_lines={'own': 10, 'specific': 20, 'shared': 30},
    init_from=Source(3, 7.0, 1.0, 2.0, workdir='/runs/regression', method='regression'),
    last={'loss': 0.25, 'eval/lsd': 1.5},
    curve=[{'step': 4, 'train_seconds': 9.0, 'lsd': 1.5, 'lsd_high': 2.5}],
    history=[{'step': 4, 'loss': 0.25}],
  )
  second = _segment(4, 6, 5.0, 1.0, 0.0)
  assert records.read(tmp_path) == []
  records.append(tmp_path, first)
  records.append(tmp_path, second)
  assert records.read(tmp_path) == [first, second]
  line = json.loads((tmp_path / 'train_log.jsonl').read_text().splitlines()[0])
  assert line['init_from'] == {
    'steps': 3,
    'wall_seconds': 7.0,
    'compile_seconds': 1.0,
    'eval_seconds': 2.0,
    'workdir': '/runs/regression',
    'method': 'regression',
  }


def test_an_older_line_reads_with_defaults(tmp_path):
  old = {  # before eval_seconds, out_of_time and the run facts; its warm start without timings
    'method': 'gan',
    'start_step': 0,
    'end_step': 5,
    'wall_seconds': 12.0,
    'compile_seconds': None,
    'skipped_steps': 0,
    'params': {'generator': 7},
    'init_from': {
      'workdir': '/runs/regression',
      'method': 'regression',
      'steps': 9,
      'wall_seconds': 30.0,
    },
    'last': {'loss': 0.5},
    'a_key_from_a_newer_writer': 1,
  }
  (tmp_path / 'train_log.jsonl').write_text(json.dumps(old) + '\n')
  [segment] = records.read(tmp_path)
  assert segment.eval_seconds == 0.0 and segment.compile_seconds == 0.0
  assert not segment.out_of_time and segment.curve == [] and segment.describe == {}
  assert segment.init_from == Source(9, 30.0, workdir='/runs/regression', method='regression')
  cost = records.budget([segment])
  assert cost.total == Budget(14, 42.0, 0.0, 0.0)


def test_a_line_that_is_no_segment_names_the_file_and_line(tmp_path):
  path = tmp_path / 'train_log.jsonl'
  path.write_text(json.dumps({'method': 'gan', 'start_step': 0}) + '\n')
  with pytest.raises(RecordError, match=rf'^{path}:1: not a segment record \(missing end_step, '):
    records.read(tmp_path)
  path.unlink()
  records.append(tmp_path, _segment(0, 1, 1.0, 0.5, 0.0))
  whole = path.read_text()
  path.write_text(whole + whole[: len(whole) // 2])  # a write cut short
  with pytest.raises(RecordError, match=rf'^{path}:2: not a segment record \(Expecting'):
    records.read(tmp_path)


def test_a_warm_start_chain_is_charged_once_per_link(tmp_path):
  """regression -> gan (warm-started from it) -> a second GAN stage from the gan run; the gan
  run was resumed once, and its later segment's init_from is not charged again."""
  regression, gan, stage2 = (tmp_path / n for n in ('regression', 'gan', 'stage2'))
  for d in (regression, gan, stage2):
    d.mkdir()
  records.append(regression, _segment(0, 100, 50.0, 5.0, 10.0, 'regression'))
  records.append(regression, _segment(100, 150, 20.0, 4.0, 2.0, 'regression'))
  assert records.source(regression) == Source(
    150, 70.0, 9.0, 12.0, workdir=str(regression), method='regression'
  )

  warm = records.source(regression)
  records.append(gan, _segment(0, 40, 30.0, 6.0, 3.0, init_from=warm))
  # a resumed segment records the source again; the rule reads the first segment's only
  records.append(gan, _segment(40, 60, 15.0, 5.0, 1.0, init_from=warm))
  cost = records.budget(records.read(gan))
  assert cost.own == Budget(60, 45.0, 11.0, 4.0)
  assert cost.warm_start == warm
  assert cost.total == Budget(210, 115.0, 20.0, 16.0)
  assert cost.total.train_seconds == 99.0  # wall - validation: compilation counts
  assert cost.own.steps_per_second == 60 / 30.0  # stepping only

  records.append(stage2, _segment(0, 10, 8.0, 2.0, 1.0, init_from=records.source(gan)))
  chain = records.budget(records.read(stage2))
  assert chain.warm_start.steps == 210 and chain.warm_start.wall_seconds == 115.0
  assert chain.total == Budget(220, 123.0, 22.0, 17.0)

  gan_curve = [{'step': 40, 'train_seconds': 20.0, 'lsd': 2.0, 'lsd_high': 3.0}]
  later = [{'step': 60, 'train_seconds': 12.0, 'lsd': 1.0, 'lsd_high': 2.0}]
  segments = [
    _segment(0, 40, 30.0, 6.0, 3.0, init_from=warm, curve=gan_curve),
    _segment(40, 60, 15.0, 5.0, 1.0, init_from=warm, curve=later),
  ]
  # seconds: the source's training (70 - 12) + this run's so far
  assert [p['seconds'] for p in records.curve(segments)] == [58.0 + 20.0, 58.0 + 27.0 + 12.0]


def test_the_report_reads_the_same_budget(tmp_path):
  regression, gan = tmp_path / 'regression', tmp_path / 'gan'
  regression.mkdir(), gan.mkdir()
  records.append(regression, _segment(0, 100, 50.0, 5.0, 10.0, 'regression'))
  records.append(gan, _segment(0, 40, 30.0, 6.0, 4.0, init_from=records.source(regression)))
  summary = report.train_summary(str(gan))
  assert summary['wall_seconds'] == 30.0 and summary['steps_per_second'] == 2.0
  assert summary['total_wall_seconds'] == 80.0 and summary['init_from'].method == 'regression'
  assert report.budget_note(str(tmp_path), ['regression', 'gan'])[1].count('gan 80 s') == 1
  assert report.train_summary(str(tmp_path / 'missing')) == {}
