"""Data-to-data bridge (Schroedinger-bridge style) from the degraded spectrogram to the clean
one: a data-prediction U-Net trained with the regression baseline's reconstruction losses on
its clean estimate, sampled in a few Euler/DDIM-like steps whose last returns that estimate.

``predictive_bridge`` is the predictive + generative variant (StoRM-style): a frozen
one-pass restorer (``train.init_from``, e.g. the regression run) makes an estimate first, and
the bridge runs from that estimate to the clean spectrogram, conditioned on it, so the
generative part only has to add what the predictor over-smoothed.
"""

from __future__ import annotations

import jax
from flax import nnx

from restoration.methods import base, common
from restoration.models.features import freeze
from restoration.objectives import bridge, diffusion, reconstruction
from restoration.spectral import SpectralParams
from restoration.train import steps as steps_lib


class PredictiveDenoiser(nnx.Module):
  """A frozen one-pass predictor beside the trainable denoiser: one main network, so that
  checkpoints, restore and export carry both (the predictor's weights are ``Frozen``, in the
  state's ``rest``, never trained)."""

  def __init__(self, predictor: nnx.Module, denoiser: nnx.Module):
    self.predictor = freeze(predictor)
    self.denoiser = denoiser

  def anchor(self, degraded: jax.Array) -> jax.Array:
    return jax.lax.stop_gradient(self.predictor(degraded))

  def __call__(self, x: jax.Array, *, cond: jax.Array, noise_level: jax.Array) -> jax.Array:
    return self.denoiser(x, cond=cond, noise_level=noise_level)


def _anchor(model: nnx.Module, degraded: jax.Array) -> jax.Array:
  """The bridge's start: the degraded input, or the predictor's estimate of it."""
  return model.anchor(degraded) if isinstance(model, PredictiveDenoiser) else degraded


def _predict_fn(model: nnx.Module, anchor: jax.Array) -> bridge.PredictFn:
  return lambda x, t: model(x, cond=anchor, noise_level=t)


def check_bridge(config, need) -> None:
  """The bridge objective's and sampler's fields (shared by every method that samples it)."""
  o, s = config.objective, config.sampling
  need(o.space in diffusion.SPACES, 'objective.space', f'one of {diffusion.SPACES}')
  need(o.residual_scale > 0, 'objective.residual_scale', 'a positive float')
  need(o.bridge.sigma >= 0, 'objective.bridge.sigma', 'a float >= 0')
  need(0 <= o.bridge.p_start <= 1, 'objective.bridge.p_start', 'in [0, 1]')
  need(s.steps >= 1, 'sampling.steps', 'an integer >= 1')
  need(
    len(s.eval_steps) > 0 and min(s.eval_steps) >= 1, 'sampling.eval_steps', 'positive step counts'
  )


class Bridge(base.ConditionalDenoiser):
  family = 'bridge'
  architecture = 'shared band-split U-Net (time-conditioned, degraded input as condition)'
  objective = (
    'Brownian bridge degraded -> clean on the codec residual; data prediction with '
    'reconstruction losses (complex MSE + multi-resolution STFT) on the clean estimate'
  )
  uses = 'few-step generative restoration; 1 step is a regression pass, more add detail'
  specific_modules = ('restoration.objectives.bridge', 'restoration.objectives.diffusion')
  predictive = False  # True: the bridge starts from a frozen predictor's estimate

  def networks(self, config, rngs):
    nets = super().networks(config, rngs)
    if self.predictive:
      # The predictor is the regression baseline's network (same preset), filled by warm start.
      nets['denoiser'] = PredictiveDenoiser(common.unet(config, rngs), nets['denoiser'])
    return nets

  def warm_start_target(self, config):
    if self.predictive:
      return ('rest', 'denoiser', 'predictor')
    return super().warm_start_target(config)

  def check(self, config, need):
    need(
      not self.predictive or bool(config.train.init_from),
      'train.init_from',
      f'the workdir of a trained one-pass restorer (e.g. regression): {self.name} freezes it '
      'as its predictor',
    )
    check_bridge(config, need)

  def step(self, config, nets) -> base.Step:
    o = config.objective
    p = SpectralParams.from_config(config.spectral)
    weights, sr = steps_lib.reconstruction_weights(config), config.data.sample_rate

    def step(state, batch, rng, *, axis_name=None):
      degraded, length = batch['degraded'], batch['clean_wave'].shape[-1]
      rest = state['rest']['denoiser']
      anchor = _anchor(nets.merge('denoiser', state['params']['denoiser'], rest), degraded)
      x1 = diffusion.to_process(batch['clean'], anchor, o.space, o.residual_scale)
      keys = steps_lib.example_keys(rng, x1.shape[0], axis_name)
      t, x_t = bridge.training_input(keys, x1, o.bridge.p_start, o.bridge.sigma)

      def loss_fn(params):
        predict = _predict_fn(nets.merge('denoiser', params, rest), anchor)
        pred = diffusion.from_process(predict(x_t, t), anchor, o.space, o.residual_scale)
        return reconstruction.reconstruction_loss(
          pred, batch['clean'], params=p, length=length, weights=weights, sample_rate=sr
        )

      return steps_lib.single_network_step(
        state, nets, 'denoiser', loss_fn, config.train.ema_decay, axis_name
      )

    return step

  def enhancer(self, config, nets, *, steps: int | None = None) -> base.Enhancer:
    o = config.objective
    steps = steps or config.sampling.steps

    def run(params, rest, degraded, rng):
      model = nets.merge('denoiser', params, rest)
      anchor = _anchor(model, degraded)
      x = bridge.sample(
        _predict_fn(model, anchor), degraded.shape, rng=rng, steps=steps, sigma_max=o.bridge.sigma
      )
      return diffusion.from_process(x, anchor, o.space, o.residual_scale)

    return run

  def network_calls(self, config, steps: int | None = None) -> int:
    """Denoiser calls, plus the predictor's one pass in the predictive variant."""
    return (steps or config.sampling.steps) + int(self.predictive)

  def describe(self, config) -> dict[str, str]:
    o = config.objective
    start = "the frozen predictor's estimate" if self.predictive else 'the input'
    return {
      **super().describe(config),
      'sampling': f'bridge sampler from {start} (noise-free end), sigma_max '
      f'{o.bridge.sigma:g}; the last step returns the clean estimate.',
    }


base.register(Bridge('bridge'))
base.register(
  Bridge(
    'predictive_bridge',
    predictive=True,
    starts_from='regression',
    architecture='frozen predictor (the regression U-Net, train.init_from) + shared band-split '
    'U-Net (time-conditioned, the prediction as condition)',
    objective='Brownian bridge prediction -> clean (StoRM-style predictive + generative); data '
    'prediction with reconstruction losses on the clean estimate',
    uses='few-step generative refinement of a regression estimate',
  )
)
