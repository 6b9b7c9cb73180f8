"""Real Orbax checkpoints: resharding restore, preservation, mismatch errors, fallback past
damaged steps, and real preemption (SIGTERM) and crash (SIGKILL) of training processes
(tests/ckpt_worker.py)."""

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from restoration.checkpoint import (
  Checkpointer,
  CheckpointMismatchError,
  PreemptionGuard,
  UnreadableCheckpointError,
  load_run_weights,
  place_by_path,
)
from restoration.errors import NoCheckpointError

REPO = Path(__file__).resolve().parents[1]
WORKER = str(REPO / 'tests' / 'ckpt_worker.py')
sys.path.insert(0, str(REPO / 'tests'))
import ckpt_worker  # noqa: E402


class Model(nnx.Module):
  def __init__(self, width: int):
    self.conv = nnx.Conv(2, width, (3, 3), rngs=nnx.Rngs(0))
    self.out = nnx.Linear(width, 4, rngs=nnx.Rngs(1))


def abstract_state(width: int = 8):
  """A train-state-like pytree (a step, an nnx.State, optimizer-like arrays) of shapes only."""
  return {
    'step': jax.ShapeDtypeStruct((), jnp.int32),
    'params': nnx.state(nnx.eval_shape(lambda: Model(width))),
    'opt': {'mu': jax.ShapeDtypeStruct((8, 8), jnp.float32)},
  }


def make_state(mesh: Mesh, width: int = 8):
  """Distinct values in every leaf (so swapped leaves would show), sharded over `mesh`."""
  rules = {2: P('data', 'model'), 4: P(None, None, None, 'model')}
  leaves, treedef = jax.tree.flatten(abstract_state(width))
  values = [
    np.arange(a.size).reshape(a.shape).astype(a.dtype) + 1000 * i for i, a in enumerate(leaves)
  ]
  return jax.tree.map(
    lambda x: jax.device_put(x, NamedSharding(mesh, rules.get(x.ndim, P()))),
    jax.tree.unflatten(treedef, values),
  )


def abstract_on(state, sharding_fn):
  return jax.tree.map(
    lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding_fn(x)), state
  )


def mesh_of(n: int, shape: tuple[int, int]) -> Mesh:
  return Mesh(np.array(jax.devices()[:n]).reshape(shape), ('data', 'model'))


def test_roundtrip_and_restore_onto_other_meshes(tmp_path):
  state = make_state(mesh_of(8, (4, 2)))
  config = {'model': {'width': 8}, 'name': 'demo', 'rates': [1, 2]}
  ckpt = Checkpointer(tmp_path, save_every=1)
  assert ckpt.save(7, state, config=config)
  ckpt.wait_until_finished()
  assert ckpt.latest_step() == 7 and ckpt.saved_config() == config

  targets = {
    'one device': lambda x: NamedSharding(mesh_of(1, (1, 1)), P()),
    'four devices, other layout': lambda x: NamedSharding(
      mesh_of(4, (1, 4)), P('model') if x.ndim >= 1 and x.shape[0] % 4 == 0 else P()
    ),
  }
  for name, sharding_fn in targets.items():
    abstract = abstract_on(state, sharding_fn)
    restored = ckpt.restore(abstract)
    assert isinstance(restored['params'], nnx.State), name
    for (path, want), got, target in zip(
      jax.tree_util.tree_flatten_with_path(state)[0],
      jax.tree.leaves(restored),
      jax.tree.leaves(abstract),
    ):
      np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=f'{name} {path}')
      assert got.sharding == target.sharding, (name, path)
    # The restored nnx state drives a model again.
    model = nnx.merge(nnx.graphdef(nnx.eval_shape(lambda: Model(8))), restored['params'])
    assert model.conv.kernel.shape == (3, 3, 2, 8)
  plain = ckpt.restore(jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state))
  np.testing.assert_array_equal(np.asarray(plain['opt']['mu']), np.asarray(state['opt']['mu']))
  assert plain['opt']['mu'].sharding.is_fully_replicated
  assert len(plain['opt']['mu'].sharding.device_set) == 8
  ckpt.close()


def test_keeps_last_n_and_the_best(tmp_path):
  state = {'w': jnp.ones(4)}
  losses = {2: 5.0, 4: 1.0, 6: 4.0, 8: 3.0, 10: 6.0, 12: 7.0}
  ckpt = Checkpointer(tmp_path, save_every=2, keep=2, best_metric='loss', best_mode='min')
  assert not ckpt.save(3, state, config={})  # Not a multiple of save_every.
  for step, loss in losses.items():
    assert ckpt.save(step, state, config={}, metrics={'loss': jnp.float32(loss), 'lr': 0.1})
  assert ckpt.save(13, state, config={}, force=True)  # A preemption save, no metrics.
  assert not ckpt.save(13, state, config={}, force=True)  # Already saved.
  with pytest.raises(ValueError, match="lack best_metric 'loss'"):
    ckpt.save(14, state, config={}, metrics={'lr': 0.1})
  ckpt.wait_until_finished()
  assert ckpt.all_steps() == [4, 12, 13]
  assert ckpt.best_step() == 4
  ckpt.close()
  on_disk = sorted(int(p.name) for p in (tmp_path / 'checkpoints').iterdir() if p.name.isdigit())
  assert on_disk == [4, 12, 13]
  reopened = Checkpointer(tmp_path, best_metric='loss', best_mode='max', read_only=True)
  assert reopened.best_step() == 12  # Metrics were stored with the steps.
  with pytest.raises(ValueError, match='read-only; cannot save step 14'):
    reopened.save(14, state, config={}, force=True)
  reopened.close()


def test_mismatch_is_one_clear_line(tmp_path):
  ckpt = Checkpointer(tmp_path, save_every=1, async_save=False)
  ckpt.save(100, make_state(mesh_of(8, (4, 2)), width=32), config={})
  replicated = lambda x: NamedSharding(mesh_of(8, (4, 2)), P())  # noqa: E731
  ckpt.check_compatible(abstract_on(abstract_state(32), replicated))
  wider = abstract_on(abstract_state(64), replicated)
  with pytest.raises(CheckpointMismatchError) as info:
    ckpt.restore(wider)
  assert str(info.value) == (
    f'checkpoint at {tmp_path}/checkpoints/100 has params/conv/bias/value (32) float32 '
    'but the config builds (64) float32; use a new --workdir or the old config'
  )
  extra = dict(abstract_on(abstract_state(32), replicated), ema=wider['opt'])
  with pytest.raises(
    CheckpointMismatchError,
    match=r'has no ema/mu but the config builds ema/mu'
    r' \(8,8\) float32; use a new',
  ):
    ckpt.check_compatible(extra)
  fewer = dict(extra)
  del fewer['ema'], fewer['opt']
  with pytest.raises(CheckpointMismatchError, match='has opt/mu .* which the config does not'):
    ckpt.check_compatible(fewer)
  with pytest.raises(TypeError, match='state leaf rng is a typed PRNG key'):
    ckpt.save(101, {'rng': jax.random.key(0)}, config={})  # Would save but never restore.
  ckpt.close()


def _halve(files: Iterable[Path]) -> None:
  """Truncates each file to half its size (a disk filling up, a copy cut short)."""
  for f in files:
    os.truncate(f, f.stat().st_size // 2)


# What of the newest step gets damaged: its array data (TensorStore fails mid-restore), all its
# state's files, its config JSON, or every file (metrics included, which Orbax reads when it
# opens the directory).
DAMAGE = {
  'array_data': lambda step: (step / 'state' / 'ocdbt.process_0' / 'd').iterdir(),
  'state_files': lambda step: (f for f in (step / 'state').rglob('*') if f.is_file()),
  'config_json': lambda step: (step / 'config').glob('metadata'),
  'every_file': lambda step: (f for f in step.rglob('*') if f.is_file()),
}


@pytest.mark.parametrize('damage', list(DAMAGE))
def test_unreadable_newest_step_falls_back_and_is_set_aside(damage, tmp_path, caplog):
  ckpt = Checkpointer(tmp_path, save_every=1, best_metric='loss')
  weights = lambda step: jax.random.normal(jax.random.key(step), (128, 128))  # noqa: E731
  for step in (1, 2, 3):  # random weights: compressed files as large as real ones
    ckpt.save(step, {'w': weights(step)}, config={'step': step}, metrics={'loss': 10.0 - step})
  ckpt.close()
  newest = tmp_path / 'checkpoints' / '3'
  _halve(DAMAGE[damage](newest))
  target = lambda config: {'w': jax.ShapeDtypeStruct((128, 128), jnp.float32)}  # noqa: E731

  reader = Checkpointer(tmp_path, read_only=True)
  with pytest.raises(UnreadableCheckpointError, match=r'^checkpoint step 3 in .* is unreadable'):
    reader.restore_newest_readable(target, fallback=False)
  with caplog.at_level(logging.WARNING, logger='restoration'):
    restored = reader.restore_newest_readable(target, prefer=3)
  assert restored.step == 2 and restored.config == {'step': 2}
  np.testing.assert_array_equal(np.asarray(restored.state['w']), np.asarray(weights(2)))
  unreadable = [r.getMessage() for r in caplog.records if 'is unreadable' in r.getMessage()]
  assert len(unreadable) == 1 and 'checkpoint step 3 ' in unreadable[0]
  assert newest.is_dir()  # a reader moves nothing
  reader.close()

  files = sorted(str(f.relative_to(newest)) for f in newest.rglob('*') if f.is_file())
  ckpt = Checkpointer(tmp_path, save_every=1, best_metric='loss')
  assert ckpt.restore_newest_readable(target, set_aside=True).step == 2
  aside = tmp_path / 'checkpoints' / 'unreadable' / '3'
  assert sorted(str(f.relative_to(aside)) for f in aside.rglob('*') if f.is_file()) == files
  assert ckpt.all_steps() == [1, 2]
  assert ckpt.save(3, {'w': weights(30)}, config={'step': 3}, metrics={'loss': 1.0})
  ckpt.wait_until_finished()
  again = ckpt.restore_newest_readable(target)
  assert again.step == 3 and ckpt.best_step() == 3
  np.testing.assert_array_equal(np.asarray(again.state['w']), np.asarray(weights(30)))
  ckpt.close()


def test_no_readable_step_is_one_line(tmp_path):
  ckpt = Checkpointer(tmp_path, save_every=1, async_save=False)
  for step in (1, 2):
    ckpt.save(step, {'w': jnp.zeros(4)}, config={})
  _halve((tmp_path / 'checkpoints').glob('*/config/metadata'))
  target = lambda config: {'w': jax.ShapeDtypeStruct((4,), jnp.float32)}  # noqa: E731
  with pytest.raises(UnreadableCheckpointError) as info:
    ckpt.restore_newest_readable(target)
  assert str(info.value) == (
    f'no readable checkpoint in {tmp_path}/checkpoints: steps 2, 1 are unreadable (see the '
    'warnings); move them away or use a new workdir'
  )
  with pytest.raises(NoCheckpointError, match=r'no checkpoint for step 7 .* have \[1, 2\]'):
    ckpt.restore_newest_readable(target, prefer=7)
  ckpt.close()


def test_another_runs_weights_load_by_latest_or_step(tmp_path, caplog):
  ckpt = Checkpointer(tmp_path, save_every=1, best_metric='loss', async_save=False)
  for step, loss in ((1, 3.0), (2, 1.0), (3, 2.0)):
    config = {'train': {'best_metric': 'loss'}, 'step': step}
    ckpt.save(step, make_state(mesh_of(8, (4, 2))), config=config, metrics={'loss': loss})
  ckpt.close()
  on_one = lambda config: abstract_on(  # noqa: E731
    abstract_state(8), lambda x: NamedSharding(mesh_of(1, (1, 1)), P())
  )
  assert [load_run_weights(tmp_path, w, target=on_one).step for w in ('latest', 1, '2')] == [
    3,
    1,
    2,
  ]
  loaded = load_run_weights(tmp_path, 2, target=on_one)
  assert loaded.config == {'train': {'best_metric': 'loss'}, 'step': 2}
  assert isinstance(loaded.state['params'], nnx.State)
  assert (
    load_run_weights(tmp_path, 'best').step == 2
  )  # by the run's own best_metric, not the latest
  want = jax.device_get(make_state(mesh_of(8, (4, 2))))
  host = load_run_weights(tmp_path, 'latest')  # as stored: plain dicts of numpy arrays
  assert all(type(x) is np.ndarray for x in jax.tree.leaves(host.state))
  for (path, a), b in zip(
    jax.tree_util.tree_flatten_with_path(want)[0], jax.tree.leaves(host.state), strict=True
  ):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))

  _halve(DAMAGE['state_files'](tmp_path / 'checkpoints' / '3'))
  with caplog.at_level(logging.WARNING, logger='restoration'):
    assert load_run_weights(tmp_path, 'latest').step == 2  # the newest readable one
  assert 'checkpoint step 3 ' in caplog.text
  with pytest.raises(UnreadableCheckpointError, match='checkpoint step 3 '):
    load_run_weights(tmp_path, 3)  # a step asked for by number is not swapped
  wider = lambda config: abstract_on(  # noqa: E731
    abstract_state(64), lambda x: NamedSharding(mesh_of(1, (1, 1)), P())
  )
  with pytest.raises(CheckpointMismatchError, match=r'^checkpoint at .*/2 has params/conv/bias'):
    load_run_weights(tmp_path, 'latest', target=wider)
  with pytest.raises(NoCheckpointError) as info:
    load_run_weights(tmp_path / 'untrained', hint='train it first')
  assert str(info.value) == (
    f'{tmp_path}/untrained: no checkpoint under {tmp_path}/untrained/checkpoints; train it first'
  )


def test_stored_weights_move_into_a_tree_of_other_variable_types():
  """Source Params into a target's Frozen variables, by path, onto the target's shardings."""
  from restoration.models.features import Frozen, freeze

  stored = {  # dicts of host arrays, as a restore without a target gives
    'net': jax.tree.map(
      lambda x: {'value': x}, jax.device_get(nnx.to_pure_dict(nnx.state(Model(8))))
    )
  }
  sharding = NamedSharding(mesh_of(8, (4, 2)), P())
  zeros = lambda width: jax.tree.map(  # noqa: E731
    lambda x: jax.device_put(jnp.zeros_like(x), sharding), nnx.state(freeze(Model(width)))
  )
  moved = place_by_path(stored['net'], zeros(8), where='source', advice='same preset')
  assert type(moved['conv']['kernel']) is Frozen
  assert moved['conv']['kernel'].value.sharding == sharding
  for name in ('conv', 'out'):
    for leaf in ('kernel', 'bias'):
      np.testing.assert_array_equal(
        np.asarray(moved[name][leaf].value), stored['net'][name][leaf]['value']
      )
  with pytest.raises(CheckpointMismatchError, match=r'^source has conv/bias/value \(8\) float32 '):
    place_by_path(stored['net'], zeros(4), where='source', advice='same preset')


def test_preemption_guard_sets_flag_and_restores_handlers():
  # Ctrl-C's handler as in a terminal (a test worker, or an earlier test, may have changed it).
  original = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with PreemptionGuard() as guard:
      assert not guard.should_stop(1)
      signal.raise_signal(signal.SIGTERM)
      assert guard.requested and guard.should_stop(2)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == previous
    with PreemptionGuard() as guard:
      signal.raise_signal(signal.SIGINT)
      assert guard.should_stop(1)
      with pytest.raises(KeyboardInterrupt):  # The second Ctrl-C is not swallowed.
        signal.raise_signal(signal.SIGINT)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == previous
  finally:
    signal.signal(signal.SIGINT, original)


class Worker:
  """A training subprocess whose stdout lines are collected as they arrive."""

  def __init__(self, workdir, *args: str, devices: int = 2, launcher: tuple[str, ...] = ()):
    env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')
    self.log = Path(workdir).parent / f'{Path(workdir).name}.stderr'
    with open(self.log, 'w') as log:
      self.proc = subprocess.Popen(
        [*launcher, sys.executable, WORKER, f'--workdir={workdir}', *args],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
      )
    self.lines: list[str] = []
    threading.Thread(target=self._read, daemon=True).start()

  def _read(self):
    with self.proc.stdout:
      for line in self.proc.stdout:
        self.lines.append(line.strip())

  def wait_for(self, pattern: str, count: int = 1, timeout: float = 60) -> list[re.Match]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      matches = [m for m in map(re.compile(pattern).search, list(self.lines)) if m]
      if len(matches) >= count:
        return matches
      assert self.proc.poll() is None, self.failure(f'exited before {pattern!r}')
      time.sleep(0.02)
    raise AssertionError(self.failure(f'timed out waiting for {pattern!r}'))

  def finish(self, timeout: float = 60) -> int:
    code = self.proc.wait(timeout)
    time.sleep(0.1)  # Let the reader thread take the last lines.
    return code

  def failure(self, what: str) -> str:
    return f'{what}; stdout={self.lines}; stderr tail={self.log.read_text()[-3000:]}'


def restore_worker_state(workdir, mb: float, step=None):
  """Loads the worker's checkpoint onto this process's 8-device mesh."""
  init, abstract = ckpt_worker.build(mb, Mesh(np.array(jax.devices()), ('data',)))
  ckpt = Checkpointer(workdir, read_only=True)
  state = ckpt.restore(abstract, step)
  ckpt.close()
  return init(), state


def assert_state_at(init, state, step: int):
  assert int(state['step']) == step
  for want, got in zip(jax.tree.leaves(init), jax.tree.leaves(state)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want) + step)


@pytest.mark.slow
def test_sigterm_saves_the_current_step_and_exits_0(tmp_path):
  workdir = tmp_path / 'run'
  worker = Worker(workdir, '--mb=4', '--save_every=5', '--step_seconds=0.02')
  worker.wait_for(r'^saved 10$')
  worker.proc.send_signal(signal.SIGTERM)
  assert worker.finish() == 0, worker.failure('SIGTERM exit')
  stopped = int(worker.wait_for(r'^preempted (\d+)$')[0].group(1))
  assert stopped >= 10
  init, state = restore_worker_state(workdir, 4)  # Saved on 2 devices, restored on 8.
  assert_state_at(init, state, stopped)


@pytest.mark.slow
def test_sigkill_during_save_keeps_previous_checkpoint_and_resumes_exactly(tmp_path):
  workdir = tmp_path / 'run'
  ckpt_dir = workdir / 'checkpoints'
  for _ in range(3):  # A save of 32 MB lasts ~0.25 s; retry if a stalled test missed it.
    worker = Worker(workdir, '--mb=32', '--save_every=2')
    first = int(worker.wait_for(r'^saved (\d+)$')[0].group(1))
    partial = []
    while not partial:  # A committed step and a later one being written.
      names = [p.name for p in ckpt_dir.iterdir()]
      done = [int(n) for n in names if n.isdigit()]
      partial = [
        n
        for n in names
        if 'orbax-checkpoint-tmp' in n and done and int(n.split('.')[0]) > max(done)
      ]
      assert worker.proc.poll() is None, worker.failure('exited while saving')
      time.sleep(0.005)
    worker.proc.kill()
    assert worker.finish() == -signal.SIGKILL
    if (ckpt_dir / partial[0]).exists():
      break
  assert (ckpt_dir / partial[0]).exists(), 'never killed a save in flight'
  committed = max(int(n) for n in os.listdir(ckpt_dir) if n.isdigit())
  assert committed >= first
  reader = Checkpointer(workdir, read_only=True)  # As an evaluator beside a live run.
  assert reader.latest_step() == committed
  reader.close()
  assert (ckpt_dir / partial[0]).exists()  # Readers never delete.

  # The next start skips the partial step, removes it, and resumes from the committed one.
  resumed = Worker(workdir, '--mb=32', '--save_every=2', f'--max_steps={committed + 3}', devices=4)
  assert resumed.finish() == 0, resumed.failure('resume')
  assert resumed.lines[1:] == [
    f'resumed {committed}',
    f'saved {committed + 2}',
    f'done {committed + 3}',
  ]
  assert not (ckpt_dir / partial[0]).exists()
  init, state = restore_worker_state(workdir, 32)
  assert_state_at(init, state, committed + 3)


@pytest.mark.slow
def test_two_process_job_stops_all_processes_at_one_step(tmp_path):
  """SIGTERM to one process of a jax.distributed job: every process saves the same step."""
  workdir = tmp_path / 'run'
  worker = Worker(
    workdir,
    '--mb=2',
    '--save_every=5',
    '--step_seconds=0.02',
    devices=2,
    launcher=(sys.executable, str(REPO / 'launch' / 'local.py'), '--num_processes=2', '--'),
  )
  worker.wait_for(r'^\[\d\] saved 10$', count=2, timeout=90)
  pid = int(worker.wait_for(r'^\[1\] pid (\d+)$')[0].group(1))
  os.kill(pid, signal.SIGTERM)
  assert worker.finish() == 0, worker.failure('2-process preemption')
  stops = {
    m.group(1): int(m.group(2)) for m in worker.wait_for(r'^\[(\d)\] preempted (\d+)$', count=2)
  }
  assert len(stops) == 2 and stops['0'] == stops['1'], stops
  init, state = restore_worker_state(workdir, 2)  # 2 x 2 devices -> 8 devices.
  assert_state_at(init, state, stops['0'])
