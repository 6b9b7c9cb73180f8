"""Waveform diffusion vocoder: the data-to-data bridge of ``objectives/bridge.py`` run on the
waveform residual (clean - degraded wave) by a 1D U-Net over samples, conditioned on the degraded
input's compressed STFT aligned to the sample grid by a transposed conv (``models/vocoder.py``).

It keeps the project's interface, spectrogram in and spectrogram out: the enhancer synthesises
the degraded wave from its spectrogram, runs the waveform sampler and analyses the result, so
restore, evaluation, streaming, export, the benchmark and the notebooks take it unchanged.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp

from restoration import spectral
from restoration.methods import base
from restoration.methods import bridge as bridge_method
from restoration.models import unet, vocoder
from restoration.objectives import bridge, diffusion, reconstruction
from restoration.spectral import SpectralParams
from restoration.train import steps as steps_lib


def _arguments(cls) -> tuple[str, ...]:
  return tuple(n for n in inspect.signature(cls.__init__).parameters if n not in ('self', 'rngs'))


# ``model.overrides`` is shared by every method and presets fill it for the shared U-Net
# (``music44k`` sets its ``band_size``): the vocoder takes its own network's fields and leaves
# the U-Net's alone; a field neither network has is a config error.
_OVERRIDABLE = tuple(n for n in _arguments(vocoder.VocoderNet) if n != 'spectral_params')
_UNET_ONLY = tuple(n for n in _arguments(unet.UNet) if n not in _OVERRIDABLE)


def _predict_fn(model, degraded_wave: jax.Array) -> bridge.PredictFn:
  return lambda x, t: model(x, cond=degraded_wave, noise_level=t)


class Vocoder(base.ConditionalDenoiser):
  family = 'bridge'
  architecture = (
    'waveform vocoder: compressed STFT -> transposed conv (stride hop, kernel n_fft) onto the '
    'sample grid -> 1D U-Net over samples (noise-level embedding)'
  )
  objective = (
    'Brownian bridge degraded -> clean on the waveform residual; data prediction with '
    'reconstruction losses on the STFT of the predicted wave'
  )
  uses = (
    'waveform-domain synthesis against the spectrogram methods at equal cost; 1 step is a '
    'regression pass'
  )
  specific_modules = (
    'restoration.models.vocoder',
    'restoration.objectives.bridge',
    'restoration.objectives.diffusion',
  )

  def networks(self, config, rngs):
    args = dict(vocoder.VOCODER_PRESETS[config.model.preset])
    args.update({k: v for k, v in config.model.overrides.items() if k in _OVERRIDABLE})
    p = SpectralParams.from_config(config.spectral)
    return {
      'denoiser': vocoder.VocoderNet(spectral_params=p, remat=config.model.remat, **args, rngs=rngs)
    }

  def forward_inputs(self, config, name, spectrogram):
    del name, spectrogram  # the network reads waves: one second of them
    wave = jnp.zeros((1, int(config.data.sample_rate)))
    return (wave,), {'cond': wave, 'noise_level': jnp.zeros((1,))}

  def check(self, config, need):
    presets = tuple(vocoder.VOCODER_PRESETS)
    need(config.model.preset in presets, 'model.preset', f'one of {presets}')
    for field in config.model.overrides:
      need(
        field in _OVERRIDABLE + _UNET_ONLY,
        f'model.overrides.{field}',
        f'a field of the vocoder network {_OVERRIDABLE} (or of the shared U-Net, unused here)',
      )
    bridge_method.check_bridge(config, need)

  def step(self, config, nets) -> base.Step:
    o = config.objective
    p = SpectralParams.from_config(config.spectral)
    weights, sr = steps_lib.reconstruction_weights(config), config.data.sample_rate

    def step(state, batch, rng, *, axis_name=None):
      degraded = batch['degraded_wave']
      x1 = diffusion.to_process(batch['clean_wave'], degraded, o.space, o.residual_scale)
      keys = steps_lib.example_keys(rng, x1.shape[0], axis_name)
      t, x_t = bridge.training_input(keys, x1, o.bridge.p_start, o.bridge.sigma)
      rest = state['rest']['denoiser']

      def loss_fn(params):
        predict = _predict_fn(nets.merge('denoiser', params, rest), degraded)
        wave = diffusion.from_process(predict(x_t, t), degraded, o.space, o.residual_scale)
        return reconstruction.reconstruction_loss(
          spectral.analysis(wave, p),
          batch['clean'],
          params=p,
          length=degraded.shape[-1],
          weights=weights,
          sample_rate=sr,
        )

      return steps_lib.single_network_step(
        state, nets, 'denoiser', loss_fn, config.train.ema_decay, axis_name
      )

    return step

  def enhancer(self, config, nets, *, steps: int | None = None) -> base.Enhancer:
    """Spectrogram in, spectrogram out around the waveform sampler.

    ``T`` frames describe samples ``[0, T hop)``: the STFT of a wave zero-extended to ``T hop``
    samples has the same first ``T`` frames (the framing centres frame ``k`` on ``k hop``), so
    the degraded wave is synthesised at that length, restored, analysed, and cut to ``T``.
    """
    o = config.objective
    p = SpectralParams.from_config(config.spectral)
    steps = steps or config.sampling.steps

    def run(params, rest, degraded, rng):
      frames = degraded.shape[1]
      wave = spectral.synthesis(degraded, p, frames * p.hop)
      model = nets.merge('denoiser', params, rest)
      x = bridge.sample(
        _predict_fn(model, wave), wave.shape, rng=rng, steps=steps, sigma_max=o.bridge.sigma
      )
      restored = diffusion.from_process(x, wave, o.space, o.residual_scale)
      return spectral.analysis(restored, p)[:, :frames]

    return run

  def network_calls(self, config, steps: int | None = None) -> int:
    return steps or config.sampling.steps

  def describe(self, config) -> dict[str, str]:
    o = config.objective
    return {
      **super().describe(config),
      'sampling': f'bridge sampler on the waveform residual from the input (noise-free end), '
      f'sigma_max {o.bridge.sigma:g}; the last step returns the clean wave, analysed back to '
      'the spectrogram.',
    }


base.register(Vocoder('vocoder'))
