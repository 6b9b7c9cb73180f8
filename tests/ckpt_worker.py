"""A stand-in training loop for the checkpoint tests: resumes, saves async, obeys preemption.

The state after k steps is exactly `init + k` (its leaves hold integers, an nnx model's
parameters included), so any checkpoint can be checked against its step number. Prints one
line per event: `pid P`, `resumed K`, `saved K`, `preempted K`, `done K`. Under
`launch/local.py` it joins a jax.distributed job (RESTORATION_* variables) and shards the big
array over all processes.
"""

import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from restoration import cli  # noqa: E402
from restoration.checkpoint import Checkpointer, PreemptionGuard  # noqa: E402


def build(mb: float, mesh: Mesh):
  """Returns (init, abstract state with shardings) for a state of about `mb` megabytes.

  The big array holds random integers below 2**20 as float32, so it barely compresses (saves
  take real time) and `+ 1` stays exact for millions of steps.
  """
  cols = 1024
  rows = max(8, int(mb * 2**20 / 4 / cols) // 8 * 8)
  big_host = np.random.default_rng(0).integers(0, 2**20, (rows, cols), np.int32)
  big_host = big_host.astype(np.float32)
  big = NamedSharding(mesh, P('data', None))
  replicated = NamedSharding(mesh, P())

  def small():
    model = nnx.Linear(4, 8, kernel_init=nnx.initializers.ones, rngs=nnx.Rngs(0))
    return {'step': jnp.zeros((), jnp.int32), 'model': nnx.state(model)}

  def init():
    state = jax.jit(small, out_shardings=replicated)()
    state['big'] = jax.make_array_from_callback(big_host.shape, big, lambda i: big_host[i])
    return state

  abstract = jax.eval_shape(small)
  abstract = jax.tree.map(
    lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated), abstract
  )
  abstract['big'] = jax.ShapeDtypeStruct(big_host.shape, np.float32, sharding=big)
  return init, abstract


_FLAGS = flags.FlagValues()
flags.DEFINE_string('workdir', None, 'Checkpoint directory.', required=True, flag_values=_FLAGS)
flags.DEFINE_float('mb', 1.0, 'Size of the sharded array.', flag_values=_FLAGS)
flags.DEFINE_integer('save_every', 5, 'Steps between saves.', flag_values=_FLAGS)
flags.DEFINE_integer('max_steps', 10**9, 'Stop after this step.', flag_values=_FLAGS)
flags.DEFINE_float('step_seconds', 0.0, 'Sleep per step.', flag_values=_FLAGS)


def main() -> None:
  cli.parse('ckpt_worker', _FLAGS, None, __doc__)

  env = os.environ
  if 'RESTORATION_COORDINATOR' in env:
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(
      env['RESTORATION_COORDINATOR'],
      num_processes=int(env['RESTORATION_NUM_PROCESSES']),
      process_id=int(env['RESTORATION_PROCESS_ID']),
    )
  print('pid', os.getpid(), flush=True)
  mesh = Mesh(np.array(jax.devices()), ('data',))
  init, abstract = build(_FLAGS.mb, mesh)

  @jax.jit
  def step_fn(state):
    return jax.tree.map(lambda x: x + 1, state)

  config = {'mb': _FLAGS.mb, 'save_every': _FLAGS.save_every}
  ckpt = Checkpointer(_FLAGS.workdir, save_every=_FLAGS.save_every, keep=2)
  if ckpt.latest_step() is None:
    state = init()
  else:
    state = ckpt.restore(abstract)
    print('resumed', int(state['step']), flush=True)
  step = int(state['step'])
  with PreemptionGuard() as guard:
    while step < _FLAGS.max_steps:
      state = step_fn(state)
      step += 1
      time.sleep(_FLAGS.step_seconds)
      if guard.should_stop(step):
        ckpt.save(step, state, config=config, force=True)
        ckpt.wait_until_finished()
        print('preempted', step, flush=True)
        break
      if ckpt.save(step, state, config=config):
        print('saved', step, flush=True)
    else:
      ckpt.save(step, state, config=config, force=True)
      print('done', step, flush=True)
  ckpt.close()


if __name__ == '__main__':
  main()
