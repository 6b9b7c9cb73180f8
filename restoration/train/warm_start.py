"""``train.init_from=<workdir>``: start a run's main network from another run's trained one.

The two-stage recipe of predictive + generative restoration (ESRGAN-style GAN fine-tuning of
a regression model): the GAN's generator, or any method whose main network has the same
shapes, begins where the other run ended. Only the main network's weights (the EMA ones when
the source kept them) move; optimizers, critics and the step counter start fresh. The source's
training time is recorded so the report can charge it to the method that used it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np

from restoration.checkpoint import check_same_shapes


def warm_start(config, state: dict, method) -> dict:
  """``state`` with the subtree at ``method.warm_start_target(config)`` replaced by
  ``config.train.init_from``'s main network (shape-checked; shardings kept). When that
  subtree is the main network's trainable params, the EMA starts from them too."""
  from restoration import inference

  source = config.train.init_from
  _, _, params, _, _ = inference.load_workdir(source, 'latest')
  where = method.warm_start_target(config)
  target = state
  for key in where:
    target = target[key]
  check_same_shapes(
    params,
    target,
    where=f'train.init_from={source}: its main network',
    advice='warm-start from a run of the same model preset',
  )
  # By path, not by tree: the target may hold the weights as another variable type (Frozen).
  stored = {jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_flatten_with_path(params)[0]}
  paths, treedef = jax.tree_util.tree_flatten_with_path(target)
  moved = jax.tree_util.tree_unflatten(
    treedef,
    [
      jax.device_put(np.asarray(stored[jax.tree_util.keystr(p)], old.dtype), old.sharding)
      for p, old in paths
    ],
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


def source_budget(workdir: str) -> dict[str, Any]:
  """The warm start's own training cost (summed over its train_log.jsonl segments, and its
  own warm start, recursively)."""
  path = os.path.join(workdir, 'train_log.jsonl')
  records = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
  budget = {
    'workdir': os.fspath(workdir),
    'method': records[-1]['method'] if records else None,
    'steps': sum(r['end_step'] - r['start_step'] for r in records),
    'wall_seconds': sum(r['wall_seconds'] for r in records),
  }
  inner = records[-1].get('init_from') if records else None
  if inner:
    budget['wall_seconds'] += inner['wall_seconds']
  return budget
