"""Test setup: 8 fake CPU devices (set before JAX is imported anywhere) and quiet TF."""

import fcntl
import os

# Tiny test shapes: XLA compile time dominates, so skip its backend optimisations.
os.environ.setdefault(
  'XLA_FLAGS', '--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0'
)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault(
  'JAX_COMPILATION_CACHE_DIR', os.path.join(os.path.dirname(__file__), '..', '.pytest_cache', 'jax')
)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '2')

import pytest  # noqa: E402


@pytest.fixture(scope='session')
def smoke_data_dir(tmp_path_factory):
  """One prepared smoke dataset for the whole session (preparation is the slow part)."""
  from restoration.config import base_config
  from restoration.data import builder

  root = tmp_path_factory.getbasetemp()
  root = root.parent if os.environ.get('PYTEST_XDIST_WORKER') else root
  c = base_config('regression', 'smoke')
  c.data.data_dir = str(root / 'smoke_tfds')
  builder.prepare(c.data)
  return c.data.data_dir


@pytest.fixture(scope='session')
def smoke_run(smoke_data_dir, tmp_path_factory):
  """``smoke_run(method)`` -> the workdir of that method's smoke training, trained once per
  session and shared by test modules and xdist workers (a file lock guards the training)."""
  from test_train import smoke_config

  from restoration import methods
  from restoration.checkpoint import Checkpointer
  from restoration.train import loop

  root = tmp_path_factory.getbasetemp()
  root = root.parent if os.environ.get('PYTEST_XDIST_WORKER') else root

  def get(method: str) -> str:
    workdir = root / f'smoke_run_{method}'
    with open(root / f'.smoke_run_{method}.lock', 'w') as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      if Checkpointer(workdir, read_only=True).latest_step() is None:
        c = smoke_config(method, smoke_data_dir)
        source = methods.get(method).starts_from
        if source:  # e.g. the predictive bridge's frozen predictor
          c.train.init_from = get(source)
        loop.train_and_evaluate(c, str(workdir))
    return str(workdir)

  return get
