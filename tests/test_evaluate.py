"""evaluate_workdir on smoke-trained runs: the test split, diffusion step counts, user files, and
the harm counts of restorers that change nothing or make every clip worse."""

import json
import runpy
import sys

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from test_metrics import CORE
from test_restore import chirp

from restoration import metrics, spectral
from restoration.data import audio, builder, codecs, synthesis
from restoration.evaluate import evaluate, harm
from restoration.objectives import sampling


@pytest.fixture(scope='module')
def regression(smoke_run):
  return smoke_run('regression')


@pytest.fixture(scope='module')
def diffusion(smoke_run):
  return smoke_run('diffusion')


def _saved_config(workdir):
  from restoration import inference

  return inference.load_workdir(workdir)[0]


def test_test_split_scores_and_files(regression):
  result = evaluate.evaluate_workdir(regression, optional_metrics=False)
  config = _saved_config(regression)
  degradations = list(config.data.degradations)
  with open(f'{regression}/eval/metrics.json') as f:
    on_disk = json.load(f)
  assert on_disk['checkpoint_step'] == result['checkpoint_step'] == config.train.num_steps
  assert result['method'] == 'regression' and result['params'] > 0
  assert result['num_clips'] == config.data.num_test
  [run] = result['runs']
  assert run['steps'] is None and run['network_calls'] == 1 and run['real_time_factor'] > 0
  assert set(run['metrics']) == {*degradations, 'all'}
  for name, kinds in run['metrics'].items():
    n = config.data.num_test * (len(degradations) if name == 'all' else 1)
    for kind in ('restored', 'degraded'):
      assert set(CORE) <= set(kinds[kind]), (name, kind)
      assert kinds[kind]['lsd']['n'] == n and np.isfinite(kinds[kind]['lsd']['mean'])
  # The degraded-input scores, recomputed here straight from the dataset.
  source = builder.get_builder(config.data).as_data_source('test')
  p = spectral.SpectralParams.from_config(config.spectral)
  for d, name in enumerate(degradations):
    expected = metrics.aggregate(
      metrics.compute_all(
        item['clean'][:, 0] / 32768,
        item['degraded'][d, :, 0] / 32768,
        config.data.sample_rate,
        params=p,
        optional=False,
      )
      for item in (source[i] for i in range(len(source)))
    )
    for metric in CORE:
      assert run['metrics'][name]['degraded'][metric]['mean'] == pytest.approx(
        expected[metric]['mean'], rel=1e-5, abs=1e-9
      ), (name, metric)
  with open(f'{regression}/eval/metrics.md') as f:
    table = f.read()
  assert '| degradation | steps | NFE | RTF | LSD | LSD-high | SI-SDR |' in table
  lsd = run['metrics']['all']
  assert '| all | - | 1 |' in table
  assert f'{lsd["restored"]["lsd"]["mean"]:.3g} ({lsd["degraded"]["lsd"]["mean"]:.3g})' in table


def test_perceptual_subset_falls_back_to_the_lowest_mp3(regression, tmp_path):
  result = evaluate.evaluate_workdir(
    regression, optional_metrics=False, perceptual_items=2, out_dir=str(tmp_path)
  )
  config = _saved_config(regression)
  info = result['perceptual']
  # Smoke degradations are mp3:24 and opus:12: no mp3:16, so the lowest-bitrate MP3.
  assert info['degradation'] == 'mp3:24' and 'mp3:16 is not' in info['rule']
  # The smoke test split is all music: its first two items, ViSQOL only.
  source = builder.get_builder(config.data).as_data_source('test')
  first = [source[i] for i in range(2)]
  assert info['items'] == [{'key': it['key'].decode(), 'kind': 'music'} for it in first]
  assert info['metrics'] == {'music': ['visqol']} and info['seconds'] > 0
  # The kind comes from the seed the builder synthesised the item with.
  index = int(first[0]['key'].decode().split('/')[1])
  wave = synthesis.synthesize(index, config.data.shuffle_seed, config.data.sample_rate, 1.0)
  assert np.abs(first[0]['clean'][:, 0] / 32768 - wave).max() < 1e-3
  assert synthesis.material(index, config.data.shuffle_seed) == 'music'
  d = list(config.data.degradations).index('mp3:24')
  expected = np.mean(
    [
      metrics.visqol(it['clean'][:, 0] / 32768, it['degraded'][d, :, 0] / 32768, 16000)
      for it in first
    ]
  )
  [run] = result['runs']
  assert set(run['perceptual']['degraded']) == set(run['perceptual']['restored']) == {'visqol'}
  assert run['perceptual']['degraded']['visqol']['n'] == 2
  assert run['perceptual']['degraded']['visqol']['mean'] == pytest.approx(expected, rel=1e-4)
  assert run['perceptual']['restored']['visqol']['n'] == 2
  table = (tmp_path / 'metrics.md').read_text()
  assert 'Perceptual subset at mp3:24' in table and '| steps | ViSQOL |' in table
  off = evaluate.evaluate_workdir(
    regression, optional_metrics=False, perceptual_items=0, max_items=1, out_dir=str(tmp_path)
  )
  assert off['perceptual'] is None and off['runs'][0]['perceptual'] is None


def test_damage_degradation_prefers_mp3_16_then_the_lowest_mp3():
  assert evaluate.damage_degradation(['mp3:32', 'mp3:16', 'opus:12']) == (
    'mp3:16',
    'the lowest-bitrate MP3 configured',
  )
  assert evaluate.damage_degradation(['opus:12', 'mp3:24', 'mp3:64'])[0] == 'mp3:24'
  chosen, rule = evaluate.damage_degradation(['opus:24', 'vorbis:32', 'opus:12'])
  assert chosen == 'opus:12' and 'no MP3' in rule


def test_diffusion_step_counts(diffusion, tmp_path):
  result = evaluate.evaluate_workdir(
    diffusion, steps_list=[1, 8], max_items=2, out_dir=str(tmp_path), optional_metrics=False
  )
  config = _saved_config(diffusion)
  runs = result['runs']
  assert [r['steps'] for r in runs] == [1, 8]
  assert [r['network_calls'] for r in runs] == [
    sampling.num_network_calls(config.sampling.sampler, s) for s in (1, 8)
  ]
  # Speed per step count is the benchmark's to measure (a loaded machine skews timings, and
  # chunks the band gate keeps skip the network at any count).
  assert all(r['real_time_factor'] > 0 for r in runs)
  assert result['num_clips'] == 2
  saved = json.loads((tmp_path / 'metrics.json').read_text())
  assert [r['steps'] for r in saved['runs']] == [1, 8]
  assert '| all | 8 |' in (tmp_path / 'metrics.md').read_text()


def test_user_files_through_the_cli(regression, tmp_path, monkeypatch, caplog):
  data = tmp_path / 'clean'
  data.mkdir()
  sf.write(data / 'a.wav', chirp(2.5, 44100, 2), 44100)
  sf.write(data / 'b.flac', chirp(1.5, 22050, 1), 22050)
  out = tmp_path / 'eval'
  monkeypatch.setattr(
    sys,
    'argv',
    [
      'evaluate',
      f'--workdir={regression}',
      f'--data={data}',
      '--max_seconds=2',
      f'--out_dir={out}',
      '--no-optional_metrics',
    ],
  )
  with pytest.raises(SystemExit) as done, caplog.at_level('WARNING', logger='restoration'):
    runpy.run_module('restoration.evaluate', run_name='__main__')
  assert done.value.code == 0
  notes = [r.getMessage() for r in caplog.records if r.name == 'restoration']
  assert len(notes) == 1 and 'band-limited to 8000 Hz' in notes[0] and ' 2 of ' in notes[0]
  result = json.loads((out / 'metrics.json').read_text())
  assert result['data'] == [str(data / 'a.wav'), str(data / 'b.flac')]
  assert result['num_clips'] == 2 and result['audio_seconds'] == pytest.approx(3.5)
  config = _saved_config(regression)
  [run] = result['runs']
  # a.wav, as evaluate should see it: mono at the model rate, its middle 2 s, then MP3.
  sr = config.data.sample_rate
  clean, _ = audio.load(data / 'a.wav', sample_rate=sr, channels=1)
  clean = clean[(len(clean) - 2 * sr) // 2 :][: 2 * sr]
  name = config.data.degradations[0]
  degraded = codecs.degrade(clean, sr, *codecs.parse_degradation(name))
  b_clean, _ = audio.load(data / 'b.flac', sample_rate=sr, channels=1)
  b_degraded = codecs.degrade(b_clean, sr, *codecs.parse_degradation(name))
  p = spectral.SpectralParams.from_config(config.spectral)
  expected = metrics.aggregate(
    [
      metrics.compute_all(clean, degraded, sr, params=p, optional=False),
      metrics.compute_all(b_clean, b_degraded, sr, params=p, optional=False),
    ]
  )
  assert run['metrics'][name]['degraded']['lsd']['mean'] == pytest.approx(
    expected['lsd']['mean'], rel=1e-5
  )
  assert run['metrics'][name]['restored']['lsd']['n'] == 2
  # User files have no kind: the perceptual subset scores every metric on them.
  everything = ['pesq_wb', 'stoi', 'visqol', *metrics.DNSMOS]
  assert result['perceptual']['metrics'] == {'unknown': everything}
  assert [it['key'] for it in result['perceptual']['items']] == result['data']
  assert set(run['perceptual']['restored']) == set(everything)
  assert run['perceptual']['degraded']['stoi']['n'] == 2


def test_workdir_without_checkpoint_is_one_line_error(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(sys, 'argv', ['evaluate', f'--workdir={tmp_path}', '--no-optional_metrics'])
  with pytest.raises(SystemExit) as done:
    runpy.run_module('restoration.evaluate', run_name='__main__')
  assert done.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith('evaluate: error: ') and str(tmp_path) in err[0]


class _Fixed:
  """A loaded restorer whose output is ``fn(its input)``: the identity, or a made-worse input."""

  def __init__(self, restorer, fn):
    self._restorer, self._fn = restorer, fn

  def __getattr__(self, name):
    return getattr(self._restorer, name)

  def with_steps(self, steps):
    return self

  def restore_waves(self, waves, index=0):
    return self._fn(np.asarray(waves, np.float32)).astype(np.float32)


@pytest.fixture(scope='module')
def loaded(regression):
  from restoration.inference import Restorer

  return Restorer(regression)


def test_an_identity_restorer_harms_no_clip_and_is_left_as_it_was(loaded, tmp_path):
  result = evaluate.evaluate_workdir(
    loaded.workdir,
    restorer=_Fixed(loaded, lambda w: w),
    optional_metrics=False,
    perceptual_items=1,
    out_dir=str(tmp_path),
  )
  [run] = result['runs']
  damage = result['perceptual']['degradation']
  assert set(run['harm']) == {*result['degradations'], 'all'}
  for name, s in run['harm'].items():
    clips = result['num_clips'] * (len(result['degradations']) if name == 'all' else 1)
    assert (s['clips'], s['harmed'], s['share']) == (clips, 0, 0.0), name
    assert set(s['criteria'].values()) == {0} and s['scored']['lsd'] == clips
    # The evaluation's own per-clip scores, judged: their means are the table's.
    assert s['lsd']['input'] == pytest.approx(run['metrics'][name]['degraded']['lsd']['mean'])
    assert s['lsd']['restored'] == s['lsd']['input']
    assert not s['recommended']  # harmless, but the mean LSD is not lowered either
    assert s['unchanged'] and harm.verdict(s) == harm.UNCHANGED
    assert s.get('harmed_clips', []) == []
  # The perceptual subset's ViSQOL joins its clip's scores at its degradation only.
  assert run['harm'][damage]['scored']['visqol'] == 1
  assert run['harm']['all']['scored']['visqol'] == 1
  assert all(
    'visqol' not in run['harm'][d]['scored'] for d in result['degradations'] if d != damage
  )
  table = (tmp_path / 'metrics.md').read_text()
  assert '| degradation | steps | harmed clips | criteria fired | LSD restored (input) |' in table
  assert f'| {damage} | - | 0/{result["num_clips"]} (0.0%) | – |' in table
  assert table.rstrip().endswith(harm.rule_text())
  assert json.loads((tmp_path / 'metrics.json').read_text())['runs'][0]['harm'] == run['harm']


def _noisy(w):
  return w + 0.05 * np.random.default_rng(0).standard_normal(w.shape)


def _low_passed(w):
  return scipy.signal.sosfiltfilt(scipy.signal.butter(8, 1500, fs=16000, output='sos'), w)


@pytest.mark.parametrize('worse, criterion', [(_noisy, 'si_sdr'), (_low_passed, 'lsd')])
def test_a_worse_output_is_counted_as_harm_on_every_clip(loaded, tmp_path, worse, criterion):
  result = evaluate.evaluate_workdir(
    loaded.workdir,
    restorer=_Fixed(loaded, worse),
    optional_metrics=False,
    perceptual_items=0,
    out_dir=str(tmp_path),
  )
  [run] = result['runs']
  source = builder.get_builder(_saved_config(loaded.workdir).data).as_data_source('test')
  keys = [source[i]['key'].decode() for i in range(len(source))]
  for name in result['degradations']:
    s = run['harm'][name]
    assert (s['harmed'], s['share']) == (result['num_clips'], 1.0), (name, s)
    assert s['criteria'][criterion] == s['clips'] and not s['recommended']
    assert [c['key'] for c in s['harmed_clips']] == keys
    assert all(criterion in c['criteria'] for c in s['harmed_clips'])
  n = result['num_clips'] * len(result['degradations'])
  assert run['harm']['all']['harmed'] == n
  table = (tmp_path / 'metrics.md').read_text()
  assert f'| all | - | {n}/{n} (100.0%) |' in table
  assert f'| {harm.NOT_RECOMMENDED} |' in table
