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
import orbax.checkpoint as ocp
from flax import nnx

from restoration import spectral

Stride = tuple[int, int]

FEATURE_PRESETS: dict[str, dict] = {
  'smoke': dict(channels=(4, 8, 8, 16)),
  'demo': dict(channels=(8, 16, 32, 64)),
  'base': dict(channels=(32, 64, 128, 256)),
  'large': dict(channels=(64, 128, 256, 512)),
}

# Where the 'features' training method keeps the classifier parameters inside the Orbax
# 'state' item: state[PARAMS_KEY] = nnx.to_pure_dict(nnx.state(classifier, nnx.Param)),
# so the trunk is state[PARAMS_KEY][TRUNK_KEY].
PARAMS_KEY = 'params'
TRUNK_KEY = 'trunk'


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


class FeatureNet(nnx.Module):
  """Conv pyramid over (real, imag, compressed magnitude): ``[B, T, F, 2]`` -> 4 feature maps.

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
    c_prev, stages = 3, []
    for c, s in zip(channels, strides):
      stages.append(nnx.List([conv(c_prev, c, tuple(s)), conv(c, c, 1)]))
      c_prev = c
    self.stages = nnx.List(stages)
    self.channels = tuple(channels)

  def __call__(self, x: jax.Array) -> list[jax.Array]:
    h = jnp.concatenate([x, spectral.magnitude(x)[..., None]], axis=-1)
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
    pooled = [f.mean(axis=(1, 2)) for f in self.trunk(x)]
    return self.head(jnp.concatenate(pooled, axis=-1))


def _preset(size: str) -> dict:
  if size not in FEATURE_PRESETS:
    raise ValueError(f'feature net size: expected one of {sorted(FEATURE_PRESETS)}, got {size!r}')
  return FEATURE_PRESETS[size]


def save_feature_net(path: str | os.PathLike, feature_net: FeatureNet) -> None:
  """Save the weights (trainable or frozen) as a plain StandardCheckpointer directory."""
  ckptr = ocp.StandardCheckpointer()
  ckptr.save(os.path.abspath(path), nnx.to_pure_dict(nnx.state(feature_net)))
  ckptr.wait_until_finished()


def load_feature_net(checkpoint_dir: str | os.PathLike, size: str) -> FeatureNet:
  """Restore a FeatureNet of preset ``size`` from an Orbax checkpoint.

  Accepts (1) a directory written by :func:`save_feature_net` (plain StandardCheckpointer), or
  (2) a CheckpointManager directory, or a workdir holding one in ``checkpoints/``, whose latest
  step has a 'state' item with the classifier parameters at
  ``state['params']['trunk']`` (see PARAMS_KEY, TRUNK_KEY).
  """
  directory = os.path.abspath(checkpoint_dir)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'load_feature_net: checkpoint directory {directory} does not exist')
  if os.path.isdir(os.path.join(directory, 'checkpoints')):
    directory = os.path.join(directory, 'checkpoints')
  if os.path.exists(os.path.join(directory, '_METADATA')):
    trunk, where = _restore_plain(directory), directory
  else:
    trunk, where = _restore_trunk_from_manager(directory)
  graphdef, state = nnx.split(nnx.eval_shape(lambda: FeatureNet(**_preset(size), rngs=nnx.Rngs(0))))
  nnx.replace_by_pure_dict(state, _conform(nnx.to_pure_dict(state), trunk, where))
  return nnx.merge(graphdef, state)


def _abstract(metadata_tree):
  """Restore targets from checkpoint metadata: arrays come back as host numpy arrays."""
  return jax.tree.map(
    lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype) if hasattr(m, 'shape') else m, metadata_tree
  )


def _restore_plain(directory: str):
  ckptr = ocp.StandardCheckpointer()
  return ckptr.restore(directory, _abstract(ckptr.metadata(directory).item_metadata.tree))


def _restore_trunk_from_manager(directory: str):
  mngr = ocp.CheckpointManager(
    directory,
    item_handlers={'state': ocp.StandardCheckpointHandler()},
    options=ocp.CheckpointManagerOptions(create=False, read_only=True),
  )
  step = mngr.latest_step()
  if step is None:
    raise ValueError(
      f'load_feature_net: {directory} is neither a save_feature_net directory '
      'nor a CheckpointManager directory with saved steps'
    )
  metadata = mngr.item_metadata(step).get('state')
  if metadata is None:
    raise ValueError(f"load_feature_net: step {step} in {directory} has no 'state' item")
  state = mngr.restore(
    step, args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(metadata.tree)))
  )['state']
  where = f'{directory} step {step} state'
  try:
    return state[PARAMS_KEY][TRUNK_KEY], f'{where}/{PARAMS_KEY}/{TRUNK_KEY}'
  except (KeyError, TypeError):
    raise ValueError(
      f"load_feature_net: {where} has no ['{PARAMS_KEY}']['{TRUNK_KEY}'] "
      '(CodecClassifier parameters) subtree'
    ) from None


def _conform(expected, got, where: str):
  """``got`` rebuilt with ``expected``'s keys and dtypes (checkpoint dict keys are strings)."""
  if isinstance(expected, dict):
    if not isinstance(got, dict) or {str(k) for k in got} != {str(k) for k in expected}:
      found = sorted(map(str, got)) if isinstance(got, dict) else type(got).__name__
      raise ValueError(
        f'load_feature_net: {where} holds {found}, expected keys '
        f'{sorted(map(str, expected))} (wrong size preset?)'
      )
    by_name = {str(k): v for k, v in got.items()}
    return {k: _conform(v, by_name[str(k)], f'{where}/{k}') for k, v in expected.items()}
  if tuple(got.shape) != tuple(expected.shape):
    raise ValueError(
      f'load_feature_net: {where} has shape {tuple(got.shape)}, expected '
      f'{tuple(expected.shape)} (wrong size preset?)'
    )
  return jnp.asarray(got, expected.dtype)
