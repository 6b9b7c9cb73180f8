"""Device mesh, shardings and the two parallel backends (jit + NamedSharding, pmap).

Default backend: one ``jax.jit`` over a ``Mesh(('data', 'model'))``; the batch is sharded on
'data', parameters are replicated, or sharded on 'model' by :func:`param_sharding` when
``parallel.model_axis > 1``. ``parallel.backend='pmap'`` runs the same pure step under
``jax.pmap`` with explicit ``pmean`` (compatibility backend; jax implements it as
``jit(shard_map)`` nowadays).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from restoration import classic_threefry

DATA, MODEL = 'data', 'model'
BACKENDS = ('jit', 'pmap')  # parallel.backend: NamedSharding over a Mesh, or the pmap fallback


def maybe_initialize_distributed(config) -> None:
  """Joins the multi-host job when ``config.distributed`` is set or a launcher says so.

  ``jax.distributed.initialize()`` auto-detects SLURM and TPU pods; ``launch/local.py`` passes
  the coordinator, process count and index through ``RESTORATION_*`` environment variables.
  """
  env = os.environ
  if not (config.distributed or 'RESTORATION_COORDINATOR' in env):
    return
  if jax.distributed.is_initialized():
    return
  # Before initialize(), which must precede any backend call; only the CPU backend reads it.
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  if 'RESTORATION_COORDINATOR' in env:
    jax.distributed.initialize(
      coordinator_address=env['RESTORATION_COORDINATOR'],
      num_processes=int(env['RESTORATION_NUM_PROCESSES']),
      process_id=int(env['RESTORATION_PROCESS_ID']),
    )
  else:
    jax.distributed.initialize()


def make_mesh(model_axis: int = 1, devices=None) -> Mesh:
  """``Mesh(('data', 'model'))`` over all devices (Auto axis types, see docs/DESIGN.md)."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  if devices.size % model_axis:
    raise ValueError(f'parallel.model_axis={model_axis} does not divide {devices.size} devices')
  return Mesh(devices.reshape(devices.size // model_axis, model_axis), (DATA, MODEL))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def param_sharding(mesh: Mesh, tree: Any, min_size: int = 2**18) -> Any:
  """Replicates small leaves; shards big ones over 'model' on their last divisible axis."""
  n = mesh.shape[MODEL]

  def rule(leaf):
    shape = getattr(leaf, 'shape', ())
    if n == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
      return replicated(mesh)
    for axis in reversed(range(len(shape))):
      if shape[axis] % n == 0:
        spec = [None] * len(shape)
        spec[axis] = MODEL
        return NamedSharding(mesh, P(*spec))
    return replicated(mesh)

  return jax.tree.map(rule, tree)


@dataclasses.dataclass(frozen=True)
class CompiledStep:
  """A compiled train step and the form of the state it runs on.

  ``run(s, batch, rng) -> (s, metrics)`` takes and returns the state in its step form;
  ``to_step(state)`` makes that form from the state pytree and ``from_step(s)`` the pytree back
  (for evaluation and checkpoints). Under jit the step form is the state's flat list of leaves:
  the pytree's nnx Variables are Python objects, and rebuilding them after every step cost a
  few milliseconds of host time per step, which left an accelerator idle between steps. Under
  pmap it is the state replicated with a leading device axis.
  """

  run: Callable
  to_step: Callable[[Any], Any]
  from_step: Callable[[Any], Any]

  def __call__(self, state, batch, rng):
    return self.run(state, batch, rng)


def compile_step(
  step: Callable, mesh: Mesh, state_sharding: Any, backend: str = 'jit'
) -> CompiledStep:
  """``step(state, batch, rng, axis_name=...) -> (state, metrics)`` compiled for the chosen
  backend (``state_sharding``: the state's shardings, one per leaf, as the state's pytree).

  ``step`` must take ``axis_name`` (None under jit, where the global mean is implicit; 'data'
  under pmap, where gradients and metrics are ``pmean``-ed).
  """
  step = classic_threefry(step)
  if backend == 'jit':
    treedef = jax.tree.structure(state_sharding)
    leaf_shardings = jax.tree.leaves(state_sharding)

    def flat(leaves, batch, rng):
      state, metrics = step(jax.tree.unflatten(treedef, leaves), batch, rng, axis_name=None)
      return treedef.flatten_up_to(state), metrics

    run = jax.jit(
      flat,
      in_shardings=(leaf_shardings, batch_sharding(mesh), replicated(mesh)),
      out_shardings=(leaf_shardings, replicated(mesh)),
      donate_argnums=0,
    )
    return CompiledStep(
      run,
      lambda state: treedef.flatten_up_to(state),
      lambda s: jax.tree.unflatten(treedef, s),
    )
  if backend == 'pmap':
    if mesh.shape[MODEL] != 1:
      raise ValueError('parallel.backend="pmap" supports only parallel.model_axis=1')
    # Single host: exactly the mesh's devices; multi-host: pmap spans every host's devices.
    devices = list(mesh.devices.reshape(-1)) if jax.process_count() == 1 else None
    n_local = len(devices) if devices else jax.local_device_count()
    pstep = jax.pmap(
      lambda s, b, r: step(s, b, r, axis_name=DATA),
      axis_name=DATA,
      in_axes=(0, 0, None),
      donate_argnums=0,
      devices=devices,
    )

    def run(state, batch, rng):
      # State: replicated with a leading device axis (to_pmap_state); batch: host-local.
      local = jax.tree.map(_split_leading(n_local), batch)
      new_state, metrics = pstep(state, local, rng)
      return new_state, jax.tree.map(lambda m: m[0], metrics)

    return CompiledStep(run, lambda state: to_pmap_state(state, mesh), from_pmap_state)
  raise ValueError(f'parallel.backend={backend!r}: expected "jit" or "pmap"')


def _split_leading(n: int) -> Callable:
  def split(x):
    x = np.asarray(x) if not isinstance(x, jax.Array) else x
    return x.reshape((n, x.shape[0] // n) + x.shape[1:])

  return split


def to_pmap_state(state: Any, mesh: Mesh) -> Any:
  """Replicates a state across the mesh's local devices with a leading axis (pmap layout)."""
  devices = [d for d in mesh.devices.reshape(-1) if d.process_index == jax.process_index()]
  stacked = NamedSharding(Mesh(np.asarray(devices), ('replica',)), P('replica'))
  return jax.tree.map(
    lambda x: jax.device_put(np.stack([np.asarray(x)] * len(devices)), stacked),
    jax.device_get(state),
  )


def from_pmap_state(state: Any) -> Any:
  """First replica of a pmap-layout state (for checkpoints and evaluation)."""
  return jax.tree.map(lambda x: x[0], state)


def pmean(tree: Any, axis_name: str | None) -> Any:
  """Mean over the 'data' axis under pmap; identity under jit (already global)."""
  return tree if axis_name is None else jax.lax.pmean(tree, axis_name)
