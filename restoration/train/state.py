"""Networks per method, optimizers, and the train state pytree.

The train state is a plain pytree (dict) so the steps stay pure and Orbax saves it as is:
``{'step', 'params': {net: nnx.State}, 'rest': {net: nnx.State}, 'opt': {net: opt_state},
'ema': nnx.State, 'nonfinite': int, 'skipped': int}``. ``params`` holds the trainable
``nnx.Param`` leaves; ``rest`` everything else (frozen feature networks, CCM projections).
The static half (graph definitions, optimizers) lives in :class:`Networks`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from restoration.spectral import SpectralParams

GAN_METHODS = ('gan', 'wgan', 'projected_gan')
# The network each method trains first; inference and EMA use it.
MAIN_NET = {
  'gan': 'generator',
  'wgan': 'generator',
  'projected_gan': 'generator',
  'regression': 'generator',
  'diffusion': 'denoiser',
  'features': 'classifier',
}


@dataclasses.dataclass(frozen=True)
class Networks:
  """Static graph definitions and optimizers of a run (not part of the state)."""

  graphdefs: dict[str, Any]
  txs: dict[str, optax.GradientTransformation]
  method: str

  @property
  def main(self) -> str:
    return MAIN_NET[self.method]

  def merge(self, name: str, params, rest) -> nnx.Module:
    return nnx.merge(self.graphdefs[name], params, rest)


def unet_kwargs(config) -> dict:
  """Backbone kwargs: the size preset plus ``config.model.overrides``."""
  from restoration.models import unet

  kwargs = dict(unet.UNET_PRESETS[config.model.preset])
  kwargs.update(dict(config.model.overrides))
  kwargs['n_freq'] = SpectralParams.from_config(config.spectral).n_freq
  return kwargs


def build_modules(config, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
  """The networks a method trains, with fresh parameters."""
  from restoration.models import unet

  method = config.method
  p = SpectralParams.from_config(config.spectral)
  if method == 'features':
    from restoration.models import features

    return {
      'classifier': features.CodecClassifier(
        size=config.critic.preset, num_classes=1 + len(config.data.degradations), rngs=rngs
      )
    }
  if method == 'diffusion':
    return {
      'denoiser': unet.UNet(
        **unet_kwargs(config),
        in_channels=2,
        cond_channels=2,
        noise_embedding=True,
        residual=False,
        rngs=rngs,
      )
    }
  modules = {'generator': unet.UNet(**unet_kwargs(config), rngs=rngs)}
  if method in GAN_METHODS:
    from restoration.models import discriminators, features

    feature_net = None
    if config.critic.kind == 'projected':
      feature_net = (
        features.load_feature_net(config.critic.feature_checkpoint, config.critic.preset)
        if config.critic.feature_checkpoint
        else features.random_feature_net(config.critic.preset, rngs)
      )
    modules['critic'] = discriminators.make_critic(
      config.critic.kind, config.critic.preset, spectral=p, feature_net=feature_net, rngs=rngs
    )
  return modules


def lr_schedule(config, learning_rate: float) -> optax.Schedule:
  """Linear warm-up, then cosine decay to a tenth (also logged by the loop)."""
  t = config.train
  return optax.warmup_cosine_decay_schedule(
    0.0,
    learning_rate,
    max(1, min(t.warmup_steps, t.num_steps // 2)),
    max(2, t.num_steps),
    end_value=learning_rate * 0.1,
  )


def make_optimizer(config, learning_rate: float) -> optax.GradientTransformation:
  """AdamW with linear warm-up then cosine decay, after global-norm clipping."""
  t = config.train
  return optax.chain(
    optax.clip_by_global_norm(t.grad_clip) if t.grad_clip else optax.identity(),
    optax.adamw(
      lr_schedule(config, learning_rate),
      b1=t.b1,
      b2=t.b2,
      eps=t.adam_eps,
      weight_decay=t.weight_decay,
    ),
  )


def optimizers(config) -> dict[str, optax.GradientTransformation]:
  """One optimizer per trained network (the critic has its own learning rate)."""
  txs = {MAIN_NET[config.method]: make_optimizer(config, config.train.learning_rate)}
  if config.method in GAN_METHODS:
    txs['critic'] = make_optimizer(config, config.train.critic_learning_rate)
  return txs


def _init(config, txs) -> tuple[dict, dict[str, Any]]:
  modules = build_modules(config, nnx.Rngs(config.seed))
  state = {
    'step': jnp.zeros((), jnp.int32),
    'params': {},
    'rest': {},
    'opt': {},
    'nonfinite': jnp.zeros((), jnp.int32),
    'skipped': jnp.zeros((), jnp.int32),
  }
  graphdefs = {}
  for name, module in modules.items():
    graphdefs[name], params, rest = nnx.split(module, nnx.Param, ...)
    state['params'][name] = params
    state['rest'][name] = rest
    state['opt'][name] = txs[name].init(params)
  state['ema'] = jax.tree.map(jnp.copy, state['params'][MAIN_NET[config.method]])
  return state, graphdefs


def networks(config) -> Networks:
  """The static half of a run (graph definitions, optimizers) without creating parameters."""
  txs = optimizers(config)
  graphdefs = {}

  def init():
    state, gd = _init(config, txs)
    graphdefs.update(gd)
    return state

  jax.eval_shape(init)
  return Networks(graphdefs=graphdefs, txs=txs, method=config.method)


def create(config, sharding_fn=None) -> tuple[Networks, dict, Any]:
  """``(networks, state, state_sharding)``; parameters are created already sharded.

  ``sharding_fn(abstract_state) -> shardings`` (see ``train.sharding.param_sharding``).
  """
  nets = networks(config)
  shardings = sharding_fn(abstract_state(config, None)) if sharding_fn is not None else None
  state = jax.jit(lambda: _init(config, nets.txs)[0], out_shardings=shardings)()
  return nets, state, shardings


def abstract_state(config, shardings) -> Any:
  """Shape/dtype/sharding target for restoring a checkpoint of this config."""
  abstract = jax.eval_shape(lambda: _init(config, optimizers(config))[0])
  if shardings is None:
    return abstract
  return jax.tree.map(
    lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings
  )


def count_params(params) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(params))
