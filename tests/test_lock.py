"""One training per workdir: a second run, single- or multi-process, is refused with one line
naming the live holder, through the CLI's user-error path; a killed holder leaves no stuck lock."""

import errno
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from restoration.errors import WorkdirBusyError
from restoration.train import lock

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(
  os.environ,
  XLA_FLAGS='--xla_force_host_platform_device_count=2',
  JAX_PLATFORMS='cpu',
  TF_CPP_MIN_LOG_LEVEL='2',
  PYTHONPATH=str(ROOT),
)
HOLD = (
  'import sys, time\n'
  'from restoration.train.lock import workdir_lock\n'
  'with workdir_lock(sys.argv[1]):\n'
  '  print("held", flush=True)\n'
  '  time.sleep(600)\n'
)
TRAIN = [sys.executable, '-m', 'restoration.main', f'--config={ROOT}/configs/regression.py:smoke']


@pytest.fixture
def holder(tmp_path):
  """A live process holding ``tmp_path/run``'s lock -> (workdir, process); killed at the end."""
  workdir = tmp_path / 'run'
  p = subprocess.Popen(
    [sys.executable, '-c', HOLD, str(workdir)], env=ENV, stdout=subprocess.PIPE, text=True
  )
  assert p.stdout.readline() == 'held\n'
  yield workdir, p
  p.kill()
  p.wait()


def test_second_training_is_refused_in_one_line_naming_the_holder(holder):
  workdir, p = holder
  out = subprocess.run(
    [*TRAIN, f'--workdir={workdir}'], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300
  )
  lines = out.stderr.strip().splitlines()
  assert out.returncode == 2, out.stderr[-3000:]
  assert 'Traceback' not in out.stderr, out.stderr[-3000:]
  assert [line for line in lines if ': error: ' in line] == lines[-1:], out.stderr[-3000:]
  assert lines[-1].startswith(f'main: error: {workdir} is in use by a training run (pid {p.pid} ')
  assert f'on host {socket.gethostname()}, started ' in lines[-1]
  assert not (workdir / 'checkpoints').exists()  # refused before touching the run


def test_lock_of_a_killed_holder_is_free(holder):
  workdir, p = holder
  with pytest.raises(WorkdirBusyError, match=f'pid {p.pid} '):
    with lock.workdir_lock(str(workdir)):
      pass
  p.send_signal(signal.SIGKILL)
  p.wait()
  with lock.workdir_lock(str(workdir)):
    assert (workdir / lock.LOCK_FILE).read_text().startswith(f'pid {os.getpid()} ')
  with lock.workdir_lock(str(workdir)):  # released on leaving the block, an error too
    with pytest.raises(WorkdirBusyError, match=f'pid {os.getpid()} '):
      with lock.workdir_lock(str(workdir)):
        pass


def test_every_process_of_a_multi_process_job_raises_the_same_refusal(holder):
  workdir, p = holder
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  procs = [
    subprocess.Popen(
      [*TRAIN, f'--workdir={workdir}'],
      cwd=ROOT,
      env=dict(
        ENV,
        RESTORATION_COORDINATOR=f'127.0.0.1:{port}',
        RESTORATION_NUM_PROCESSES='2',
        RESTORATION_PROCESS_ID=str(i),
      ),
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in range(2)
  ]
  errors = [proc.communicate(timeout=300)[1] for proc in procs]
  last = [e.strip().splitlines()[-1] for e in errors]
  assert [proc.returncode for proc in procs] == [2, 2], errors[0][-2000:] + errors[1][-2000:]
  assert last[0] == last[1]
  assert last[0].startswith(f'main: error: {workdir} is in use by a training run (pid {p.pid} ')


def test_file_system_without_locks_trains_unlocked(tmp_path, monkeypatch, caplog):
  def unsupported(fd, op):
    raise OSError(errno.ENOLCK, 'No locks available')

  monkeypatch.setattr(lock.fcntl, 'flock', unsupported)
  with lock.workdir_lock(str(tmp_path)):
    pass
  assert 'file locks unsupported' in caplog.text
