"""The study's noise-handling and output-spread measures, on smoke-trained runs."""

import math

import numpy as np
import pytest

from restoration.data import codecs, synthesis
from restoration.inference import Restorer
from restoration.study import diversity, noise

SR = 16000  # the smoke runs' rate


def _clip(index, seconds=0.75):
  x = synthesis.synthesize(index, seed=7, sample_rate=SR, seconds=seconds)
  assert np.abs(x).max() > 0.1, index  # not a silent pause
  return x


@pytest.fixture(scope='module')
def restorers(smoke_run):
  def get(method):
    return Restorer(smoke_run(method), chunk_seconds=1.0, overlap_seconds=0.25)

  return get


def test_add_noise_hits_the_snr_with_its_colour():
  clean = _clip(0, seconds=1.0)
  power = np.mean(clean.astype(np.float64) ** 2)
  freqs = np.fft.rfftfreq(clean.size, 1 / SR)
  tilt = {}
  for condition in ('white:20', 'white:10', 'pink:20', 'pink:10'):
    noisy = noise.add_noise(clean, condition, 3)
    assert noisy.dtype == clean.dtype and noisy.shape == clean.shape
    np.testing.assert_array_equal(noisy, noise.add_noise(clean, condition, 3))
    assert not np.array_equal(noisy, noise.add_noise(clean, condition, 4))
    n = noisy.astype(np.float64) - clean
    snr = 10 * np.log10(power / np.mean(n**2))
    assert abs(snr - float(condition.split(':')[1])) < 0.1, (condition, snr)
    psd = np.abs(np.fft.rfft(n)) ** 2
    low, high = psd[(freqs >= 50) & (freqs < 1000)].mean(), psd[freqs >= 4000].mean()
    tilt[condition] = 10 * np.log10(low / high)
  for snr in (20, 10):  # 1/f: ~12.6 dB more power per Hz in 50-1000 Hz than in 4-8 kHz
    assert tilt[f'pink:{snr}'] > 9, tilt
    assert abs(tilt[f'white:{snr}']) < 1, tilt
  assert noise.add_noise(clean, 'clean', 3) is clean


@pytest.mark.parametrize('condition', ['white', 'brown:10', 'pink:loud', 'white:nan', ''])
def test_bad_condition_names_itself_and_the_forms(condition):
  with pytest.raises(ValueError, match=rf"{condition!r}.*'clean' or 'KIND:SNR'"):
    noise.add_noise(np.ones(100, np.float32), condition, 0)


def test_noise_floor_rises_with_noise_and_a_perfect_output_removes_it():
  clean = _clip(1)
  floors = {}
  for condition in ('clean', 'white:20', 'white:10'):
    degraded = codecs.degrade(noise.add_noise(clean, condition, 0), SR, 'mp3', 16)
    scores = noise.score(clean, degraded, {'perfect': clean}, SR)
    floors[condition] = scores['input']['noise_floor_db']
    assert scores['perfect']['noise_floor_db'] == 0.0
    assert scores['perfect']['noise_removed_db'] == floors[condition]
    assert scores['perfect']['high_band_energy_ratio'] == 1.0
  assert floors['white:10'] > floors['white:20'] + 3 > floors['clean'] + 3, floors
  assert floors['white:20'] > 0, floors  # so the perfect output removed noise


def test_evaluate_noise_scores_every_condition_for_input_and_method(restorers):
  clips = [_clip(2), _clip(3)]
  result = noise.evaluate_noise({'regression': restorers('regression')}, clips, SR)
  assert result['degradation'] == 'mp3:16' and result['clips'] == 2
  assert result['conditions'] == list(noise.CONDITIONS) and result['cutoff_hz'] == SR / 4
  assert set(result['scores']) == set(noise.CONDITIONS)
  measures = {'si_sdr', 'noise_floor_db', 'high_band_energy_ratio', 'lsd_high'}
  for condition, rows in result['scores'].items():
    assert set(rows) == {'input', 'regression'}, condition
    assert set(rows['input']) == measures
    assert set(rows['regression']) == measures | {'noise_removed_db'}
    for row in rows.values():
      for name, stats in row.items():
        assert stats['n'] == 2 and math.isfinite(stats['mean']), (condition, name, stats)
  si_sdr = {c: rows['input']['si_sdr']['mean'] for c, rows in result['scores'].items()}
  assert si_sdr['clean'] > si_sdr['white:20'] > si_sdr['white:10'], si_sdr
  with pytest.raises(ValueError, match='pink:x'):
    noise.evaluate_noise({}, clips, SR, conditions=('clean', 'pink:x'))


def _degraded_clips():
  return [codecs.degrade(_clip(i), SR, 'mp3', 24) for i in (4, 5)]


def test_deterministic_regression_has_no_spread(restorers):
  spread = diversity.output_spread(restorers('regression'), _degraded_clips(), seeds=(0, 1, 2))
  assert spread == {
    'seeds': [0, 1, 2],
    'clips': 2,
    'log_spectral_std_db': 0.0,
    'log_spectral_std_db_high': 0.0,
    'pairwise_lsd': 0.0,
  }


def test_diffusion_outputs_differ_across_seeds(restorers):
  spread = diversity.output_spread(restorers('diffusion'), _degraded_clips(), seeds=(0, 1, 2))
  assert spread['seeds'] == [0, 1, 2] and spread['clips'] == 2
  for name in ('log_spectral_std_db', 'log_spectral_std_db_high', 'pairwise_lsd'):
    assert spread[name] > 0 and math.isfinite(spread[name]), spread
  with pytest.raises(ValueError, match='distinct'):
    diversity.output_spread(restorers('diffusion'), _degraded_clips(), seeds=(1, 1))
