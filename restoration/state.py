"""The train state pytree of any method, created sharded or abstract (for restores).

The train state is a plain pytree (dict) so the steps stay pure and Orbax saves it as is:
``{'step', 'params': {net: nnx.State}, 'rest': {net: nnx.State}, 'opt': {net: opt_state},
'ema': nnx.State, 'nonfinite': int, 'skipped': int}``. ``params`` holds the trainable
``nnx.Param`` leaves; ``rest`` everything else (frozen feature networks, CCM projections).
The static half (graph definitions, optimizers) lives in :class:`Networks`; which networks
and optimizers a run has is its method's business (``restoration.methods``). Training,
restore, export and the benchmark all build it here, so serving never imports the trainer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from restoration import classic_threefry, methods


@dataclasses.dataclass(frozen=True)
class Networks:
  """Static graph definitions and optimizers of a run (not part of the state)."""

  graphdefs: dict[str, Any]
  txs: dict[str, optax.GradientTransformation]
  method: str
  main: str  # the network EMA and inference use (the method's ``main``)

  def merge(self, name: str, params, rest) -> nnx.Module:
    return nnx.merge(self.graphdefs[name], params, rest)


@classic_threefry
def _init(config, txs) -> tuple[dict, dict[str, Any]]:
  modules = methods.with_compute_dtype(
    config, methods.get(config.method).networks(config, nnx.Rngs(config.seed))
  )
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
  state['ema'] = jax.tree.map(jnp.copy, state['params'][methods.get(config.method).main])
  return state, graphdefs


def networks(config) -> Networks:
  """The static half of a run (graph definitions, optimizers) without creating parameters."""
  method = methods.get(config.method)
  txs = method.optimizers(config)
  graphdefs = {}

  def init():
    state, gd = _init(config, txs)
    graphdefs.update(gd)
    return state

  jax.eval_shape(init)
  return Networks(graphdefs=graphdefs, txs=txs, method=method.name, main=method.main)


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
  abstract = jax.eval_shape(lambda: _init(config, methods.get(config.method).optimizers(config))[0])
  if shardings is None:
    return abstract
  return jax.tree.map(
    lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings
  )


def count_scalars(tree) -> int:
  """Number of scalars in a pytree (a run's ``params`` of one network: its parameter count)."""
  return sum(int(x.size) for x in jax.tree.leaves(tree))
