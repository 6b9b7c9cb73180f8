"""Runs one command as an N-process jax.distributed job on this machine.

  python launch/local.py --num_processes=2 -- python -m restoration.main --config=... --workdir=...

Each process gets RESTORATION_COORDINATOR (host:port of process 0), RESTORATION_NUM_PROCESSES
and RESTORATION_PROCESS_ID, which restoration.train.sharding passes to
`jax.distributed.initialize` (jax itself would only read the coordinator from the environment).
Output lines are prefixed with `[i] `. SIGTERM/SIGINT are forwarded to every process as
SIGTERM (the preemption signal the training loop saves on). When one process fails the others
are stopped, since they would otherwise wait in collectives; the exit code is the first
failure's (128 + signal number for a process killed by a signal), else 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from absl import flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from restoration import cli  # noqa: E402
from restoration.errors import FlagError, exit_with  # noqa: E402

GRACE_SECONDS = 10.0  # After a failure: the rest are stuck in collectives, not saving.


def free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
    sock.bind(('127.0.0.1', 0))
    return sock.getsockname()[1]


def process_env(index: int, num_processes: int, port: int) -> dict[str, str]:
  env = dict(os.environ)
  env.update(
    RESTORATION_COORDINATOR=f'127.0.0.1:{port}',
    RESTORATION_NUM_PROCESSES=str(num_processes),
    RESTORATION_PROCESS_ID=str(index),
    PYTHONUNBUFFERED='1',
  )
  return env


def _pump(index: int, stream, lock: threading.Lock) -> None:
  with stream:
    for line in iter(stream.readline, b''):
      with lock:
        sys.stdout.buffer.write(f'[{index}] '.encode() + line)
        sys.stdout.flush()


def _exit_code(returncode: int) -> int:
  return 128 - returncode if returncode < 0 else returncode


def launch(command: Sequence[str], num_processes: int, port: int | None = None) -> int:
  """Starts the processes, waits for all, returns the job's exit code."""
  port = port or free_port()
  lock = threading.Lock()
  procs, pumps = [], []

  def terminate_all(*_):
    for proc in procs:
      if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)

  for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, terminate_all)
  for i in range(num_processes):
    # A new session: terminal Ctrl-C reaches only this launcher, which forwards it once.
    proc = subprocess.Popen(
      list(command),
      env=process_env(i, num_processes, port),
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      start_new_session=True,
    )
    procs.append(proc)
    pumps.append(threading.Thread(target=_pump, args=(i, proc.stdout, lock), daemon=True))
    pumps[-1].start()

  failure, deadline = 0, None
  while None in [proc.poll() for proc in procs]:  # A list: poll every process each time.
    for i, proc in enumerate(procs):
      if proc.returncode not in (None, 0) and not failure:
        failure = _exit_code(proc.returncode)
        with lock:
          print(
            f'[launch] process {i} exited with {proc.returncode}; stopping the others',
            file=sys.stderr,
            flush=True,
          )
        terminate_all()
        deadline = time.monotonic() + GRACE_SECONDS
    if deadline is not None and time.monotonic() > deadline:
      for proc in procs:
        if proc.poll() is None:
          proc.kill()
    time.sleep(0.05)
  for pump in pumps:
    pump.join()
  if not failure:
    failure = next((_exit_code(p.returncode) for p in procs if p.returncode), 0)
  return failure


_FLAGS = flags.FlagValues()
_NUM_PROCESSES = flags.DEFINE_integer(
  'num_processes', 2, 'Processes to start.', lower_bound=1, flag_values=_FLAGS
)
_PORT = flags.DEFINE_integer(
  'port', None, 'Coordinator port on 127.0.0.1 (default: a free one).', flag_values=_FLAGS
)


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the launcher on ``argv`` (default: ``sys.argv[1:]``); returns the job's exit code."""
  argv = list(sys.argv[1:] if argv is None else argv)
  split = argv.index('--') if '--' in argv else len(argv)
  cli.parse('local', _FLAGS, argv[:split], __doc__)  # the command's own flags stay unparsed
  command = argv[split + 1 :]
  if not command:
    exit_with(
      'local', FlagError('no command given; usage: local.py --num_processes=N -- python -m ...')
    )
  return launch(command, _NUM_PROCESSES.value, _PORT.value)


if __name__ == '__main__':
  sys.exit(main())
