"""Codec round trips through the real encoders: shape, sample alignment, bitrate, damage, errors."""

import functools
import re
import sys

import numpy as np
import pytest

from restoration.data import audio, codecs

SECONDS = 2.0  # long enough that per-stream overhead does not distort the bitrate
LOW_HIGH_16K = {'mp3': (16, 64), 'opus': (12, 48), 'vorbis': (32, 64), 'aac': (24, 64)}
WIDE_BAND = [  # (codec, rate, kbps, channels): stereo once per codec, and a resampled Opus
  ('mp3', 44100, 64, 2),
  ('opus', 48000, 48, 2),
  ('opus', 44100, 24, 1),
  ('vorbis', 48000, 96, 2),
  ('aac', 48000, 64, 2),
]
CASES = [(c, 16000, k, 1) for c, ks in LOW_HIGH_16K.items() for k in ks] + WIDE_BAND


def broadband(sample_rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
  """Harmonic tones under slow envelopes plus noise bursts, so the cross-correlation has one
  sharp peak and the codecs have high-frequency content to remove."""
  rng = np.random.default_rng(seed)
  t = np.arange(int(SECONDS * sample_rate)) / sample_rate
  x = np.zeros_like(t)
  for k, f0 in enumerate((220.0, 330.0, 440.0)):
    envelope = 0.5 * (1 + np.sin(2 * np.pi * (0.7 + 0.3 * k) * t))
    for h in range(1, min(40, int(sample_rate / 2 / f0))):
      x += envelope * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h
  x = 0.5 * x / np.abs(x).max()
  burst = int(0.05 * sample_rate)
  for start in rng.integers(0, len(t) - burst, 8):
    x[start : start + burst] += 0.3 * rng.standard_normal(burst) * np.hanning(burst)
  if channels == 2:
    x = np.stack([x, 0.8 * np.roll(x, 37)], axis=-1)
  return x.astype(np.float32)


def lag_and_peak(clean: np.ndarray, degraded: np.ndarray, max_lag: int = 2000) -> tuple[int, float]:
  """Lag (degraded behind clean, in samples) of the maximum normalized cross-correlation of
  the channel means within +/- max_lag, and that maximum."""
  a = clean.reshape(len(clean), -1).mean(1).astype(np.float64)
  b = degraded.reshape(len(degraded), -1).mean(1).astype(np.float64)
  n, size = len(a), 2 * len(a)
  xcorr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
  lags = np.arange(-max_lag, max_lag + 1)
  ea, eb = np.concatenate([[0], np.cumsum(a**2)]), np.concatenate([[0], np.cumsum(b**2)])
  pos, neg = lags[lags >= 0], lags[lags < 0]  # overlap a[0:n-k] & b[k:n], or a[-k:n] & b[0:n+k]
  a_energy = np.concatenate([ea[n] - ea[-neg], ea[n - pos]])
  b_energy = np.concatenate([eb[n + neg], eb[n] - eb[pos]])
  corr = xcorr[lags % size] / np.sqrt(a_energy * b_energy + 1e-20)
  best = int(np.argmax(corr))
  return int(lags[best]), float(corr[best])


def split_snr_db(
  clean: np.ndarray, degraded: np.ndarray, sample_rate: int, cutoff: float
) -> tuple[float, float]:
  """SNR in dB below and above ``cutoff`` Hz (ideal FFT band split)."""

  def bands(x):
    spectrum = np.fft.rfft(x, axis=0)
    high = np.fft.rfftfreq(len(x), 1 / sample_rate) >= cutoff
    return (
      np.fft.irfft(np.where(high[:, None], 0, spectrum), len(x), axis=0),
      np.fft.irfft(np.where(high[:, None], spectrum, 0), len(x), axis=0),
    )

  c = bands(clean.reshape(len(clean), -1))
  d = bands(degraded.reshape(len(degraded), -1))
  return tuple(10 * np.log10(np.sum(ci**2) / np.sum((ci - di) ** 2)) for ci, di in zip(c, d))


@functools.cache
def round_trip(codec: str, rate: int, kbps: float, channels: int):
  clean = broadband(rate, channels)
  degraded, nbytes = codecs.encode_decode(clean, rate, codec, kbps)
  return clean, degraded, codecs.achieved_kbps(nbytes, len(clean), rate)


def test_lag_detector_finds_a_known_shift():
  x = broadband(16000)
  for shift in (0, 37, -250, 1105):
    y = np.roll(x, shift)
    assert lag_and_peak(x, y)[0] == shift


@pytest.mark.parametrize('codec,rate,kbps,channels', CASES)
def test_round_trip_is_aligned_and_on_rate(codec, rate, kbps, channels):
  clean, degraded, achieved = round_trip(codec, rate, kbps, channels)
  assert degraded.shape == clean.shape and degraded.dtype == np.float32
  lag, peak = lag_and_peak(clean, degraded)
  assert abs(lag) <= 1, f'{codec} {kbps} kbps at {rate} Hz is {lag} samples off'
  assert peak > 0.7  # the decoded stream is the input, not something else
  assert abs(achieved / kbps - 1) <= 0.15, f'{codec}: {achieved:.1f} kbps for {kbps} requested'


@pytest.mark.parametrize('codec', list(LOW_HIGH_16K))
def test_low_bitrate_damages_the_high_band(codec):
  low, high = LOW_HIGH_16K[codec]
  clean, degraded_low, _ = round_trip(codec, 16000, low, 1)
  _, degraded_high, _ = round_trip(codec, 16000, high, 1)
  low_band_low, high_band_low = split_snr_db(clean, degraded_low, 16000, 4800)
  _, high_band_high = split_snr_db(clean, degraded_high, 16000, 4800)
  assert high_band_low < low_band_low - 5  # the damage concentrates above 4.8 kHz
  assert high_band_low < high_band_high - 3  # and grows as the bitrate falls
  assert low_band_low < 20  # the degraded signal really differs from the clean one


def test_shapes_and_determinism():
  x = broadband(16000)
  y, _ = codecs.encode_decode(x[:, None], 16000, 'mp3', 32)
  assert y.shape == (len(x), 1)
  np.testing.assert_array_equal(codecs.degrade(x, 16000, 'mp3', 32), y[:, 0])


INVALID = [
  ('mp3', 16000, 1, 192),
  ('mp3', 44100, 2, 16),
  ('opus', 16000, 1, 4),
  ('opus', 48000, 2, 600),
  ('vorbis', 16000, 1, 16),
  ('vorbis', 44100, 2, 32),
  ('aac', 16000, 1, 100),
  ('aac', 16000, 2, 16),
]


@pytest.mark.parametrize('codec,rate,channels,kbps', INVALID)
def test_invalid_bitrate_names_the_valid_range(codec, rate, channels, kbps):
  x = np.zeros((rate // 10, channels), np.float32)
  with pytest.raises(codecs.CodecError, match=f'{codec} at {rate} Hz|{codec} (mono|stereo)') as e:
    codecs.encode_decode(x, rate, codec, kbps)
  message = str(e.value)
  listed = re.search(r'allows ([\d, ]+) kbps', message)
  span = re.search(r'supports ([\d.]+)-([\d.]+) kbps', message)
  assert listed or span, message
  valid = (
    [float(v) for v in listed.group(1).split(', ')]
    if listed
    else [float(span.group(1)) * 1.01, float(span.group(2)) * 0.99]
  )
  assert kbps not in valid
  for v in valid:  # every bitrate the message offers is accepted
    codecs.validate(codec, v, rate, channels)


@pytest.mark.parametrize(
  'spec,expected', [('mp3:32', ('mp3', 32.0)), (' Opus:12.5', ('opus', 12.5))]
)
def test_parse_degradation(spec, expected):
  assert codecs.parse_degradation(spec) == expected


@pytest.mark.parametrize('spec', ['mp3', 'wma:32', 'mp3:fast', 'mp3:0', 'mp3:-8', 'aac:nan', ''])
def test_parse_degradation_errors(spec):
  with pytest.raises(codecs.CodecError, match=re.escape(repr(spec))):
    codecs.parse_degradation(spec)


@pytest.mark.parametrize(
  'wave',
  [
    np.zeros(0, np.float32),
    np.full(1000, np.nan, np.float32),
    np.zeros((1000, 3), np.float32),
    np.zeros((10, 10, 2)),
  ],
)
def test_bad_waves_are_refused(wave):
  with pytest.raises(codecs.CodecError):
    codecs.encode_decode(wave, 16000, 'mp3', 32)


def test_aac_without_ffmpeg_says_how_to_install_it(monkeypatch):
  monkeypatch.setenv('PATH', '')
  monkeypatch.setitem(sys.modules, 'imageio_ffmpeg', None)  # makes its import fail
  assert audio.find_ffmpeg() is None
  with pytest.raises(codecs.CodecError, match='apt-get install ffmpeg.*pip install imageio-ffmpeg'):
    codecs.encode_decode(broadband(16000)[:1600], 16000, 'aac', 32)
