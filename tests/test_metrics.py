"""Evaluation metrics: each test checks a value known in closed form."""

import math

import numpy as np
import pytest
import scipy.signal

from restoration import metrics, spectral

# What compute_all returns without the optional (PESQ/STOI/ViSQOL) metrics.
CORE = (
  'lsd',
  'lsd_high',
  'lsd_low',
  'si_sdr',
  'mel_distance',
  'spectral_convergence',
  'high_band_energy_ratio',
  'spec_mse',
)

SR = 16000
CUTOFF = SR / 4


@pytest.fixture(scope='module')
def noise() -> np.ndarray:
  """White noise: every STFT bin is far above the log floor, so gains act exactly."""
  return 0.1 * np.random.default_rng(0).standard_normal(SR)


@pytest.fixture(scope='module')
def speech() -> np.ndarray:
  """3 s of speech-like sound: gliding glottal pulses through formants, syllables, pauses."""
  t = np.arange(3 * SR) / SR
  phase = np.cumsum(120 + 20 * np.sin(2 * np.pi * 0.7 * t)) / SR
  x = np.diff(np.floor(phase), prepend=0.0)
  for freq, bandwidth in ((700, 90), (1220, 110), (2600, 170)):
    r = math.exp(-math.pi * bandwidth / SR)
    x = scipy.signal.lfilter([1 - r], [1, -2 * r * math.cos(2 * math.pi * freq / SR), r * r], x)
  syllables = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) * (t % 1.5 < 1.1)
  x = x * syllables + 0.01 * np.random.default_rng(1).standard_normal(t.size) * syllables
  return 0.3 * x / np.max(np.abs(x))


def lowpass(x: np.ndarray, cutoff_hz: float) -> np.ndarray:
  return scipy.signal.sosfiltfilt(scipy.signal.butter(10, cutoff_hz, fs=SR, output='sos'), x)


@pytest.mark.parametrize('band', ['full', 'high', 'low'])
def test_lsd_is_zero_for_identical_and_two_log10_gain_for_a_gain(noise, band):
  assert metrics.lsd(noise, noise, SR, band=band) == 0.0
  for gain in (0.5, 3.0):
    value = metrics.lsd(noise, gain * noise, SR, band=band, cutoff_hz=CUTOFF)
    assert value == pytest.approx(abs(2 * math.log10(gain)), rel=1e-6)


def test_lsd_of_lowpassed_copy_is_large_in_high_band_only(noise):
  est = lowpass(noise, 1.25 * CUTOFF)
  high = metrics.lsd(noise, est, SR, band='high', cutoff_hz=CUTOFF)
  low = metrics.lsd(noise, est, SR, band='low', cutoff_hz=CUTOFF)
  full = metrics.lsd(noise, est, SR)
  assert high > 3.0
  assert low < 0.01
  assert low < full < high


@pytest.mark.parametrize('snr_db', [0.0, 10.0, 25.0])
def test_si_sdr_equals_snr_of_orthogonal_noise(noise, snr_db):
  ref = noise - noise.mean()
  n = np.random.default_rng(2).standard_normal(ref.size)
  n -= n.mean()
  n -= (n @ ref) / (ref @ ref) * ref
  n *= np.linalg.norm(ref) / np.linalg.norm(n) * 10 ** (-snr_db / 20)
  est = ref + n
  assert metrics.si_sdr(ref, est) == pytest.approx(snr_db, abs=0.1)
  assert metrics.si_sdr(ref, 3 * est) == pytest.approx(metrics.si_sdr(ref, est), abs=1e-9)
  assert metrics.si_sdr(ref + 0.5, est - 0.2) == pytest.approx(metrics.si_sdr(ref, est), abs=1e-9)


def test_si_sdr_of_scaled_copy_is_very_large_and_of_silence_minus_inf(noise):
  assert metrics.si_sdr(noise, 0.7 * noise) > 100
  assert metrics.si_sdr(noise, np.zeros_like(noise)) == -math.inf


def test_mel_distance_is_zero_for_identical_and_log10_power_gain_for_a_gain(noise):
  assert metrics.mel_distance(noise, noise, SR) == 0.0
  for gain in (0.5, 2.0):
    value = metrics.mel_distance(noise, gain * noise, SR)
    assert value == pytest.approx(abs(math.log10(gain**2)), rel=1e-6)


@pytest.mark.parametrize('e', [0.1, -0.3])
def test_spectral_convergence_of_scaled_copy_is_the_relative_gain(noise, e):
  assert metrics.spectral_convergence(noise, (1 + e) * noise) == pytest.approx(abs(e), rel=1e-9)


def test_high_band_energy_ratio(noise):
  assert metrics.high_band_energy_ratio(noise, noise, SR, CUTOFF) == pytest.approx(1.0)
  assert metrics.high_band_energy_ratio(noise, 0.5 * noise, SR, CUTOFF) == pytest.approx(0.25)
  assert metrics.high_band_energy_ratio(noise, lowpass(noise, CUTOFF / 2), SR, CUTOFF) < 0.01
  tone = np.sin(2 * np.pi * 1000 * np.arange(SR) / SR)  # whole cycles: one FFT bin
  assert math.isnan(metrics.high_band_energy_ratio(tone, noise, SR, CUTOFF))


def test_compressed_spectrogram_mse_of_gain_follows_compression_exponent(noise):
  params = spectral.SpectralParams()
  ref_spec = np.asarray(spectral.analysis(noise.astype(np.float32), params), np.float64)
  assert metrics.spectrogram_mse(ref_spec, ref_spec + 0.25) == pytest.approx(0.0625)
  # c(g X) = g**alpha c(X): the error is (g**alpha - 1)**2 times the mean square of c(X).
  gain = 2.0
  expected = (gain**params.alpha - 1) ** 2 * np.mean(ref_spec**2)
  value = metrics.compressed_spectrogram_mse(noise, gain * noise, params)
  assert value == pytest.approx(expected, rel=1e-4)
  assert metrics.compressed_spectrogram_mse(noise, noise, params) == 0.0


def test_pesq_and_stoi_of_identical_speech_are_near_their_maximum(speech):
  assert {'pesq_wb', 'stoi'} <= set(metrics.available_optional_metrics())
  assert metrics.pesq_wb(speech, speech, SR) > 4.0
  assert metrics.stoi(speech, speech, SR) > 0.99
  noisy = speech + 0.05 * np.random.default_rng(3).standard_normal(speech.size)
  assert metrics.pesq_wb(speech, noisy, SR) < 3.0
  assert metrics.stoi(speech, noisy, SR) < 0.95
  upsampled = scipy.signal.resample_poly(speech, 2, 1)
  assert metrics.pesq_wb(upsampled, upsampled, 2 * SR) > 4.0


def test_dnsmos_rates_noise_down_and_needs_no_reference(speech):
  assert set(metrics.DNSMOS) <= set(metrics.available_optional_metrics())
  noisy = speech + 0.05 * np.random.default_rng(3).standard_normal(speech.size)
  clean = metrics.perceptual(speech, speech, SR, metrics.DNSMOS)
  hissy = metrics.perceptual(speech, noisy, SR, metrics.DNSMOS)
  assert hissy['dnsmos_bak'] < clean['dnsmos_bak'] - 0.5
  assert hissy['dnsmos_ovrl'] < clean['dnsmos_ovrl']
  assert metrics.dnsmos_ovrl(noisy, speech, SR) == clean['dnsmos_ovrl']  # the reference is unused
  upsampled = scipy.signal.resample_poly(speech, 2, 1)
  assert metrics.dnsmos_ovrl(upsampled, upsampled, 2 * SR) == pytest.approx(
    clean['dnsmos_ovrl'], abs=0.25
  )


def test_visqol_runs_when_installed_and_otherwise_names_the_package(noise):
  if 'visqol' in metrics.available_optional_metrics():
    assert metrics.visqol(noise, noise, SR) > 4.0
  else:
    with pytest.raises(ImportError, match="'visqol' package"):
      metrics.visqol(noise, noise, SR)


def test_compute_all_scores_stereo_as_the_mean_of_its_channels(noise):
  est = lowpass(noise, CUTOFF)
  other = 0.5 * noise[::-1]
  left = metrics.compute_all(noise, est, SR, optional=False)
  right = metrics.compute_all(other, other + 0.01 * noise, SR, optional=False)
  both = metrics.compute_all(
    np.stack([noise, other], -1), np.stack([est, other + 0.01 * noise], -1), SR, optional=False
  )
  assert set(both) == set(CORE)
  for name, value in both.items():
    assert value == pytest.approx((left[name] + right[name]) / 2, rel=1e-6), name
  assert left['lsd_high'] == metrics.lsd(noise, est, SR, band='high', cutoff_hz=CUTOFF)


def test_compute_all_adds_available_optional_metrics(speech):
  result = metrics.compute_all(speech, speech, SR)
  assert set(metrics.available_optional_metrics()) <= set(result)
  assert result['lsd'] == 0.0 and result['pesq_wb'] > 4.0


def test_aggregate_skips_nan_and_missing_values():
  out = metrics.aggregate([{'a': 1.0, 'b': 2.0}, {'a': 3.0, 'b': math.nan}, {'a': 5.0}])
  assert out['a'] == {'mean': 3.0, 'std': pytest.approx(math.sqrt(8 / 3)), 'n': 3}
  assert out['b'] == {'mean': 2.0, 'std': 0.0, 'n': 1}


@pytest.mark.parametrize(
  'call, message',
  [
    (lambda x: metrics.lsd(x, x[:-1], SR), 'ref shape'),
    (lambda x: metrics.si_sdr(x[:0], x[:0]), 'ref is empty'),
    (lambda x: metrics.si_sdr(np.zeros_like(x), x), 'all zeros'),
    (lambda x: metrics.si_sdr(x, np.where(x > 0, np.nan, x)), 'est contains NaN'),
    (lambda x: metrics.compute_all(x, x, SR, est_sample_rate=22050), 'est_sample_rate 22050'),
    (lambda x: metrics.compute_all(np.stack([x, x]), np.stack([x, x]), SR), 'transposed'),
    (lambda x: metrics.lsd(x, x, 0), 'sample_rate must be a positive integer'),
    (lambda x: metrics.lsd(x, x, SR, band='mid'), 'band must be'),
    (lambda x: metrics.lsd(x, x, SR, band='high', cutoff_hz=SR), 'cutoff_hz must lie'),
    (lambda x: metrics.mel_distance(x[:, None], x[:, None], SR), 'expected mono'),
    (lambda x: metrics.spectrogram_mse(np.zeros((4, 3, 2)), np.zeros((4, 4, 2))), 'same shape'),
  ],
)
def test_bad_input_raises_a_clear_error(noise, call, message):
  with pytest.raises(ValueError, match=message):
    call(noise)
