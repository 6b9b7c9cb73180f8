"""restoration: GAN vs diffusion vs regression restoration of codec-damaged audio (JAX/Flax).

``restoration.load(workdir)`` returns a :class:`restoration.inference.Restorer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax as _jax

if TYPE_CHECKING:
  from restoration.inference import Restorer

# Partitionable threefry makes XLA:CPU spend tens of seconds compiling each random draw of a
# new shape (every parameter initialiser, every noise tensor). The classic scheme compiles in
# well under a second and is just as deterministic under sharding (values are computed
# replicated and sliced), so a run draws the same numbers on 1 or 1000 devices.
_jax.config.update('jax_threefry_partitionable', False)

__version__ = '0.1.0'


def use_compilation_cache(directory: str) -> None:
  """Keeps XLA's compiled programs in ``directory`` (JAX's persistent cache), so runs that
  compile the same step (the study's seeds, re-runs) skip compilation.
  ``JAX_COMPILATION_CACHE_DIR`` wins."""
  import os

  if not os.environ.get('JAX_COMPILATION_CACHE_DIR'):
    _jax.config.update('jax_compilation_cache_dir', directory)


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
