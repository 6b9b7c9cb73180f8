"""Real recordings: the source table, install check, clips' order, level and bandwidth."""

import json
import logging
import os
import subprocess

import numpy as np
import pytest
import soundfile as sf

from restoration import compare, metrics
from restoration.data import codecs, synthesis
from restoration.evaluate import real_audio, report
from restoration.evaluate.real_audio import REAL_SOURCES, RealAudioError, RealSource

SR = 16000
SECONDS = 4.0
PEAK = 10 ** (real_audio.PEAK_DBFS / 20)


ABSENT = RealSource('absent', 'speech', 'no-such-package', ('/nonexistent/*.wav',), 'none', '')


@pytest.fixture(scope='module')
def clips():
  missing = real_audio.missing_packages()
  if missing:  # `make test` as root on Debian (CI) installs them before the tests
    pytest.fail(f'real recordings need the Debian packages {missing}: run `make real-audio`')
  return real_audio.load_real_clips(SR, max_seconds=SECONDS)


def high_band_fraction(wave: np.ndarray, cutoff_hz: float = 4000.0) -> float:
  power = np.abs(np.fft.rfft(wave)) ** 2
  return float(power[np.fft.rfftfreq(len(wave), 1 / SR) >= cutoff_hz].sum() / power.sum())


def test_table_is_well_formed():
  names = [s.name for s in REAL_SOURCES]
  assert len(set(names)) == len(names)
  for s in REAL_SOURCES:
    assert s.name.isidentifier(), s.name
    assert s.kind in real_audio.KINDS, s
    assert s.package and s.package == s.package.strip().lower() and ' ' not in s.package, s
    assert s.paths and all(os.path.isabs(p) for p in s.paths), s
    assert s.license and s.description, s
  kinds = [s.kind for s in REAL_SOURCES]
  assert kinds.count('speech') >= 6 and kinds.count('music') >= 6


def test_clips_are_mono_cropped_and_peak_normalised_in_table_order(clips):
  assert [c['name'] for c in clips] == [s.name for s in REAL_SOURCES]
  assert {c['kind'] for c in clips} == {'speech', 'music'}
  for c in clips:
    wave = c['wave']
    assert wave.dtype == np.float32 and wave.ndim == 1 and c['sample_rate'] == SR, c['name']
    assert 2 * SR <= len(wave) <= SECONDS * SR, (c['name'], len(wave))
    assert np.isfinite(wave).all()
    assert abs(np.abs(wave).max() - PEAK) < 1e-6, c['name']
    # Leading silence was skipped: the first 20 ms are within 40 dB of the loudest frame.
    frames = wave[: len(wave) // 320 * 320].reshape(-1, 320)
    assert np.mean(frames[0] ** 2) > 1e-4 * np.max(np.mean(frames**2, axis=1)), c['name']
  assert any(len(c['wave']) == SECONDS * SR for c in clips)


def test_kinds_selects_the_same_deterministic_clips(clips):
  speech = real_audio.load_real_clips(SR, max_seconds=SECONDS, kinds=('speech',))
  expected = [c for c in clips if c['kind'] == 'speech']
  assert [c['name'] for c in speech] == [c['name'] for c in expected]
  for got, want in zip(speech, expected):
    np.testing.assert_array_equal(got['wave'], want['wave'])


def test_clips_carry_energy_above_4khz(clips):
  fractions = {c['name']: high_band_fraction(c['wave']) for c in clips}
  assert min(fractions.values()) > 5e-5, fractions  # every clip: more than -43 dB
  assert np.median(list(fractions.values())) > 1e-3, fractions


def test_mp3_damage_is_measurable_and_ordered_by_bitrate(clips):
  for kind in real_audio.KINDS:
    wave = next(c['wave'] for c in clips if c['kind'] == kind)
    lsd = [metrics.lsd(wave, codecs.degrade(wave, SR, 'mp3', kbps), SR) for kbps in (16, 32)]
    assert lsd[0] > lsd[1] + 0.5 and lsd[1] > 0.5, (kind, lsd)


def test_concatenates_trims_silence_crops_and_normalises(tmp_path):
  noise = np.random.default_rng(0).uniform(-0.1, 0.1, (2, SR // 2)).astype(np.float32)
  silence = np.zeros(SR // 2, np.float32)  # 25 whole 20 ms frames
  sf.write(tmp_path / 'a.wav', np.concatenate([silence, noise[0]]), SR, subtype='FLOAT')
  sf.write(tmp_path / 'b.wav', np.concatenate([noise[1], silence]), SR, subtype='FLOAT')
  source = RealSource(
    'two',
    'music',
    'unused',
    (str(tmp_path / 'a.wav'), str(tmp_path / 'b.wav')),
    'test',
    'two files',
  )
  [clip] = real_audio.load_real_clips(SR, max_seconds=0.75, sources=[source])
  active = np.concatenate(noise)[: int(0.75 * SR)]
  np.testing.assert_allclose(clip['wave'], active * PEAK / np.abs(active).max(), atol=1e-6)
  assert real_audio.load_real_clips(SR, kinds=('speech',), sources=[source]) == []


def test_missing_or_silent_sources_raise_clear_errors(tmp_path):
  assert real_audio.missing_packages([ABSENT]) == ['no-such-package']
  with pytest.raises(
    RealAudioError, match='absent: no file matches /nonexistent/.*make real-audio'
  ):
    real_audio.load_real_clips(sources=[ABSENT])
  sf.write(tmp_path / 'quiet.wav', np.zeros(SR, np.float32), SR)
  quiet = RealSource('quiet', 'music', 'unused', (str(tmp_path / 'quiet.wav'),), 'test', '')
  with pytest.raises(RealAudioError, match='quiet: .* holds only silence'):
    real_audio.load_real_clips(sources=[quiet])
  with pytest.raises(ValueError, match='kinds'):
    real_audio.load_real_clips(kinds=('noise',))
  with pytest.raises(ValueError, match='max_seconds'):
    real_audio.load_real_clips(max_seconds=0)


def test_exported_clips_read_back_from_a_folder(tmp_path, monkeypatch, capsys):
  rng = np.random.default_rng(1)
  sources = []
  for name, kind in (('talk', 'speech'), ('tune', 'music')):
    sf.write(tmp_path / f'{name}.wav', rng.uniform(-0.2, 0.2, SR).astype(np.float32), SR)
    sources.append(RealSource(name, kind, 'unused', (str(tmp_path / f'{name}.wav'),), 'MIT', name))
  folder = str(tmp_path / 'real')
  paths = real_audio.export_clips(folder, SR, max_seconds=0.75, sources=sources)
  assert [os.path.basename(p) for p in paths] == ['talk.flac', 'tune.flac']
  manifest = json.loads((tmp_path / 'real' / real_audio.MANIFEST).read_text())
  assert manifest['sample_rate'] == SR
  assert [(c['name'], c['kind'], c['license']) for c in manifest['clips']] == [
    ('talk', 'speech', 'MIT'),
    ('tune', 'music', 'MIT'),
  ]
  direct = real_audio.load_real_clips(SR, max_seconds=0.75, sources=sources)
  back = real_audio.load_real_clips(SR, max_seconds=0.75, sources=sources, folder=folder)
  for want, got in zip(direct, back):
    assert (got['name'], got['kind']) == (want['name'], want['kind'])
    np.testing.assert_allclose(got['wave'], want['wave'], atol=1e-4)  # 16-bit samples
  assert real_audio.exported_sources(folder, [ABSENT, *sources]) == sources
  # Stereo for a stereo model (a mono clip's channel twice); never upsampled past the export.
  [stereo, _] = real_audio.load_real_clips(
    SR, max_seconds=0.75, sources=sources, folder=folder, channels=2
  )
  assert stereo['wave'].shape == (len(direct[0]['wave']), 2)
  np.testing.assert_array_equal(stereo['wave'][:, 0], stereo['wave'][:, 1])
  with pytest.raises(RealAudioError, match=rf'clips exported at {SR} Hz; expected 44100 Hz'):
    real_audio.load_real_clips(44100, sources=sources, folder=folder)
  with pytest.raises(RealAudioError, match=r'absent: no .*absent\.flac; export the clips'):
    real_audio.load_real_clips(sources=[ABSENT], folder=folder)

  monkeypatch.setattr(real_audio, 'REAL_SOURCES', tuple(sources))
  real_audio.main(['--export', str(tmp_path / 'cli'), '--max_seconds=0.5'])
  assert capsys.readouterr().out.startswith(f'2 clips, 0.0 MiB, in {tmp_path / "cli"}')
  monkeypatch.setattr(real_audio, 'REAL_SOURCES', (ABSENT,))
  with pytest.raises(SystemExit) as exit_info:
    real_audio.main(['--export', str(tmp_path / 'none')])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith('real_audio: error: absent: no file matches') and err.count('\n') == 1


def test_available_sources_and_the_package_list_make_installs(monkeypatch, capsys, clips):
  del clips  # fails first, with its message, when the packages are not installed
  assert real_audio.available_sources([ABSENT, *REAL_SOURCES]) == list(REAL_SOURCES)
  monkeypatch.setattr(real_audio, 'REAL_SOURCES', (ABSENT, REAL_SOURCES[0]))
  real_audio.main(['--packages'])
  assert capsys.readouterr().out == 'no-such-package\n'
  real_audio.main([])
  listing = capsys.readouterr().out.splitlines()
  assert listing[0].split() == ['absent', 'speech', 'no-such-package', 'missing']
  assert listing[1].split()[-1] == 'installed'


def test_demo_skips_real_recordings_without_packages_and_installs_nothing(
  monkeypatch, caplog, tmp_path
):
  def no_subprocess(*args, **kwargs):
    raise AssertionError(f'a subprocess was started: {args}')

  monkeypatch.setattr(os, 'geteuid', lambda: 1000)
  monkeypatch.setattr(subprocess, 'run', no_subprocess)
  monkeypatch.setattr(subprocess, 'Popen', no_subprocess)
  with caplog.at_level(logging.WARNING):
    # No trained workdirs in tmp_path: the package check comes before any model is loaded.
    assert compare.score_real_recordings(str(tmp_path), ['regression'], sources=[ABSENT]) is None
  [record] = caplog.records
  assert record.levelno == logging.WARNING
  assert 'no-such-package' in record.getMessage() and 'make real-audio' in record.getMessage()
  assert not os.listdir(tmp_path)


def test_real_recordings_get_the_perceptual_metrics_of_their_kind(clips, smoke_run, tmp_path):
  del clips  # fails first, with its message, when the packages are not installed
  os.symlink(smoke_run('regression'), tmp_path / 'regression')
  speech, music = (next(s for s in REAL_SOURCES if s.kind == k) for k in ('speech', 'music'))
  result = compare.score_real_recordings(
    str(tmp_path),
    ['regression'],
    degradations=('mp3:16', 'opus:16'),
    max_seconds=2.0,
    sources=[speech, music],
    visqol_degradations=('mp3:16',),
  )
  info = result['perceptual']
  assert {k: (v['metrics'], v['degradations']) for k, v in info.items()} == {
    'speech': (['pesq_wb', 'stoi', *metrics.DNSMOS], ['mp3:16', 'opus:16']),
    'music': (['visqol'], ['mp3:16']),  # ViSQOL is slow: the settings asked for only
  }
  assert info['music']['seconds'] > 0
  scores = result['scores']
  for row in ('input', 'regression'):
    for spec in ('mp3:16', 'opus:16'):
      assert {'pesq_wb', 'stoi', *metrics.DNSMOS} <= set(scores[f'speech {spec}'][row])
      assert 'visqol' not in scores[f'speech {spec}'][row]
      assert 'pesq_wb' not in scores[f'music {spec}'][row]
      assert 'dnsmos_ovrl' not in scores[f'music {spec}'][row]
    assert scores['music mp3:16'][row]['visqol']['n'] == 1
    assert 'visqol' not in scores['music opus:16'][row]
  [clip] = real_audio.load_real_clips(SR, max_seconds=2.0, sources=[music])
  expected = metrics.visqol(clip['wave'], codecs.degrade(clip['wave'], SR, 'mp3', 16), SR)
  assert scores['music mp3:16']['input']['visqol']['mean'] == pytest.approx(expected, rel=1e-4)
  table = report.real_table(['regression'], result)
  assert any(line.startswith('| music mp3:16 | ViSQOL (music) |') for line in table)
  assert not any(line.startswith('| music opus:16 | ViSQOL') for line in table)
  assert any(line.startswith('| speech opus:16 | DNSMOS OVRL') for line in table)
  assert (
    table[-1].startswith(
      'Perceptual rows: PESQ-WB, STOI, DNSMOS OVRL, DNSMOS SIG, DNSMOS BAK on the speech '
      'clips at mp3:16, opus:16'
    )
    and 'ViSQOL on the music clips at mp3:16' in table[-1]
  )


def test_real_recordings_count_the_clips_each_method_made_worse(smoke_run, tmp_path):
  os.symlink(smoke_run('regression'), tmp_path / 'regression')
  sources = []
  for name, index in (('first', 0), ('second', 1)):
    wave = synthesis.synthesize(index, seed=7, sample_rate=SR, seconds=1.5)
    sf.write(tmp_path / f'{name}.wav', wave, SR, subtype='FLOAT')
    sources.append(RealSource(name, 'music', 'unused', (str(tmp_path / f'{name}.wav'),), '-', ''))
  result = compare.score_real_recordings(
    str(tmp_path),
    ['regression'],
    degradations=('mp3:16', 'mp3:24'),
    max_seconds=1.5,
    sources=sources,
    visqol_degradations=('mp3:16',),
  )
  judged = result['harm']
  assert set(judged) == {'music mp3:16', 'music mp3:24', 'music', 'all'}
  for group, by_method in judged.items():
    [s] = by_method.values()
    assert (
      s['clips'] == result['scores'][group]['input']['lsd']['n'] == (4 if ':' not in group else 2)
    )
    assert s['lsd']['input'] == pytest.approx(result['scores'][group]['input']['lsd']['mean'])
    assert {c['key'] for c in s['harmed_clips']} <= {
      f'{n} mp3:{b}' for n in ('first', 'second') for b in (16, 24)
    }
  # ViSQOL, scored at 16 kbps only, joins the rule there.
  assert judged['music mp3:16']['regression']['scored']['visqol'] == 2
  assert 'visqol' not in judged['music mp3:24']['regression']['scored']
  table = report.real_harm_table(['regression'], result)
  assert table[0] == '| recordings | regression |'
  assert [line.split(' | ')[0] for line in table[2:]] == [
    '| music mp3:16',
    '| music mp3:24',
    '| music',
    '| all',
  ]
  assert json.loads((tmp_path / 'real_recordings.json').read_text())['harm'] == judged
