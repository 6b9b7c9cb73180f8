"""Frozen feature networks for the projected critic (no weights are ever downloaded).

Two options, same architecture (``FeatureNet``, a small conv pyramid with 4 scales):
fixed random convolutions (``random_feature_net``), or the trunk of a ``CodecClassifier`` that
the project pretrains itself to tell codecs and bitrates apart (training method 'features')
and loads with ``load_feature_net``. Frozen weights live in ``Frozen`` variables, which are not
``nnx.Param``, so optimizers filtered on ``nnx.Param`` never see them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from restoration import checkpoint, spectral

Stride = tuple[int, int]

FEATURE_PRESETS: dict[str, dict] = {
  'smoke': dict(channels=(4, 8, 8, 16)),
  'demo': dict(channels=(8, 16, 32, 64)),
  'base': dict(channels=(32, 64, 128, 256)),
  'large': dict(channels=(64, 128, 256, 512)),
}

# Where a 'features' run's Orbax 'state' item keeps the FeatureNet: among the train state's
# params, those of the network 'classifier' (a CodecClassifier), at its attribute 'trunk'.
TRUNK_PATH = ('params', 'classifier', 'trunk')


class Frozen(nnx.Variable):
  """A weight that is never trained (not an ``nnx.Param``, so Param-filtered grads skip it)."""


def freeze(module: nnx.Module) -> nnx.Module:
  """A copy of ``module`` whose ``nnx.Param`` variables are all turned into ``Frozen``."""
  module = nnx.clone(module)
  for _, node in nnx.iter_graph(module):
    if isinstance(node, nnx.Module):
      for name, value in list(vars(node).items()):
        if isinstance(value, nnx.Param):
          setattr(node, name, Frozen(value[...]))
  return module


def log_magnitude(x: jax.Array) -> jax.Array:
  """``log10`` of the squared compressed magnitude mapped to about [-1, 1] (floor at 1e-8).

  The channel that makes a codec's missing band visible: there, the compressed magnitude is
  ~0.001 against ~0.02 in the clean band, a gap a random projection of the linear channels
  drowns among the large low-band values; in log it is a step of ~0.5.
  """
  return 0.25 * (jnp.log10(jnp.sum(jnp.square(x), axis=-1) + 1e-8) + 4.0)


class FeatureNet(nnx.Module):
  """Conv pyramid over (real, imag, compressed magnitude, its log): ``[B, T, F, 2]`` -> 4 maps.

  Each scale halves time and frequency (stride-2 conv, then a 3x3 conv; leaky ReLU). He-normal
  init keeps activations at a steady scale through the depth, which is what makes the fixed
  random variant a usable projection.
  """

  def __init__(
    self,
    *,
    channels: Sequence[int] = (8, 16, 32, 64),
    strides: Sequence[Stride] = ((2, 2),) * 4,
    rngs: nnx.Rngs,
  ):
    if len(channels) != len(strides):
      raise ValueError(
        f'FeatureNet: channels {tuple(channels)} and strides {tuple(strides)} '
        'need one entry per scale'
      )
    init = nnx.initializers.variance_scaling(2.0, 'fan_in', 'normal')
    conv = lambda a, b, s: nnx.Conv(a, b, (3, 3), strides=s, kernel_init=init, rngs=rngs)
    c_prev, stages = 4, []
    for c, s in zip(channels, strides):
      stages.append(nnx.List([conv(c_prev, c, tuple(s)), conv(c, c, 1)]))
      c_prev = c
    self.stages = nnx.List(stages)
    self.channels = tuple(channels)

  def __call__(self, x: jax.Array) -> list[jax.Array]:
    h = jnp.concatenate([x, spectral.magnitude(x)[..., None], log_magnitude(x)[..., None]], axis=-1)
    feats = []
    for stage in self.stages:
      for conv in stage:
        h = nnx.leaky_relu(conv(h), 0.2)
      feats.append(h)
    return feats


def random_feature_net(size: str, rngs: nnx.Rngs) -> FeatureNet:
  """The 'fixed random convolutions' option: a freshly initialised FeatureNet preset."""
  return FeatureNet(**_preset(size), rngs=rngs)


class CodecClassifier(nnx.Module):
  """FeatureNet trunk + pooled linear head predicting the degradation class.

  Classes index (codec, bitrate) pairs, class 0 = clean. Pooling each scale's mean over
  (time, freq) and concatenating makes every scale carry class evidence, so all four feature
  maps the projected critic reads are trained, not only the last.
  """

  def __init__(self, num_classes: int, *, size: str = 'demo', rngs: nnx.Rngs):
    if num_classes < 2:
      raise ValueError(
        f'CodecClassifier.num_classes: expected >= 2 (clean + codecs), got {num_classes}'
      )
    self.trunk = FeatureNet(**_preset(size), rngs=rngs)
    self.head = nnx.Linear(sum(self.trunk.channels), num_classes, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    pooled = [f.astype(jnp.float32).mean(axis=(1, 2)) for f in self.trunk(x)]
    return self.head(jnp.concatenate(pooled, axis=-1)).astype(jnp.float32)  # float32 loss


def _preset(size: str) -> dict:
  if size not in FEATURE_PRESETS:
    raise ValueError(f'feature net size: expected one of {sorted(FEATURE_PRESETS)}, got {size!r}')
  return FEATURE_PRESETS[size]


def load_feature_net(workdir: str | os.PathLike, size: str) -> FeatureNet:
  """The trunk of the ``CodecClassifier`` that a 'features' run saved in ``workdir`` at its
  latest readable step (:func:`restoration.checkpoint.load_run_weights`).

  Reads ``TRUNK_PATH`` of the stored train state, in host arrays: the GAN builds its networks
  under ``jax.eval_shape``/``jax.jit``, where restoring device arrays fails. The run's preset
  must be ``size``.
  """
  expected = f"expected a 'features' run's workdir ({'/'.join(TRUNK_PATH)} in its state)"
  restored = checkpoint.load_run_weights(workdir, 'latest', hint=expected)
  trunk = restored.state
  for key in TRUNK_PATH:
    trunk = trunk.get(key) if isinstance(trunk, dict) else None
  where = f'load_feature_net: {workdir} step {restored.step}'
  if trunk is None:
    raise checkpoint.CheckpointMismatchError(f'{where} lacks the trunk; {expected}')
  graphdef, abstract = nnx.split(
    nnx.eval_shape(lambda: FeatureNet(**_preset(size), rngs=nnx.Rngs(0)))
  )
  weights = checkpoint.place_by_path(
    trunk,
    abstract,
    where=f'{where}: its trunk',
    advice=f'expected FeatureNet preset {size!r} (was the features run trained at another size?)',
  )
  return nnx.merge(graphdef, weights)
