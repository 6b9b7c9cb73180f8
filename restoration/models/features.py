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
import numpy as np
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
  """The trunk of the ``CodecClassifier`` that a 'features' run saved last in ``workdir``.

  Reads ``TRUNK_PATH`` of the Orbax 'state' item of the latest step in ``workdir/checkpoints``;
  the run's preset must be ``size``.
  """
  directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
  expected = f"expected a 'features' run's workdir ({'/'.join(TRUNK_PATH)} in its state)"
  no_checkpoint = f'load_feature_net: {workdir} has no checkpoint; {expected}'
  if not os.path.isdir(directory):
    raise ValueError(no_checkpoint)
  options = ocp.CheckpointManagerOptions(create=False, read_only=True)
  handlers = {'state': ocp.StandardCheckpointHandler()}
  with ocp.CheckpointManager(directory, item_handlers=handlers, options=options) as mngr:
    step = mngr.latest_step()
    if step is None:
      raise ValueError(no_checkpoint)
    metadata = mngr.item_metadata(step).get('state')
    subtree = metadata.tree if metadata is not None else None
    for key in TRUNK_PATH:
      subtree = subtree.get(key) if isinstance(subtree, dict) else None
    if subtree is None:
      raise ValueError(f'load_feature_net: {directory}/{step} lacks the trunk; {expected}')
    target = _host_target(metadata.tree)
    state = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
  state = state['state']
  for key in TRUNK_PATH:
    state = state[key]
  stored = {_path(p): x for p, x in jax.tree_util.tree_flatten_with_path(state)[0]}
  net = nnx.eval_shape(lambda: FeatureNet(**_preset(size), rngs=nnx.Rngs(0)))
  graphdef, abstract = nnx.split(net)
  paths, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  want = {_path(p): x for p, x in paths}
  if set(stored) != set(want) or any(stored[k].shape != want[k].shape for k in want):
    raise ValueError(
      f'load_feature_net: the trunk in {directory}/{step} does not match FeatureNet preset '
      f'{size!r} (was the features run trained at another size?)'
    )
  leaves = [jnp.asarray(stored[k], want[k].dtype) for k in want]
  return nnx.merge(graphdef, jax.tree_util.tree_unflatten(treedef, leaves))


def _host_target(metadata_tree):
  """Restore targets from checkpoint metadata that make Orbax return host numpy arrays: the
  train state is built under ``jax.jit``/``eval_shape``, where restoring a jax.Array fails."""
  return jax.tree.map(
    lambda m: np.zeros(m.shape, m.dtype) if hasattr(m, 'shape') else m, metadata_tree
  )


def _path(path) -> str:
  """'stages/0/1/kernel/value' alike for restored dicts and for an nnx.State."""
  return jax.tree_util.keystr(path, simple=True, separator='/')
