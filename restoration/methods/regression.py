"""Regression baseline: the shared U-Net trained with reconstruction losses only."""

from __future__ import annotations

from restoration.methods import base, common
from restoration.objectives import reconstruction
from restoration.spectral import SpectralParams
from restoration.train import steps


class Regression(base.Method):
  family = 'regression'
  objective = 'reconstruction only (complex MSE + multi-resolution STFT)'
  uses = 'cheap baseline; safe where artefacts matter more than bandwidth'

  def networks(self, config, rngs):
    return {'generator': common.unet(config, rngs)}

  def step(self, config, nets) -> base.Step:
    p = SpectralParams.from_config(config.spectral)
    weights, sr = steps.reconstruction_weights(config), config.data.sample_rate

    def step(state, batch, rng, *, axis_name=None):
      del rng  # deterministic objective
      length = batch['clean_wave'].shape[-1]

      def loss_fn(params):
        pred = nets.merge('generator', params, state['rest']['generator'])(batch['degraded'])
        return reconstruction.reconstruction_loss(
          pred, batch['clean'], params=p, length=length, weights=weights, sample_rate=sr
        )

      return steps.single_network_step(
        state, nets, 'generator', loss_fn, config.train.ema_decay, axis_name
      )

    return step


base.register(Regression('regression'))
