"""The procedural corpus: deterministic, fast, and rich in what codecs remove."""

import numpy as np

from restoration.data import synthesis

SR = 16000


def high_band_share(x: np.ndarray, sr: int) -> float:
  """Share of the energy above sr / 4: what a low-bitrate codec removes."""
  power = np.abs(np.fft.rfft(x)) ** 2
  return float(power[np.fft.rfftfreq(x.size, 1 / sr) > sr / 4].sum() / power.sum())


def flatness(x: np.ndarray) -> float:
  """Spectral flatness of the average power spectrum (1 = white noise, 0 = pure tones)."""
  frames = x[: x.size // 512 * 512].reshape(-1, 512) * np.hanning(512)
  power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(0)[1:] + 1e-20
  return float(np.exp(np.log(power).mean()) / power.mean())


def test_synthesis_is_deterministic_per_seed_and_index():
  a = synthesis.synthesize(3, seed=7, sample_rate=SR, seconds=0.5)
  np.testing.assert_array_equal(a, synthesis.synthesize(3, seed=7, sample_rate=SR, seconds=0.5))
  assert not np.allclose(a, synthesis.synthesize(4, seed=7, sample_rate=SR, seconds=0.5))
  assert not np.allclose(a, synthesis.synthesize(3, seed=8, sample_rate=SR, seconds=0.5))


def test_synthetic_items_carry_high_band_energy():
  """(How fast they are made is the benchmark's input section.)"""
  indices = range(16)
  waves = [synthesis.synthesize(i, seed=0, sample_rate=SR, seconds=1.0) for i in indices]
  shares = np.array([high_band_share(w, SR) for w in waves])
  flat = np.array([flatness(w) for w in waves])
  kinds = [synthesis.material(i, seed=0) for i in indices]
  print(
    f'high-band share mean {shares.mean():.4f} median {np.median(shares):.4f} '
    f'min {shares.min():.5f}; flatness max {flat.max():.3f}'
  )
  assert set(kinds) == {'music', 'speech'}
  for w in waves:
    assert w.dtype == np.float32 and w.shape == (SR,) and np.isfinite(w).all()
    assert 10 ** (-6.01 / 20) <= np.abs(w).max() <= 10 ** (-0.99 / 20)
  assert shares.mean() >= 0.01, shares
  assert (shares > 0.001).mean() >= 0.75, shares
  assert (shares < 0.5).all(), shares  # spectra fall with frequency, as real audio does
  assert (flat < 0.5).all(), flat  # structured, not white noise
  for kind in ('music', 'speech'):
    assert np.mean([s for s, k in zip(shares, kinds) if k == kind]) >= 0.005, (kind, shares)
