"""The waveform diffusion vocoder: its transposed conv puts each STFT frame back on the samples
it was analysed from, any length works, the demo preset fits the CPU budget, and it restores
long files with flat memory (training and restoring at every step count: test_methods.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from test_restore import assert_memory_is_flat

from restoration import config as config_lib
from restoration import inference, methods, spectral
from restoration import state as state_lib
from restoration.errors import ConfigError
from restoration.methods import costs
from restoration.models import vocoder
from restoration.spectral import SpectralParams

P = SpectralParams()
LENGTH = 12345  # odd, not a multiple of the hop
FRAMES = P.n_frames(LENGTH)


def _support(x):
  """Samples (first axis) where any channel is nonzero."""
  return np.flatnonzero(np.abs(np.asarray(x)).reshape(x.shape[0], -1).sum(-1) > 0)


@pytest.mark.parametrize('k', [0, 40, FRAMES - 1])
def test_transposed_conv_puts_frame_k_on_the_samples_it_was_analysed_from(k):
  cond = vocoder.SpectralConditioner(P, 3, 4, rngs=nnx.Rngs(0))  # bias 0 at init
  frame = jax.random.normal(jax.random.key(k), (P.n_freq, 2))
  spec = jnp.zeros((1, FRAMES, P.n_freq, 2)).at[0, k].set(frame)

  # On the padded grid the stride-hop, kernel-n_fft transposed conv writes frame k onto
  # [k hop, k hop + n_fft), tapered by the periodic Hann window (zero at its first tap).
  raw = cond.transposed(spec)[0]
  assert raw.shape == ((FRAMES - 1) * P.hop + P.n_fft, 3)
  np.testing.assert_array_equal(_support(raw), np.arange(k * P.hop + 1, k * P.hop + P.n_fft))
  reference = cond.upsample(spec.reshape(1, FRAMES, -1))[0]  # nnx.ConvTranspose's own call
  np.testing.assert_allclose(raw, reference, atol=1e-5 * float(np.abs(reference).max()))

  # The STFT pads n_fft // 2 zeros in front (frames are centred on k hop), so aligned features
  # sit on [k hop - n_fft / 2, k hop + n_fft / 2) of the signal: exactly the samples frame k
  # depends on (those its window weights nonzero), cut to the signal at both ends.
  aligned = cond.align(spec, LENGTH)[0]
  assert aligned.shape == (LENGTH, 3)
  weights = jax.random.normal(jax.random.key(1), (P.n_freq, 2))
  read = jax.grad(lambda w: jnp.sum(spectral.analysis(w, P)[k] * weights))(
    jax.random.normal(jax.random.key(2), (LENGTH,))
  )
  np.testing.assert_array_equal(_support(aligned), _support(read))
  lo, hi = k * P.hop - P.n_fft // 2 + 1, k * P.hop + P.n_fft // 2
  np.testing.assert_array_equal(_support(aligned), np.arange(max(lo, 0), min(hi, LENGTH)))


@pytest.fixture(scope='module')
def untrained():
  """``(config, networks, params, rest)`` of a freshly initialised smoke vocoder."""
  c = config_lib.load_config('vocoder', 'smoke')
  with jax.threefry_partitionable(False):
    nets, state, _ = state_lib.create(c)
  return c, nets, state['params']['denoiser'], state['rest']['denoiser']


@pytest.mark.parametrize('length', [LENGTH, 1001])
def test_odd_lengths_keep_their_shape_and_spectrogram_round_trip(untrained, length):
  c, nets, params, rest = untrained
  model = nets.merge('denoiser', params, rest)
  wave = jax.random.uniform(jax.random.key(0), (2, length), minval=-0.3, maxval=0.3)
  assert model(wave, cond=wave, noise_level=jnp.full((2,), 0.5)).shape == (2, length)

  # Spectrogram in, spectrogram out: an untrained vocoder (zero output layer) returns its input,
  # so the wave round trip inside the enhancer loses nothing, last frames included.
  spec = spectral.analysis(wave, P)
  for steps in methods.get('vocoder').eval_steps(c):
    out = jax.jit(inference.enhancer(c, nets, steps=steps))(params, rest, spec, jax.random.key(1))
    assert out.shape == spec.shape == (2, P.n_frames(length), P.n_freq, 2)
    np.testing.assert_allclose(out, spec, atol=1e-5)
    assert spectral.synthesis(out, P, length).shape == (2, length)


def test_demo_preset_costs_at_most_half_a_gflop_per_audio_second():
  c = config_lib.load_config('vocoder', 'demo')
  modules = nnx.eval_shape(lambda: methods.get('vocoder').networks(c, nnx.Rngs(0)))
  gflops = costs.forward_gflops_per_audio_second(c, modules)['denoiser']
  assert 0.2 < gflops <= 0.5, gflops


def test_model_overrides_take_the_vocoders_fields_and_leave_the_unets_alone():
  c = config_lib.load_config('vocoder', 'smoke,music44k')  # sets the shared U-Net's band_size
  c.model.overrides.channels = 4
  config_lib.validate(c)
  net = methods.get('vocoder').networks(c, nnx.Rngs(0))['denoiser']
  assert net.channels == 4 and net.conditioner.params.n_fft == 1024
  c.model.overrides.nosuch = 1
  with pytest.raises(ConfigError, match=r'model.overrides.nosuch=1: expected a field'):
    config_lib.validate(c)


def test_restoring_twenty_minutes_keeps_memory_flat(smoke_run, tmp_path):
  # 20 minutes: holding it whole would add 77 MB, well clear of the noise between processes.
  assert_memory_is_flat(smoke_run('vocoder'), tmp_path, long_minutes=20, margin_mb=45)
