"""Training system: every config trains at smoke size, backends agree, exact resume (also past
an unreadable newest checkpoint), preemption, shape-mismatch refusal, config errors, and a
2-process jax.distributed run."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from restoration import config as config_lib
from restoration import inference, methods
from restoration import state as state_lib
from restoration.benchmark import synthetic_batch
from restoration.checkpoint import Checkpointer, CheckpointMismatchError, UnreadableCheckpointError
from restoration.config import load_config
from restoration.errors import ConfigError
from restoration.train import loop, sharding

ROOT = Path(__file__).resolve().parents[1]
METHODS = methods.names()


def smoke_config(method, tmp_data, **train):
  c = load_config(method, 'smoke')
  c.data.data_dir = str(tmp_data)
  c.train.update(train)
  return c


@pytest.fixture
def data_dir(smoke_data_dir):
  return smoke_data_dir


def _train_params(c, devices, backend, steps=3):
  mesh = sharding.make_mesh(1, devices=devices)
  nets, state, shardings = state_lib.create(
    c, sharding_fn=lambda a: sharding.param_sharding(mesh, a)
  )
  step = sharding.compile_step(methods.get(c.method).step(c, nets), mesh, shardings, backend)
  state = step.to_step(state)
  for k in range(steps):
    batch = synthetic_batch(c, k)
    if backend == 'jit':
      batch = {key: jax.device_put(v, sharding.batch_sharding(mesh)) for key, v in batch.items()}
    state, _ = step(state, batch, jax.random.key(k))
  state = step.from_step(state)
  return jax.device_get(state['params'])


@pytest.mark.parametrize('method', ['regression', 'wgan'])
def test_one_device_jit_and_pmap_agree(method, data_dir):
  # Adam maps a near-zero gradient to a full +-lr step, so the float summation order of
  # 1 vs 8 devices can flip its sign; a larger eps keeps those steps proportional.
  c = smoke_config(method, data_dir, global_batch=8, adam_eps=1e-3)
  one = _train_params(c, jax.devices()[:1], 'jit')
  eight = _train_params(c, jax.devices(), 'jit')
  pmapped = _train_params(c, jax.devices(), 'pmap')
  for other in (eight, pmapped):
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(other)):
      np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
  moved = max(
    float(np.max(np.abs(a - b)))
    for a, b in zip(
      jax.tree.leaves(one), jax.tree.leaves(_train_params(c, jax.devices()[:1], 'jit', 0))
    )
  )
  assert moved > 1e-4  # training changed the parameters (the comparison is not vacuous)


def test_device_spectra_train_as_host_ones(data_dir, tmp_path):
  """data.spectra_on='device' (what 'auto' picks on an accelerator) trains and validates as
  the host pipeline does: the same loss and validation scores, to float tolerance."""
  last = {}
  for where in ('host', 'device'):
    c = smoke_config('regression', data_dir, num_steps=2, eval_every=2, log_every=1)
    c.data.spectra_on = where
    last[where] = loop.train_and_evaluate(c, str(tmp_path / where))
  for key in ('loss', 'eval/lsd', 'eval/si_sdr'):
    assert last['device'][key] == pytest.approx(last['host'][key], rel=1e-3), key


def test_resume_is_exact(data_dir, tmp_path):
  c = smoke_config('gan', data_dir, num_steps=4, checkpoint_every=2, eval_every=100)
  loop.train_and_evaluate(c, str(tmp_path / 'straight'))
  loop.train_and_evaluate(c, str(tmp_path / 'resumed'), stop_at=2)
  assert Checkpointer(tmp_path / 'resumed', save_every=1).latest_step() == 2
  loop.train_and_evaluate(c, str(tmp_path / 'resumed'))
  target = state_lib.abstract_state(c, None)
  a = Checkpointer(tmp_path / 'straight', save_every=1).restore(target)
  b = Checkpointer(tmp_path / 'resumed', save_every=1).restore(target)
  assert int(a['step']) == int(b['step']) == 4
  for x, y in zip(jax.tree.leaves(a['params']), jax.tree.leaves(b['params'])):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_max_train_seconds_ends_training_as_a_last_step(data_dir, tmp_path, caplog):
  c = smoke_config(
    'regression',
    data_dir,
    num_steps=100_000,
    max_train_seconds=2.0,
    log_every=100_000,
    eval_every=100_000,
    checkpoint_every=100_000,
  )
  with caplog.at_level(logging.INFO, logger='restoration'):
    last = loop.train_and_evaluate(c, str(tmp_path))
  step = last['step']
  assert 1 < step < 100_000
  assert f'train.max_train_seconds=2 reached: stopped at step {step} (saved)' in caplog.text
  assert Checkpointer(tmp_path, read_only=True).latest_step() == step
  assert 'eval/lsd' in last and 'steps_per_second' in last  # validated and logged as a last step
  record = json.loads((tmp_path / 'train_log.jsonl').read_text().splitlines()[-1])
  assert record['out_of_time'] and record['end_step'] == step
  trained = record['wall_seconds'] - record['compile_seconds'] - record['eval_seconds']
  assert trained >= 2.0


def truncate_step(step_dir: Path) -> dict[str, int]:
  """Halves every file of a committed step (a disk filling up, a copy cut short); returns the
  new sizes by relative path."""
  for f in step_dir.rglob('*'):
    if f.is_file():
      os.truncate(f, f.stat().st_size // 2)
  return {
    str(f.relative_to(step_dir)): f.stat().st_size for f in step_dir.rglob('*') if f.is_file()
  }


def test_unreadable_newest_step_is_set_aside_and_training_resumes_exactly(
  data_dir, tmp_path, caplog
):
  c = smoke_config('regression', data_dir, num_steps=6, checkpoint_every=1, eval_every=100)
  straight = loop.train_and_evaluate(c, str(tmp_path / 'straight'))
  work = tmp_path / 'damaged'
  loop.train_and_evaluate(c, str(work), stop_at=2)
  loop.train_and_evaluate(c, str(work), stop_at=4)
  sizes = truncate_step(work / 'checkpoints' / '4')

  # Readers (evaluate, restore and notebooks load through load_workdir) skip it, moving nothing.
  with caplog.at_level(logging.WARNING, logger='restoration'):
    assert inference.load_workdir(str(work), 'best')[-1] == 3
    assert inference.load_workdir(str(work), 'latest')[-1] == 3
  warnings = [r.getMessage() for r in caplog.records if 'is unreadable' in r.getMessage()]
  assert len(warnings) == 2 and all('checkpoint step 4 ' in w for w in warnings)
  assert all('\n' not in w for w in warnings)
  with pytest.raises(UnreadableCheckpointError, match='checkpoint step 4 '):
    inference.load_workdir(str(work), '4')  # a step asked for by number is not swapped

  c.train.checkpoint_fallback = False
  with pytest.raises(UnreadableCheckpointError, match=r'step 4 .*checkpoint_fallback=False'):
    loop.train_and_evaluate(c, str(work))
  assert Checkpointer(work, read_only=True).all_steps() == [2, 3, 4]  # refusing moves nothing

  c.train.checkpoint_fallback = True
  caplog.clear()
  with caplog.at_level(logging.INFO, logger='restoration'):
    last = loop.train_and_evaluate(c, str(work))
  assert 'resumed from' in caplog.text and 'at step 3' in caplog.text
  aside = work / 'checkpoints' / 'unreadable' / '4'
  moved = {str(f.relative_to(aside)): f.stat().st_size for f in aside.rglob('*') if f.is_file()}
  assert moved == sizes
  assert Checkpointer(work, read_only=True).all_steps() == [4, 5, 6]
  assert last['step'] == 6 and last['params_checksum'] == straight['params_checksum']
  target = state_lib.abstract_state(c, None)
  a = Checkpointer(tmp_path / 'straight', read_only=True).restore(target)
  b = Checkpointer(work, read_only=True).restore(target)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_changed_model_shape_is_refused(data_dir, tmp_path):
  c = smoke_config('regression', data_dir, num_steps=2, eval_every=100)
  loop.train_and_evaluate(c, str(tmp_path))
  c.model.overrides = {'channels': 16}
  with pytest.raises(CheckpointMismatchError, match='checkpoint'):
    loop.train_and_evaluate(c, str(tmp_path))


def test_config_errors_are_one_line(data_dir):
  c = smoke_config('regression', data_dir, global_batch=6)
  with pytest.raises(ConfigError, match=r'train.global_batch=6: expected divisible'):
    config_lib.validate(c, num_devices=8)
  c = smoke_config('regression', data_dir)
  c.data.source = 'directory'
  with pytest.raises(ConfigError, match='data.audio_dir'):
    config_lib.validate(c)
  c = smoke_config('regression', data_dir)
  c.data.spectra_on = 'gpu'
  with pytest.raises(ConfigError, match="spectra_on='gpu': expected one of auto"):
    config_lib.validate(c)
  c.data.spectra_on, c.parallel.backend = 'device', 'pmap'
  with pytest.raises(ConfigError, match="spectra_on='device': expected 'host' or"):
    config_lib.validate(c)
  c = smoke_config('regression', data_dir, max_train_seconds=-1)
  with pytest.raises(ConfigError, match=r'max_train_seconds=-1.0: expected seconds'):
    config_lib.validate(c)
  c = smoke_config('regression', data_dir)
  c.objective.reconstruction.mrstf = 1.0  # a misspelt term: refused at start, not at tracing
  with pytest.raises(ConfigError, match=r'reconstruction.mrstf=1.0: expected a weight of one'):
    config_lib.validate(c)
  c = smoke_config('regression', data_dir)
  c.objective.reconstruction.mel = -1.0
  with pytest.raises(ConfigError, match=r'reconstruction.mel=-1.0: expected a weight >= 0'):
    config_lib.validate(c)


def _main(args, **kw):
  env = dict(
    os.environ,
    XLA_FLAGS='--xla_force_host_platform_device_count=2',
    JAX_PLATFORMS='cpu',
    TF_CPP_MIN_LOG_LEVEL='2',
  )
  return subprocess.Popen(
    [sys.executable, '-m', 'restoration.main', *args],
    cwd=ROOT,
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    **kw,
  )


def test_unknown_config_field_stops_with_clear_error(tmp_path):
  p = _main(
    [
      f'--config={ROOT}/configs/regression.py:smoke',
      f'--workdir={tmp_path}',
      '--config.train.no_such_field=3',
    ]
  )
  out, _ = p.communicate(timeout=120)
  assert p.returncode != 0
  assert 'no_such_field' in out


def test_sigterm_saves_and_exits_zero(data_dir, tmp_path):
  p = _main(
    [
      f'--config={ROOT}/configs/regression.py:smoke',
      f'--workdir={tmp_path}',
      f'--config.data.data_dir={data_dir}',
      '--config.train.num_steps=100000',
      '--config.train.checkpoint_every=100000',
      '--config.train.eval_every=100000',
      '--config.train.log_every=1',
    ]
  )
  lines = []
  deadline = time.time() + 240
  while time.time() < deadline:
    line = p.stdout.readline()
    lines.append(line)
    if 'step 3/' in line:
      break
  p.send_signal(signal.SIGTERM)
  out, _ = p.communicate(timeout=120)
  assert p.returncode == 0, ''.join(lines) + out
  step = Checkpointer(tmp_path, save_every=1).latest_step()
  assert step is not None and step >= 3


def test_two_process_distributed_training_agrees(data_dir, tmp_path):
  env = dict(
    os.environ,
    XLA_FLAGS='--xla_force_host_platform_device_count=2',
    JAX_PLATFORMS='cpu',
    TF_CPP_MIN_LOG_LEVEL='2',
  )
  cmd = [
    sys.executable,
    str(ROOT / 'launch' / 'local.py'),
    '--num_processes=2',
    '--',
    sys.executable,
    '-m',
    'restoration.main',
    f'--config={ROOT}/configs/regression.py:smoke',
    f'--workdir={tmp_path}',
    f'--config.data.data_dir={data_dir}',
    '--config.train.num_steps=3',
    '--config.train.eval_every=3',
    '--config.train.log_every=1',
    # Each process sends waves and the jitted STFT runs on the global arrays ('auto' on GPUs).
    '--config.data.spectra_on=device',
  ]
  out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  text = out.stdout + out.stderr
  sums = {}
  for line in text.splitlines():
    if 'params checksum' in line:
      sums[line.split(']')[0].strip('[')] = line.rsplit(' ', 1)[-1]
  assert set(sums) == {'0', '1'}, text[-3000:]
  assert sums['0'] == sums['1']
  assert 'on 4 devices' in text
  assert Checkpointer(tmp_path, save_every=1).latest_step() == 3


@pytest.mark.parametrize('method', METHODS)
def test_every_size_preset_validates(method, smoke_run):
  for size in config_lib.SIZES:
    c = load_config(method, size)
    if methods.get(method).starts_from:  # e.g. the predictive bridge's predictor run
      c.train.init_from = smoke_run(methods.get(method).starts_from)
    config_lib.validate(c, num_devices=8)


def test_untrained_diffusion_model_stays_near_the_input_only_in_residual_space(data_dir):
  """The denoiser's output layer starts at zero. Diffusing the residual, sampling returns the
  degraded input plus noise of ~residual_scale; diffusing the clean spectrogram it returns a
  shrunken, noised copy (why the residual space starts from "no change")."""
  from restoration import inference

  error = {}
  for space in ('residual', 'clean'):
    c = smoke_config('diffusion', data_dir)
    c.objective.space = space
    c.sampling.start_sigma = 0.5
    nets, state, _ = state_lib.create(c)
    degraded = synthetic_batch(c)['degraded']
    out = inference.enhancer(c, nets, steps=2)(
      state['ema'], state['rest']['denoiser'], degraded, jax.random.key(0)
    )
    error[space] = float(np.sqrt(np.mean(np.square(np.asarray(out) - degraded))))
  print('RMS distance from the input:', error)
  assert 0 < error['residual'] < c.objective.residual_scale * c.sampling.start_sigma
  assert error['clean'] > 5 * error['residual']
