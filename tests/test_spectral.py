"""STFT/iSTFT round trip, compression inverse, and parity with the pipelines' STFTs (tf.signal,
numpy)."""

import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from restoration import spectral
from restoration.data.pipeline import np_analysis, tf_analysis
from restoration.spectral import SpectralParams


def _wave(n=4000, batch=2, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(n) / 16000
  return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * rng.standard_normal((batch, n))).astype(
    np.float32
  )


def test_band_edge_finds_a_low_pass_and_tells_a_cliff_from_a_slope():
  rng = np.random.default_rng(0)
  n, sr = 32000, 16000
  white = rng.standard_normal(n)
  f = np.fft.rfftfreq(n, 1 / sr)
  slope = 10 ** (-np.maximum(f - 1000, 0) / 2000)  # a recording's roll-off: -10 dB per kHz
  gains = [np.ones_like(f), f < 4000, f < 6000, slope]
  waves = np.stack([np.fft.irfft(np.fft.rfft(white) * g, n) for g in gains])
  p = SpectralParams()
  x = spectral.analysis(jnp.asarray(waves, jnp.float32), p)
  ratios, cliffs = (np.asarray(v) for v in spectral.band_edge(x, p))
  assert ratios[0] == 1.0 and cliffs[0] == 0.0  # content to Nyquist: no edge to see
  # The window's leakage keeps a few bins above the cut within 50 dB of the loudest.
  for ratio, cut in zip(ratios[1:3], (0.5, 0.75)):
    assert cut <= ratio <= cut + 12 / 256
  assert min(cliffs[1:3]) > 40 and cliffs[3] < 8, cliffs
  assert 0.7 < ratios[3] < 0.8
  quiet = spectral.band_edge(spectral.analysis(jnp.asarray(waves * 0.01, jnp.float32), p), p)
  np.testing.assert_allclose(np.asarray(quiet[0]), ratios)  # -40 dB moves no edge
  quiet_cliffs = np.asarray(quiet[1])  # a brick wall's floor is float32 rounding: 60-120 dB
  assert list(quiet_cliffs > 40) == list(cliffs > 40)
  assert quiet_cliffs[3] == pytest.approx(cliffs[3], abs=1.0)


def test_continue_envelope_caps_a_fill_at_the_input_slope_and_keeps_a_quiet_one():
  p = SpectralParams(n_fft=128, hop=32)
  bins = p.n_fft // 2 + 1
  f = np.maximum(np.arange(bins), 1.0)
  # Power falling 6 dB per octave up to bin 40 (edge 40/64 of Nyquist), then nothing.
  power = np.where(np.arange(bins) <= 40, f ** -(6 / (10 * np.log10(2))), 1e-12)
  rng = np.random.default_rng(0)
  phase = rng.uniform(0, 2 * np.pi, size=(5, bins))

  def representation(bin_power):  # |c| ** (2 / alpha) is the power
    magnitude = np.power(bin_power, p.alpha / 2)
    return jnp.asarray(np.stack([magnitude * np.cos(phase), magnitude * np.sin(phase)], -1))

  reference = representation(power)
  loud, quiet = (
    representation(np.where(np.arange(bins) > 40, level, power)) for level in (1.0, 1e-9)
  )
  edge = jnp.asarray(40 / (bins - 1))
  capped = np.asarray(spectral.continue_envelope(loud, reference, edge, p, gap=4))
  got = np.mean(np.sum(capped**2, -1) ** (1 / p.alpha), axis=0)
  expected = f ** -(6 / (10 * np.log10(2)))  # the slope, continued
  np.testing.assert_allclose(got[41:], expected[41:], rtol=1e-3)
  np.testing.assert_allclose(capped[:, :41], np.asarray(loud)[:, :41])  # below: untouched
  kept = spectral.continue_envelope(quiet, reference, edge, p, gap=4)
  np.testing.assert_allclose(np.asarray(kept), np.asarray(quiet), rtol=1e-6)
  lower = np.asarray(spectral.continue_envelope(loud, reference, edge, p, gap=4, headroom_db=6))
  got = np.mean(np.sum(lower**2, -1) ** (1 / p.alpha), axis=0)
  np.testing.assert_allclose(got[41:], expected[41:] * 10 ** (-6 / 10), rtol=1e-3)
  quieter = spectral.continue_envelope(quiet, reference, edge, p, gap=4, headroom_db=6)
  np.testing.assert_allclose(  # a quiet fill is kept, 6 dB quieter (|c| ~ power ** (alpha / 2))
    np.asarray(quieter)[:, 41:], np.asarray(quiet)[:, 41:] * 10 ** (-0.6 * p.alpha / 2), rtol=1e-5
  )
  none = spectral.continue_envelope(loud, reference, jnp.asarray(0.0), p)
  np.testing.assert_array_equal(np.asarray(none), np.asarray(loud))


def test_crossover_keeps_low_below_the_edge_and_high_from_it():
  rng = np.random.default_rng(0)
  low, high = (jnp.asarray(rng.normal(size=(2, 3, 65, 2)), jnp.float32) for _ in range(2))
  edge = jnp.asarray([0.5, 0.0])  # bin 32 of 65 for the first clip; none for the second
  out = np.asarray(spectral.crossover(low, high, edge, 8))
  np.testing.assert_array_equal(out[0, :, :24], np.asarray(low)[0, :, :24])
  np.testing.assert_array_equal(out[0, :, 32:], np.asarray(high)[0, :, 32:])
  between = out[0, :, 24:32]  # the raised cosine: a weighted mix, neither side alone
  assert not np.allclose(between, np.asarray(low)[0, :, 24:32])
  np.testing.assert_array_equal(out[1], np.asarray(high)[1])


@pytest.mark.parametrize('n_fft,hop', [(512, 128), (256, 64), (1024, 256)])
def test_istft_inverts_stft(n_fft, hop):
  x = _wave()
  spec = spectral.stft(jnp.asarray(x), n_fft, hop)
  assert spec.shape == (2, 1 + x.shape[-1] // hop, n_fft // 2 + 1)
  y = np.asarray(spectral.istft(spec, n_fft, hop, x.shape[-1]))
  edge = n_fft
  assert np.max(np.abs(y - x)[:, edge:-edge]) < 1e-4


def test_compression_inverts_and_keeps_phase():
  p = SpectralParams()
  spec = spectral.stft(jnp.asarray(_wave()), p.n_fft, p.hop)
  c = spectral.compress(spec, p.alpha, p.beta)
  np.testing.assert_allclose(np.abs(c), p.beta * np.abs(spec) ** p.alpha, rtol=1e-3, atol=1e-5)
  back = spectral.decompress(c, p.alpha, p.beta)
  big = np.abs(spec) > 1e-3
  np.testing.assert_allclose(np.asarray(back)[big], np.asarray(spec)[big], rtol=1e-3)


def test_analysis_synthesis_round_trip():
  p = SpectralParams()
  x = _wave(8000)
  rep = spectral.analysis(jnp.asarray(x), p)
  assert rep.shape == (2, p.n_frames(8000), p.n_freq, 2)
  y = np.asarray(spectral.synthesis(rep, p, 8000))
  assert np.max(np.abs(y - x)[:, p.n_fft : -p.n_fft]) < 1e-3


@pytest.mark.parametrize('twin', ['tf.signal', 'numpy'])
def test_pipeline_stfts_match_jax(twin):
  p = SpectralParams()
  x = _wave(6000)
  ours = np.asarray(spectral.analysis(jnp.asarray(x), p))
  theirs = tf_analysis(tf.constant(x), p).numpy() if twin == 'tf.signal' else np_analysis(x, p)
  assert ours.shape == theirs.shape and theirs.dtype == np.float32
  rel = np.linalg.norm(ours - theirs) / np.linalg.norm(ours)
  assert rel < 1e-4, rel


def test_mel_filterbank_shape_and_coverage():
  fb = spectral.mel_filterbank(16000, 512, 64)
  assert fb.shape == (257, 64)
  assert np.all(fb.sum(axis=0) > 0)
