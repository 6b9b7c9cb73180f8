"""What the methods build alike: the shared U-Net from a config, the compute dtype applied to
every network, and the optimizer recipe.

Kept out of ``base.py``, which holds only the interface and the registry; nothing here knows a
method by name.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax
from flax import nnx

from restoration.errors import ConfigError
from restoration.spectral import SpectralParams

# ``train.compute_dtype``: what every network computes in (parameters stay float32).
COMPUTE_DTYPES = ('float32', 'bfloat16')


def compute_dtype(config) -> jnp.dtype:
  """The networks' compute dtype, ``train.compute_dtype`` (float32 for runs saved before the
  field existed)."""
  return jnp.dtype(config.train.compute_dtype)


def with_compute_dtype(config, modules: dict[str, nnx.Module]) -> dict[str, nnx.Module]:
  """``modules`` with every layer that takes a compute ``dtype`` and leaves it unset (flax's
  convolutions, dense maps, norms and attention; ``BandLinear``) set to ``compute_dtype``.

  One pass over the built graphs instead of a ``dtype=`` argument through every builder: each
  network (U-Net, critics, vocoder, frozen feature nets) is covered, a new one too. Parameters
  keep their float32 ``param_dtype`` (so optimizer state, EMA and checkpoints stay float32);
  each layer casts its inputs and weights to bfloat16, norms take their statistics in float32,
  and every network returns float32 (U-Net, vocoder, critics, classifier), so losses, metrics
  and the spectral transforms around the networks run in float32. Called where the train
  state is built (``restoration.state``), so training, restore and export all see it.
  """
  dtype = compute_dtype(config)
  for module in modules.values():
    for _, node in list(nnx.iter_graph(module)):
      if isinstance(node, nnx.Module) and hasattr(node, 'dtype') and node.dtype is None:
        node.dtype = dtype
  return modules


def unet(config, rngs: nnx.Rngs, **kwargs) -> nnx.Module:
  """The shared U-Net at ``config.model.preset`` plus ``config.model.overrides``.

  ``config.model.noise_channels`` (a noise input) reaches only a U-Net whose method passes
  ``noise_channels=`` (the GAN's generator); any other stops the run at start rather than
  ignore the field.
  """
  from restoration.models import unet as unet_lib

  m = config.model
  if 'noise_channels' in m.overrides:
    raise ConfigError(
      f'config.model.overrides.noise_channels={m.overrides.noise_channels!r}: expected no such '
      'override (set config.model.noise_channels)'
    )
  if m.noise_channels and 'noise_channels' not in kwargs:
    raise ConfigError(
      f'config.model.noise_channels={m.noise_channels!r}: expected 0: only the GAN family '
      f'takes a noise input ({config.method} does not)'
    )
  args = dict(unet_lib.UNET_PRESETS[config.model.preset])
  args.update(dict(config.model.overrides))
  args['n_freq'] = SpectralParams.from_config(config.spectral).n_freq
  args['remat'] = m.remat
  args.update(kwargs)
  return unet_lib.UNet(**args, rngs=rngs)


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
