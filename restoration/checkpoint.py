"""Orbax checkpoints in `workdir/checkpoints`: async saves, keep-last-N + best, exact resume.

A step directory holds two items: `state` (the train-state pytree, any mix of dicts, lists,
namedtuples and `nnx.State`) and `config` (the run's config as JSON). Restoring goes through
an abstract target with shardings, which is how a checkpoint moves to another mesh or device
count. Orbax writes each step to `<step>.orbax-checkpoint-tmp` and renames it on commit, so a
process killed mid-save leaves the previous step loadable; the leftover tmp dir is removed
when the next `Checkpointer` opens the directory.

Unreadable steps (files truncated or corrupted after the commit, e.g. a disk filled up or a
copy was cut short): `restore_newest_readable` warns about each one and falls back to the
newest step that loads; training also moves them to `checkpoints/unreadable/<step>` (kept for
inspection, never deleted) so that it saves those steps afresh. `fallback=False` (the loop's
`config.train.checkpoint_fallback`) stops at the first one instead.

Another run's weights (inference, a warm start, the projected critic's feature network) load
through :func:`load_run_weights`, read-only and with the same fallback.

Preemption: `PreemptionGuard` turns SIGTERM into a flag that the loop polls between steps;
in a multi-process job JAX's preemption sync manager (started by `jax.distributed.initialize`)
owns SIGTERM and picks one step at which every process stops, so all of them save together.
"""

from __future__ import annotations

import logging
import signal
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from restoration.errors import NoCheckpointError, UserError

PyTree = Any
_policies = ocp.checkpoint_managers
log = logging.getLogger('restoration')


class CheckpointMismatchError(UserError, ValueError):
  """The stored state does not have the tree structure or leaf shapes the config builds."""


class UnreadableCheckpointError(UserError, OSError):
  """A checkpoint step's files cannot be read back (and falling back is refused or futile)."""


class Restored(NamedTuple):
  """What :meth:`Checkpointer.restore_newest_readable` loaded."""

  step: int
  state: PyTree
  config: dict[str, Any]


# What reading a damaged step raises: truncated TensorStore files (ValueError, which Orbax
# wraps in a bare Exception for array data), corrupt JSON (JSONDecodeError, a ValueError),
# missing files (OSError), metadata lacking keys (KeyError).
_READ_ERRORS = (OSError, ValueError, KeyError)


def _is_read_error(error: Exception) -> bool:
  return isinstance(error, _READ_ERRORS) or type(error) is Exception


class _Manager(ocp.CheckpointManager):
  """Opening the directory reads every step's metrics; a step whose metrics file is corrupt
  counts as one without metrics instead of failing the open, so that
  `restore_newest_readable` can report the step and fall back."""

  def metrics(self, step: int) -> PyTree | None:
    try:
      return super().metrics(step)
    except _READ_ERRORS:
      return None


def _reason(error: Exception) -> str:
  """The first line of a read error, without TensorStore's long spec, for a one-line warning."""
  error = error.__cause__ or error  # TensorStore's own message, not Orbax's wrapper
  text = str(error).strip().split('\n')[0].split(' [tensorstore_spec=')[0]
  return f'{type(error).__name__}: {text[:300]}'


def _path_str(path: Sequence[Any]) -> str:
  """'params/encoder/kernel' for any jax key path (dict keys, attributes, list indices)."""
  tokens = []
  for key in path:
    for attr in ('key', 'name', 'idx'):
      if hasattr(key, attr):
        tokens.append(str(getattr(key, attr)))
        break
    else:
      tokens.append(str(key))
  return '/'.join(tokens)


def _shape_str(shape: Sequence[int], dtype: Any) -> str:
  return f'({",".join(str(d) for d in shape)}) {np.dtype(dtype).name}'


def _reject_typed_keys(tree: PyTree, what: str) -> None:
  """Orbax stores a typed PRNG key as raw uint32 data and cannot restore its type."""
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    if jax.dtypes.issubdtype(getattr(leaf, 'dtype', None), jax.dtypes.prng_key):
      raise TypeError(
        f'{what} leaf {_path_str(path)} is a typed PRNG key; keep '
        'jax.random.key_data(key) in the train state instead'
      )


def _flat_shapes(tree: PyTree) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {_path_str(p): (tuple(x.shape), np.dtype(x.dtype)) for p, x in leaves}


def check_same_shapes(stored: PyTree, target: PyTree, *, where: str, advice: str) -> None:
  """Raises CheckpointMismatchError naming the first leaf of ``target`` (what the config builds)
  whose path, shape or dtype ``stored`` lacks, or the first stored leaf the config lacks."""
  stored, target = _flat_shapes(stored), _flat_shapes(target)
  for path, (shape, dtype) in target.items():
    if path not in stored:
      raise CheckpointMismatchError(
        f'{where} has no {path} but the config builds {path} {_shape_str(shape, dtype)}; {advice}'
      )
    if stored[path] != (shape, dtype):
      raise CheckpointMismatchError(
        f'{where} has {path} {_shape_str(*stored[path])} but the config builds '
        f'{_shape_str(shape, dtype)}; {advice}'
      )
  for path, (shape, dtype) in stored.items():
    if path not in target:
      raise CheckpointMismatchError(
        f'{where} has {path} {_shape_str(shape, dtype)} which the config does not build; {advice}'
      )


class Checkpointer:
  """Saves/restores `{state, config}` steps in `workdir/checkpoints`; every process calls it."""

  def __init__(
    self,
    workdir: str | epath.PathLike,
    *,
    save_every: int = 1,
    keep: int = 3,
    best_metric: str | None = None,
    best_mode: str = 'min',
    async_save: bool = True,
    read_only: bool = False,
  ):
    """`read_only=True` is for readers beside a live run (evaluation, notebooks): it never
    writes or deletes, so it leaves the trainer's in-flight `.orbax-checkpoint-tmp` alone."""
    if save_every < 1:
      raise ValueError(f'save_every must be >= 1, got {save_every}')
    if keep < 1:
      raise ValueError(f'keep must be >= 1, got {keep}')
    if best_mode not in ('min', 'max'):
      raise ValueError(f"best_mode must be 'min' or 'max', got {best_mode!r}")
    workdir = epath.Path(workdir)
    if not workdir.is_absolute():  # TensorStore needs absolute paths; gs:// ones already are.
      workdir = workdir.resolve()
    self.directory = workdir / 'checkpoints'
    self._best_metric = best_metric
    self._read_only = read_only
    preserve = [_policies.LatestN(n=keep)]
    best_fn = None
    if best_metric is not None:
      best_fn = lambda metrics: metrics[best_metric]  # noqa: E731
      # BestN keeps the *last* n after sorting; reverse for 'min' puts the smallest last.
      preserve.append(
        _policies.BestN(
          get_metric_fn=best_fn,
          reverse=best_mode == 'min',
          n=1,
          keep_checkpoints_without_metrics=False,
        )
      )
    registry = ocp.handlers.DefaultCheckpointHandlerRegistry()
    for item, args in (
      ('state', ocp.args.StandardSave),
      ('state', ocp.args.StandardRestore),
      ('config', ocp.args.JsonSave),
      ('config', ocp.args.JsonRestore),
    ):
      registry.add(item, args)
    self._manager = _Manager(
      self.directory,
      options=ocp.CheckpointManagerOptions(
        save_decision_policy=_policies.FixedIntervalPolicy(save_every),
        preservation_policy=_policies.AnyPreservationPolicy(preserve),
        # best_fn/best_mode only make the manager write metrics and answer best_step();
        # which steps survive is decided by the preservation policy above.
        best_fn=best_fn,
        best_mode=best_mode,
        cleanup_tmp_directories=not read_only,
        read_only=read_only,
        enable_async_checkpointing=async_save,
      ),
      handler_registry=registry,
    )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def best_step(self) -> int | None:
    """Best step by `best_metric` (the latest step when no metric is tracked)."""
    return self._manager.best_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def due(self, step: int) -> bool:
    """True when :meth:`save` of ``step`` would save without ``force`` (its interval), so a
    caller builds the state to save only then."""
    return self._manager.should_save(step)

  def save(
    self,
    step: int,
    state: PyTree,
    *,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    force: bool = False,
  ) -> bool:
    """Starts an (async) save when `step % save_every == 0` or `force`; True if it started."""
    if self._read_only:
      raise ValueError(f'Checkpointer for {self.directory} is read-only; cannot save step {step}')
    if step in self._manager.all_steps():
      return False  # E.g. a preemption right after a periodic save of the same step.
    _reject_typed_keys(state, 'state')
    if metrics is not None:
      if self._best_metric is not None and self._best_metric not in metrics:
        raise ValueError(
          f'metrics at step {step} lack best_metric {self._best_metric!r}; got {sorted(metrics)}'
        )
      metrics = {k: float(np.asarray(v)) for k, v in metrics.items()}
    return self._manager.save(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(dict(config))
      ),
      metrics=metrics,
      force=force,
    )

  def _step_or_latest(self, step: int | None) -> int:
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'no checkpoint in {self.directory}')
    if step not in self._manager.all_steps():
      raise FileNotFoundError(
        f'no checkpoint for step {step} in {self.directory}; have {self.all_steps()}'
      )
    return step

  def check_compatible(self, abstract_state: PyTree, step: int | None = None) -> None:
    """Raises CheckpointMismatchError naming the first leaf whose path/shape/dtype differ.

    Reads only the stored metadata, so it is cheap even for large states.
    """
    step = self._step_or_latest(step)
    _reject_typed_keys(abstract_state, 'abstract_state')
    check_same_shapes(
      self._manager.item_metadata(step)['state'].tree,
      abstract_state,
      where=f'checkpoint at {self.directory / str(step)}',
      advice='use a new --workdir or the old config',
    )

  def restore(self, abstract_state: PyTree | None, step: int | None = None) -> PyTree:
    """Loads `step` (default: latest) into the shapes, dtypes and shardings of `abstract_state`.

    `abstract_state` is `jax.eval_shape(init)` with each leaf's `sharding` set to the target
    sharding, e.g. `jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype,
    sharding=s), abstract, shardings)`. Leaves without a sharding come back replicated on
    all devices (handy for evaluation and notebooks). None: the state as stored, in host numpy
    arrays (nested dicts), which every process of a job can read and which code traced by
    `jax.eval_shape` or `jax.jit` can hold.
    """
    step = self._step_or_latest(step)
    if abstract_state is None:
      stored = self._manager.item_metadata(step)['state'].tree
      host = jax.tree.map(
        lambda m: np.zeros(m.shape, m.dtype) if hasattr(m, 'shape') else m, stored
      )
      restored = self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(host))
      )
      return restored['state']
    replicated = NamedSharding(Mesh(np.array(jax.devices()), ('all',)), P())
    abstract_state = jax.tree.map(
      lambda a: (
        a
        if getattr(a, 'sharding', None) is not None
        else jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated)
      ),
      abstract_state,
    )
    self.check_compatible(abstract_state, step)
    restored = self._manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
    )
    return restored['state']

  def saved_config(self, step: int | None = None) -> dict[str, Any]:
    """The config dict stored with `step` (default: latest)."""
    step = self._step_or_latest(step)
    restored = self._manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
    return dict(restored['config'])

  def restore_newest_readable(
    self,
    target: Callable[[dict[str, Any]], PyTree] | None,
    *,
    prefer: int | None = None,
    fallback: bool = True,
    set_aside: bool = False,
  ) -> Restored:
    """Restores the newest step whose config and state load (``prefer`` is tried first).

    ``target(saved_config)`` gives the abstract state (see :meth:`restore`; None: the state as
    stored, in host arrays). Each unreadable step gets one warning line; with
    ``fallback=False`` the first one raises instead. A step that reads but does not fit the
    target raises CheckpointMismatchError (no fallback: an older step would not fit either).
    ``set_aside`` (training; not read-only) moves the unreadable steps to
    ``checkpoints/unreadable/`` so that new saves of them proceed.
    """
    steps = sorted(self.all_steps(), reverse=True)
    if not steps:
      raise NoCheckpointError(f'no checkpoint in {self.directory}')
    if prefer is not None:
      if prefer not in steps:
        raise NoCheckpointError(
          f'no checkpoint for step {prefer} in {self.directory}; have {sorted(steps)}'
        )
      steps = [prefer] + [s for s in steps if s != prefer]
    unreadable = []
    for step in steps:
      try:
        config = self.saved_config(step)
        abstract = target(config) if target is not None else None
        state = self.restore(abstract, step)
      except Exception as e:
        if isinstance(e, CheckpointMismatchError) or not _is_read_error(e):
          raise
        where = f'checkpoint step {step} in {self.directory} is unreadable ({_reason(e)})'
        if not fallback:
          raise UnreadableCheckpointError(where) from None
        log.warning('%s; falling back to an older step', where)
        unreadable.append(step)
        continue
      if unreadable:
        log.info('restored checkpoint step %d of %s instead', step, self.directory)
        if set_aside:
          self._set_aside(unreadable)
      return Restored(step, state, config)
    raise UnreadableCheckpointError(
      f'no readable checkpoint in {self.directory}: steps {", ".join(map(str, unreadable))} '
      'are unreadable (see the warnings); move them away or use a new workdir'
    )

  def _set_aside(self, steps: list[int]) -> None:
    """Moves step directories to ``checkpoints/unreadable/`` (process 0; all wait for it)."""
    if self._read_only:
      raise ValueError(f'Checkpointer for {self.directory} is read-only; cannot move {steps}')
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices('restoration: unreadable checkpoints found')
    if jax.process_index() == 0:
      for step in steps:
        aside, n = self.directory / 'unreadable' / str(step), 1
        while aside.exists():  # the same step was set aside before
          aside, n = self.directory / 'unreadable' / f'{step}.{n}', n + 1
        aside.parent.mkdir(parents=True, exist_ok=True)
        (self.directory / str(step)).rename(aside)
        log.warning('moved unreadable checkpoint step %d to %s', step, aside)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices('restoration: unreadable checkpoints set aside')
    self._manager.reload()

  def wait_until_finished(self) -> None:
    """Blocks until the in-flight async save is committed (call before exiting)."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()

  def __enter__(self) -> Checkpointer:
    return self

  def __exit__(self, *exc: object) -> None:
    self.close()


def latest_step(workdir: str | epath.PathLike) -> int | None:
  """The newest saved step of the run in ``workdir`` (None before its first save), read
  without writing and with the reader closed again."""
  with Checkpointer(workdir, read_only=True) as ckpt:
    return ckpt.latest_step()


def open_run(workdir: str | epath.PathLike, *, hint: str = '') -> Checkpointer:
  """Another run's checkpoints, read-only (a live trainer's in-flight save is left alone);
  NoCheckpointError, with ``hint`` appended, when there are none."""
  ckpt = Checkpointer(workdir, read_only=True)
  if ckpt.latest_step() is None:
    ckpt.close()
    raise NoCheckpointError(
      f'{workdir}: no checkpoint under {ckpt.directory}' + (f'; {hint}' if hint else '')
    )
  return ckpt


def load_run_weights(
  workdir: str | epath.PathLike,
  which: str | int = 'best',
  *,
  target: Callable[[dict[str, Any]], PyTree] | None = None,
  hint: str = '',
) -> Restored:
  """The state, config and step of another run's checkpoint: the one loader of trained weights.

  ``which``: 'best' (the lowest validation score by the run's own ``train.best_metric``, from
  its saved config; the latest step when no step was scored), 'latest', or a step number. An
  unreadable best or latest step is skipped with a warning for the newest readable one; a step
  asked for by number is not swapped. ``target(saved_config)``
  gives the abstract state (see :meth:`Checkpointer.restore`), whose leaves the stored ones must
  match (CheckpointMismatchError); None: the state as stored, in host numpy arrays.
  ``hint`` ends the NoCheckpointError message (what to train first).
  """
  if which not in ('best', 'latest') and not str(which).isdigit():
    raise ValueError(f"which={which!r}: expected 'best', 'latest' or a step number")
  with open_run(workdir, hint=hint) as ckpt:
    if which == 'best':
      prefer = _best_step(workdir, ckpt)
    else:
      prefer = None if which == 'latest' else int(which)
    return ckpt.restore_newest_readable(target, prefer=prefer, fallback=which in ('best', 'latest'))


def _best_step(workdir: str | epath.PathLike, ckpt: Checkpointer) -> int | None:
  """The step scored best by the run's ``train.best_metric`` (lower is better, as training
  keeps it); a reader tracks no metric of its own, so its ``best_step`` is the latest."""
  try:
    metric = dict(ckpt.saved_config().get('train') or {}).get('best_metric')
  except Exception:  # an unreadable latest step: restore_newest_readable reports or skips it
    metric = None
  if not metric:
    return ckpt.latest_step()
  with Checkpointer(workdir, read_only=True, best_metric=metric) as scored:
    return scored.best_step()


def place_by_path(stored: PyTree, target: PyTree, *, where: str, advice: str) -> PyTree:
  """``target``'s tree (its variable types, dtypes and shardings) holding ``stored``'s arrays.

  Leaves match by path, not by tree structure: restored dicts and an ``nnx.State`` agree there
  whatever variable type holds a weight (Param in the source, Frozen in the target). Checked
  first with :func:`check_same_shapes`. A target leaf without a sharding (an abstract one
  from ``nnx.eval_shape``) becomes an array on the default device.
  """
  check_same_shapes(stored, target, where=where, advice=advice)
  by_path = {_path_str(p): x for p, x in jax.tree_util.tree_flatten_with_path(stored)[0]}
  paths, treedef = jax.tree_util.tree_flatten_with_path(target)

  def put(path: Sequence[Any], old: Any) -> jax.Array:
    value = np.asarray(by_path[_path_str(path)], old.dtype)
    sharding = getattr(old, 'sharding', None)
    return jnp.asarray(value) if sharding is None else jax.device_put(value, sharding)

  return jax.tree_util.tree_unflatten(treedef, [put(p, old) for p, old in paths])


class PreemptionGuard:
  """Context manager that turns SIGTERM/SIGINT into a stop request polled between steps.

  Loop contract: `if guard.should_stop(step): ckpt.save(step, state, config=..., force=True);
  ckpt.wait_until_finished(); return` (exit code 0), called on every process at every step.

  Single process: the handlers only set a flag (no work inside a signal handler); a second
  signal gets the previous handler, so pressing Ctrl-C twice still interrupts a hung save.
  Multi-process: `jax.distributed.initialize` starts JAX's preemption sync manager, which
  catches SIGTERM on any process and agrees on one step for all; `should_stop` asks it via
  `multihost_utils.reached_preemption_sync_point`, so every process saves the same step and
  nobody deadlocks in a collective. A Python handler there would replace JAX's (and a local
  flag would stop one process alone), so the guard installs none; `launch/local.py` turns
  Ctrl-C into SIGTERM for its children.
  """

  def __init__(self, signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)):
    self._signals = tuple(signals)
    self._previous: dict[int, Any] = {}
    self._multiprocess = False
    self.requested = False

  def _handler(self, signum: int, frame: types.FrameType | None) -> None:
    del frame
    if self.requested:  # A second Ctrl-C/SIGTERM while saving: act as if unguarded.
      signal.signal(signum, self._previous[signum])
      signal.raise_signal(signum)
    self.requested = True

  def __enter__(self) -> PreemptionGuard:
    self._multiprocess = jax.process_count() > 1
    if not self._multiprocess:
      for sig in self._signals:
        self._previous[sig] = signal.signal(sig, self._handler)
    return self

  def __exit__(self, *exc: object) -> None:
    for sig, previous in self._previous.items():
      signal.signal(sig, previous)
    self._previous.clear()

  def should_stop(self, step: int) -> bool:
    """True when this step should be the last: save it (force=True) and exit 0."""
    if self._multiprocess:
      self.requested = self.requested or multihost_utils.reached_preemption_sync_point(step)
    return self.requested
