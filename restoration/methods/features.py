"""Pretrains the projected critic's feature network: classify clean vs codec:bitrate.

Not a restorer: the projected GAN loads its trunk (``critic.feature_checkpoint``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from restoration.methods import base
from restoration.train import steps


class Features(base.Method):
  family = 'pretraining'
  architecture = "codec classifier (the projected critic's feature network + a linear head)"
  objective = 'cross-entropy over clean + each codec:bitrate'
  uses = 'frozen features for the projected critic'
  main = 'classifier'
  restores = False
  specific_modules = ('restoration.models.features',)

  def networks(self, config, rngs):
    from restoration.models import features

    classes = 1 + len(config.data.degradations)
    return {'classifier': features.CodecClassifier(classes, size=config.critic.preset, rngs=rngs)}

  def step(self, config, nets) -> base.Step:
    def step(state, batch, rng, *, axis_name=None):
      del rng
      x = jnp.concatenate([batch['clean'], batch['degraded']])
      labels = jnp.concatenate([jnp.zeros_like(batch['degradation']), 1 + batch['degradation']])

      def loss_fn(params):
        logits = nets.merge('classifier', params, state['rest']['classifier'])(x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1) == labels)

      (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params']['classifier'])
      state, info = steps.update(state, nets, 'classifier', grads, loss, axis_name)
      metrics = {
        'loss': loss,
        'accuracy': acc,
        'classifier_grad_norm': info['classifier_grad_norm'],
      }
      return steps.finish(state, nets, config.train.ema_decay, info['ok'], metrics, axis_name)

    return step


base.register(Features('features'))
