"""Full-band stereo music: the ``music44k`` preset selected by the config string, its U-Net cost
per audio second, a 44.1 kHz stereo smoke run from dataset to restored file, and a 48 kHz
stereo file through a 16 kHz mono model."""

import numpy as np
import pytest
import soundfile as sf
from flax import nnx

from restoration import config as config_lib
from restoration import inference, methods
from restoration.config import load_config
from restoration.data import builder
from restoration.errors import ConfigError
from restoration.train import loop

METHODS = methods.names()


def unet_gflops(c) -> float:
  nets = nnx.eval_shape(lambda: methods.get(c.method).networks(c, nnx.Rngs(0)))
  return methods.forward_gflops_per_audio_second(c, nets)[methods.get(c.method).main]


def stereo_sweeps(seconds: float, sr: int) -> np.ndarray:
  """Two different sweeps below 8 kHz (200 Hz up to 6.2 kHz, 6 kHz down to 2 kHz): a swapped,
  mixed or shifted channel would be off by ~0.3."""
  t = np.arange(int(seconds * sr)) / sr
  up = 0.3 * np.sin(2 * np.pi * (200 * t + 3000 * t**2 / t[-1]))
  down = 0.2 * np.sin(2 * np.pi * (6000 * t - 2000 * t**2 / t[-1]))
  fade = np.minimum(1, np.minimum(t, t[-1] - t) / 0.02)  # 20 ms: no broadband onset clicks
  return (np.stack([up, down], axis=1) * fade[:, None]).astype(np.float32)


@pytest.mark.parametrize('method', METHODS)
def test_config_string_selects_music_preset_for_every_method(method, smoke_run):
  c = load_config(method, 'base,music44k')
  assert (c.method, c.size, c.presets) == (method, 'base', ('music44k',))
  assert (c.data.sample_rate, c.data.channels) == (44100, 2)
  assert (c.spectral.n_fft, c.spectral.hop) == (1024, 256)
  assert c.model.overrides.band_size == 22
  assert 'aac:128' in c.data.degradations and 'mp3:32' in c.data.degradations
  # The method's own fields are still its config file's, and the plain size is untouched.
  plain = load_config(method, 'base')
  assert c.objective.to_dict() == plain.objective.to_dict()
  assert (plain.data.sample_rate, plain.presets) == (16000, ())
  if methods.get(method).starts_from:  # e.g. the predictive bridge's predictor run
    c.train.init_from = smoke_run(methods.get(method).starts_from)
  config_lib.validate(c, num_devices=8)


def test_unknown_preset_is_a_one_line_config_error():
  with pytest.raises(ConfigError, match="'music48k'.*music44k") as e:
    load_config('gan', 'demo,music48k')
  assert '\n' not in str(e.value)


@pytest.mark.parametrize('size', config_lib.SIZES)
def test_music_unet_costs_what_the_16k_one_does_per_audio_second(size):
  speech = unet_gflops(load_config('regression', size))
  music = unet_gflops(load_config('regression', f'{size},music44k'))
  assert music == pytest.approx(speech, rel=0.1)


def test_music44k_smoke_trains_and_restores_44k_stereo_file(tmp_path):
  c = load_config('regression', 'smoke,music44k')
  c.data.data_dir = str(tmp_path / 'tfds')
  b = builder.prepare(c.data)
  assert b.info.features['clean'].shape == (44100, 2)  # 1 s stereo clips at 44.1 kHz
  assert b.info.splits['train'].num_examples == c.data.num_train
  workdir = tmp_path / 'run'
  metrics = loop.train_and_evaluate(c, str(workdir))
  assert all(np.isfinite(v) for v in metrics.values())

  r = inference.Restorer(str(workdir), chunk_seconds=0.5, overlap_seconds=0.1)
  assert r.sample_rate == 44100
  x = stereo_sweeps(1.7, 44100)
  src, out = tmp_path / 'in.wav', tmp_path / 'out.wav'
  sf.write(src, x, 44100, subtype='FLOAT')
  r.restore_file(src, out, progress=False)
  y, rate = sf.read(out, dtype='float32', always_2d=True)
  assert rate == 44100 and y.shape == x.shape and np.isfinite(y).all()
  # A few smoke steps leave the residual U-Net near the identity: each channel comes back as
  # itself, in place.
  assert np.max(np.abs(y - x)) < 0.05

  # A codec that kept 12 kHz (MP3 at 64 kbps, 44.1 kHz) cut a band the model fills; below its
  # edge the input comes back as it was (the crossover ends at the edge).
  noise = np.random.default_rng(0).normal(size=(2 * 44100, 2)) * 0.1
  spectrum = np.fft.rfft(noise, axis=0)
  spectrum[np.fft.rfftfreq(len(noise), 1 / 44100) > 12000] = 0
  cut = np.fft.irfft(spectrum, len(noise), axis=0).astype(np.float32)
  kept = inference.Restorer(str(workdir), chunk_seconds=1.0, overlap_seconds=0.25)
  restored = kept.restore_array(cut, 44100)
  filled = inference.Restorer(
    str(workdir), chunk_seconds=1.0, overlap_seconds=0.25, identity_above=None
  ).restore_array(cut, 44100)
  low = np.fft.rfftfreq(len(cut), 1 / 44100) < 11000

  def band_error(y):
    return np.abs(np.fft.rfft(y - cut, axis=0)[low]).max() / np.abs(np.fft.rfft(cut, axis=0)).max()

  assert band_error(restored) < 1e-3 < band_error(filled)
  # Above the edge the model's fill (faint after a few smoke steps), kept no louder than the
  # input's slope continued (flat noise: its level below the edge).
  freqs = np.fft.rfftfreq(len(cut), 1 / 44100)
  power = [np.mean(np.abs(np.fft.rfft(y, axis=0)) ** 2, axis=1) for y in (cut, restored)]
  above = (freqs > 12500) & (freqs < 20000)
  passband = power[0][(freqs > 6000) & (freqs < 11000)].mean()
  assert 100 * power[0][above].mean() < power[1][above].mean() < 2 * passband
  # A band only one channel lacks is not a codec's cut: the chunk comes back as it was.
  one_cut = np.stack([cut[:, 0], noise[:, 1].astype(np.float32)], 1)
  np.testing.assert_allclose(kept.restore_array(one_cut, 44100), one_cut, atol=1e-6)
  # The exported model (a symbolic batch) makes the same choice per chunk.
  from restoration import export, exported

  export.export(kept, tmp_path / 'model.zip')
  loaded = exported.load(tmp_path / 'model.zip')
  np.testing.assert_allclose(loaded.restore_array(one_cut, 44100), one_cut, atol=1e-6)
  np.testing.assert_allclose(loaded.restore_array(cut, 44100), restored, atol=1e-4)


def test_48k_stereo_file_through_16k_mono_model(smoke_run, tmp_path):
  r = inference.Restorer(smoke_run('regression'), chunk_seconds=1.0, overlap_seconds=0.25)
  assert r.sample_rate == 16000
  x = stereo_sweeps(2.3, 48000)
  src, out = tmp_path / 'in.wav', tmp_path / 'out.wav'
  sf.write(src, x, 48000, subtype='FLOAT')
  r.restore_file(src, out, progress=False)
  y, rate = sf.read(out, dtype='float32', always_2d=True)
  assert rate == 48000 and y.shape == x.shape and np.isfinite(y).all()
  assert np.max(np.abs(y - x)) < 0.05  # the sweeps fit the model's 8 kHz band
