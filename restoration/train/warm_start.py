"""``train.init_from=<workdir>``: start a run's main network from another run's trained one.

The two-stage recipe of predictive + generative restoration (ESRGAN-style GAN fine-tuning of
a regression model): the GAN's generator, or any method whose main network has the same
shapes, begins where the other run ended. Only the main network's weights (the EMA ones when
the source kept them) move; optimizers, critics and the step counter start fresh. The run's
record charges the source's training time to the method that used it
(:func:`restoration.records.source`).
"""

from __future__ import annotations

import jax

from restoration import checkpoint, methods
from restoration import config as config_lib


def warm_start(config, state: dict, method) -> dict:
  """``state`` with the subtree at ``method.warm_start_target(config)`` replaced by
  ``config.train.init_from``'s main network at its latest readable step (shape-checked;
  shardings kept). When that subtree is the main network's trainable params, the EMA starts
  from them too."""
  source = config.train.init_from
  # As stored, in host arrays: every process of a job reads them, then places its shards.
  restored = checkpoint.load_run_weights(source, 'latest')
  saved, stored = config_lib.upgrade(restored.config), restored.state
  main = methods.get(saved.method).main
  params = stored['ema'] if saved.train.ema_decay else stored['params'][main]
  where = method.warm_start_target(config)
  target = state
  for key in where:
    target = target[key]
  moved = checkpoint.place_by_path(
    params,
    target,
    where=f'train.init_from={source}: its main network',
    advice='warm-start from a run of the same model preset',
  )
  state = _replace(state, where, moved)
  if tuple(where) == ('params', method.main):
    state = dict(state, ema=jax.tree.map(lambda x: x.copy(), moved))
  return state


def _replace(tree, path, value):
  """A copy of the nested mapping ``tree`` with ``tree[path[0]][path[1]]...`` set to ``value``
  (nnx.State subtrees stay nnx.State)."""
  if not path:
    return value
  head, rest = path[0], path[1:]
  new = type(tree)({**tree}) if not isinstance(tree, dict) else dict(tree)
  new[head] = _replace(tree[head], rest, value)
  return new
