"""Data-to-data bridge (Schroedinger-bridge style) from the degraded spectrogram to the clean
one: a data-prediction U-Net trained with the regression baseline's reconstruction losses on
its clean estimate, sampled in a few Euler/DDIM-like steps whose last returns that estimate."""

from __future__ import annotations

import jax

from restoration.methods import base
from restoration.objectives import bridge, diffusion, reconstruction
from restoration.spectral import SpectralParams
from restoration.train import steps as steps_lib


def _predict_fn(nets, params, rest, degraded):
  model = nets.merge('denoiser', params, rest)
  return lambda x, t: model(x, cond=degraded, noise_level=t)


class Bridge(base.ConditionalDenoiser):
  family = 'diffusion'
  architecture = 'shared band-split U-Net (time-conditioned, degraded input as condition)'
  objective = (
    'Brownian bridge degraded -> clean on the codec residual; data prediction with '
    'reconstruction losses (complex MSE + multi-resolution STFT) on the clean estimate'
  )
  uses = 'few-step generative restoration; 1 step is a regression pass, more add detail'
  specific_modules = ('restoration.objectives.bridge', 'restoration.objectives.diffusion')

  def check(self, config, need):
    o = config.objective
    need(o.space in diffusion.SPACES, 'objective.space', f'one of {diffusion.SPACES}')
    need(o.residual_scale > 0, 'objective.residual_scale', 'a positive float')
    need(o.get('bridge_sigma', -1) >= 0, 'objective.bridge_sigma', 'a float >= 0')
    need(0 <= o.get('bridge_p_start', -1) <= 1, 'objective.bridge_p_start', 'in [0, 1]')
    need(config.sampling.steps >= 1, 'sampling.steps', 'an integer >= 1')
    need(
      len(config.sampling.eval_steps) > 0 and min(config.sampling.eval_steps) >= 1,
      'sampling.eval_steps',
      'positive step counts',
    )

  def step(self, config, nets) -> base.Step:
    o = config.objective
    p = SpectralParams.from_config(config.spectral)
    weights, sr = steps_lib.reconstruction_weights(config), config.data.sample_rate

    def step(state, batch, rng, *, axis_name=None):
      if axis_name is not None:  # distinct noise per device
        rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))
      degraded, length = batch['degraded'], batch['clean_wave'].shape[-1]
      x1 = diffusion.to_process(batch['clean'], degraded, o.space, o.residual_scale)
      k_t, k_eps = jax.random.split(rng)
      t = bridge.sample_t(k_t, x1.shape[0], o.bridge_p_start)
      x_t = bridge.interpolate(x1, t, jax.random.normal(k_eps, x1.shape), o.bridge_sigma)

      def loss_fn(params):
        predict = _predict_fn(nets, params, state['rest']['denoiser'], degraded)
        pred = diffusion.from_process(predict(x_t, t), degraded, o.space, o.residual_scale)
        return reconstruction.reconstruction_loss(
          pred, batch['clean'], params=p, length=length, weights=weights, sample_rate=sr
        )

      (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params']['denoiser'])
      state, info = steps_lib.update(state, nets, 'denoiser', grads, loss, axis_name)
      metrics = {
        'loss': loss,
        'denoiser_grad_norm': info['denoiser_grad_norm'],
        **{f'recon/{k}': v for k, v in terms.items()},
      }
      return steps_lib.finish(state, nets, config.train.ema_decay, info['ok'], metrics, axis_name)

    return step

  def enhancer(self, config, nets, *, steps: int | None = None) -> base.Enhancer:
    o = config.objective
    steps = steps or config.sampling.steps

    def run(params, rest, degraded, rng):
      x = bridge.sample(
        _predict_fn(nets, params, rest, degraded),
        degraded.shape,
        rng=rng,
        steps=steps,
        sigma_max=o.bridge_sigma,
      )
      return diffusion.from_process(x, degraded, o.space, o.residual_scale)

    return run

  def network_calls(self, config, steps: int | None = None) -> int:
    return steps or config.sampling.steps

  def describe(self, config) -> dict[str, str]:
    o = config.objective
    return {
      **super().describe(config),
      'sampling': f'bridge sampler from the degraded input (noise-free end), sigma_max '
      f'{o.bridge_sigma:g}; the last step returns the clean estimate.',
    }


base.register(Bridge('bridge'))
