"""One training per workdir: a second one is refused with one line naming the live holder.

Two trainings on one workdir corrupt each other's checkpoints (Orbax's temporary directories
collide and one process hangs after its last step). Process 0 takes an ``flock`` on
``<workdir>/.train.lock``; the OS drops it when that process exits or dies, so a crashed or
killed run never leaves the workdir stuck and no stale pid has to be guessed at. The file holds
the holder's pid, host and start time, only for the message. On a network file system Linux
``flock`` is a lock the server sees (NFS), so two jobs on different hosts still exclude each other.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import logging
import os
import socket
from collections.abc import Iterator

import jax
import numpy as np
from jax.experimental import multihost_utils

from restoration.errors import WorkdirBusyError

log = logging.getLogger('restoration')

LOCK_FILE = '.train.lock'
_MESSAGE_BYTES = 4096  # the broadcast refusal's fixed size (every process must agree on it)


@contextlib.contextmanager
def workdir_lock(workdir: str) -> Iterator[None]:
  """Holds ``workdir``'s training lock for the block, else raises :class:`WorkdirBusyError`.

  Call it on every process of a job after ``jax.distributed`` is initialised: process 0 takes
  the lock and broadcasts the outcome, so every process proceeds or raises the same error.
  """
  fd, refusal = _acquire(workdir) if jax.process_index() == 0 else (None, '')
  try:
    if jax.process_count() > 1:
      refusal = _broadcast(refusal)
    if refusal:
      raise WorkdirBusyError(refusal)
    yield
  finally:
    if fd is not None:
      os.close(fd)  # releases the lock; the file keeps the last holder, read only when refused


def _acquire(workdir: str) -> tuple[int | None, str]:
  """(open locked file, '') or (None, the one-line refusal naming the holder)."""
  path = os.path.join(workdir, LOCK_FILE)
  try:
    os.makedirs(workdir, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:  # refused on every process, not raised on process 0 alone
    return (
      None,
      f'{path}: cannot create the training lock ({e.strerror}); expected a writable workdir',
    )
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    holder = os.pread(fd, 1024, 0).decode(errors='replace').strip() or 'another process'
    os.close(fd)
    return None, (
      f'{workdir} is in use by a training run ({holder}; lock {path}): wait for it to end, or '
      'use another workdir'
    )
  except OSError as e:
    if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
      os.close(fd)
      raise
    log.warning('%s: file locks unsupported here (%s); a second run is not refused', path, e)
    return fd, ''
  started = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M:%S UTC')
  os.ftruncate(fd, 0)
  os.pwrite(fd, f'pid {os.getpid()} on host {socket.gethostname()}, started {started}'.encode(), 0)
  return fd, ''


def _broadcast(text: str) -> str:
  """Process 0's ``text`` on every process."""
  data = np.frombuffer(text.encode()[:_MESSAGE_BYTES], np.uint8)
  buf = np.zeros(_MESSAGE_BYTES, np.int32)
  buf[: data.size] = data
  out = np.asarray(multihost_utils.broadcast_one_to_all(buf)).astype(np.uint8)
  return out.tobytes().rstrip(b'\0').decode(errors='replace')
