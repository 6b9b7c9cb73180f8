"""What the report prints about a method besides its measured quality: the FLOPs of its
networks per second of audio, the size of its code, and the run facts training records.

Bookkeeping for the report and the benchmark, apart from the interface (``base.py``) and the
builders (``common.py``) that training runs on.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from restoration.methods.base import get, module_of
from restoration.spectral import SpectralParams


def one_second_spectrogram(config) -> jax.Array:
  """A zero spectrogram of one second of audio: the input of the FLOP counts."""
  p = SpectralParams.from_config(config.spectral)
  return jnp.zeros((1, p.n_frames(config.data.sample_rate), p.n_freq, 2))


def forward_gflops_per_audio_second(
  config, modules: dict[str, nnx.Module] | None = None
) -> dict[str, float]:
  """XLA's FLOP count of each network's forward pass on one second of audio, in GFLOP
  (``models.unet.forward_flops``: the lowered program, well under a second per network).

  ``modules``: the run's networks (default: built abstract, ``nnx.eval_shape``, no weights).
  """
  from restoration.models.unet import forward_flops

  method = get(config.method)
  if modules is None:
    modules = nnx.eval_shape(lambda: method.networks(config, nnx.Rngs(0)))
  x = one_second_spectrogram(config)
  out = {}
  for name, module in modules.items():
    args, kwargs = method.forward_inputs(config, name, x)
    out[name] = forward_flops(module, *args, **kwargs) / 1e9
  return out


def _source_lines(module: str) -> int:
  """Non-blank lines of a module's source file (read as text, not imported code)."""
  path = importlib.util.find_spec(module).origin
  with open(path) as f:
    return sum(1 for line in f if line.strip())


SHARED_MODULES = (
  'restoration.methods.base',
  'restoration.methods.common',
  'restoration.train.steps',
  'restoration.models.unet',
  'restoration.objectives.reconstruction',
)


def code_lines(name: str) -> dict[str, int]:
  """Implementation size of a method: its own module, the modules only some methods use
  (``specific_modules``: critics, diffusion objectives...), and the code every method shares.

  Variants registered by one module share its count; that is the honest reading.
  """
  method = get(name)
  return {
    'own': _source_lines(module_of(method)),
    'specific': sum(_source_lines(m) for m in method.specific_modules),
    'shared': sum(_source_lines(m) for m in SHARED_MODULES),
  }


def run_facts(config) -> dict[str, Any]:
  """What the report prints about a run that is not a measured quality: the method's words,
  each network's forward GFLOP per audio second and the code size. Written by training into
  ``train_log.jsonl`` so the report renders data and never rebuilds networks."""
  method = get(config.method)
  return {
    'describe': method.describe(config),
    'gflops_per_audio_second': forward_gflops_per_audio_second(config),
    'code_lines': code_lines(method.name),
  }
