"""restoration: GAN vs diffusion vs regression restoration of codec-damaged audio (JAX/Flax).

``restoration.load(workdir)`` returns a :class:`restoration.inference.Restorer`.
"""

from __future__ import annotations

import functools as _functools
from collections.abc import Callable as _Callable
from typing import TYPE_CHECKING
from typing import TypeVar as _TypeVar

import jax as _jax

if TYPE_CHECKING:
  from restoration.inference import Restorer

_F = _TypeVar('_F', bound=_Callable)

__version__ = '0.1.0'


def use_compilation_cache(directory: str) -> None:
  """Keeps XLA's compiled programs in ``directory`` (JAX's persistent cache), so runs that
  compile the same step (the study's seeds, re-runs) skip compilation.
  ``JAX_COMPILATION_CACHE_DIR`` wins."""
  import os

  if not os.environ.get('JAX_COMPILATION_CACHE_DIR'):
    _jax.config.update('jax_compilation_cache_dir', directory)


def classic_threefry(fn: _F) -> _F:
  """``fn`` drawing its random numbers (eagerly or while traced) with JAX's classic threefry,
  whatever the process's ``jax_threefry_partitionable``: parameter initialisers, train steps
  and samplers are wrapped with it. The partitionable scheme makes XLA:CPU spend tens of
  seconds compiling each random draw of a new shape; the classic one compiles in well under a
  second and is just as deterministic under sharding (values are computed replicated and
  sliced), and it keeps the numbers of runs trained before."""

  @_functools.wraps(fn)
  def wrapped(*args, **kwargs):
    with _jax.threefry_partitionable(False):
      return fn(*args, **kwargs)

  return wrapped


def load(workdir: str, **kwargs) -> Restorer:
  """``restoration.Restorer(workdir, **kwargs)``: a trained run, ready to restore audio."""
  from restoration.inference import Restorer

  return Restorer(workdir, **kwargs)


def __getattr__(name: str):
  # Lazy, so `import restoration` (and the exported-model loader) stays free of flax/orbax.
  if name == 'Restorer':
    from restoration.inference import Restorer

    return Restorer
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
