"""Export a trained run as one file that restores audio without the training code:
``python -m restoration.export --workdir=DIR --out=FILE [--steps=N] [--chunk_seconds=4]``.

:func:`export` serialises the restorer's jitted wave -> wave pass for its chunk length (and the
shorter lengths a stream's last chunk may take) and any batch (``jax.export`` with a symbolic batch
dimension: one chunk per channel), with the parameters baked in, beside a JSON header;
:mod:`restoration.exported` loads it."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sys
import zipfile
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from absl import flags

from restoration import cli, methods
from restoration.data import audio
from restoration.errors import UserError, exit_with
from restoration.exported import FORMAT_VERSION, META, MODEL, ExportError
from restoration.inference import IDENTITY_ABOVE, Restorer, chunk_key

_FLAGS = flags.FlagValues()
_WORKDIR = flags.DEFINE_string(
  'workdir', None, 'Training run directory.', required=True, flag_values=_FLAGS
)
_OUT = flags.DEFINE_string(
  'out', None, 'The exported model file (a zip).', required=True, flag_values=_FLAGS
)
flags.DEFINE_string('checkpoint', 'best', 'best, latest or a step number.', flag_values=_FLAGS)
flags.DEFINE_integer('steps', None, 'Diffusion sampler steps.', flag_values=_FLAGS)
flags.DEFINE_float('chunk_seconds', 4.0, 'Model input length.', flag_values=_FLAGS)
flags.DEFINE_float('overlap_seconds', 0.5, 'Cross-fade length.', flag_values=_FLAGS)
flags.DEFINE_integer('seed', 0, 'Default sampling seed (diffusion).', flag_values=_FLAGS)
flags.DEFINE(
  cli.FractionOrNone(),
  'identity_above',
  IDENTITY_ABOVE,
  'Leave a chunk as it is when its content reaches this fraction of the model band; '
  'none: restore every chunk.',
  flag_values=_FLAGS,
)
_PLATFORMS = flags.DEFINE_list(
  'platforms', None, 'e.g. cpu,cuda (default: this backend).', flag_values=_FLAGS
)

# Passed to the Restorer as they are named.
_RESTORER_FLAGS = (
  'checkpoint',
  'steps',
  'chunk_seconds',
  'overlap_seconds',
  'seed',
  'identity_above',
)


def export(restorer: Restorer, path: audio.PathLike, platforms: list[str] | None = None) -> dict:
  """Writes ``restorer`` to ``path`` atomically (a zip: the model and its header);
  ``platforms`` it runs on (default: this backend). Returns the header."""
  iterative = methods.get(restorer.config.method).iterative  # steps unset: the config's

  def restore_chunks(waves, seed, index):
    return restorer.forward(waves, chunk_key(seed, index))

  (batch,) = jax.export.symbolic_shape('batch')
  exported = {  # the chunk length and the shorter ones a stream's last chunk may take
    n: jax.export.export(jax.jit(restore_chunks), platforms=platforms)(
      jax.ShapeDtypeStruct((batch, n), jnp.float32),
      jax.ShapeDtypeStruct((), jnp.int32),
      jax.ShapeDtypeStruct((), jnp.int32),
    )
    for n in restorer.tail_lengths  # streaming.tail_lengths: sorted, the chunk length last
  }
  meta = {
    'format_version': FORMAT_VERSION,
    'sample_rate': restorer.sample_rate,
    'chunk_samples': restorer.chunk_length,
    'overlap_samples': restorer.overlap,
    'tail_samples': sorted(exported),
    'method': restorer.config.method,
    'steps': (restorer.steps or int(restorer.config.sampling.steps)) if iterative else None,
    'network_calls': restorer.network_calls,
    'seed': restorer.seed,
    'identity_above': restorer.identity_above,
    'spectral': dataclasses.asdict(restorer.spectral),
    'workdir': os.path.abspath(restorer.workdir),
    'checkpoint_step': int(restorer.checkpoint_step),
    'platforms': list(exported[restorer.chunk_length].platforms),
    'jax_version': jax.__version__,
  }
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise ExportError(f'{path}: directory {directory} does not exist')
  tmp = os.path.join(directory, f'.{os.path.basename(path)}.{secrets.token_hex(4)}.part')
  try:
    with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as z:
      z.writestr(META, json.dumps(meta, indent=2) + '\n')
      for n, e in exported.items():
        z.writestr(MODEL.format(n), bytes(e.serialize()))
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return meta


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the CLI on ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
  cli.parse('export', _FLAGS, argv, __doc__)
  from absl import logging as absl_logging  # orbax logs routine notes as warnings

  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    restorer = Restorer(_WORKDIR.value, **{k: _FLAGS[k].value for k in _RESTORER_FLAGS})
    meta = export(restorer, _OUT.value, _PLATFORMS.value)
  except UserError as e:
    exit_with('export', e)
  print(
    f'exported {meta["method"]} (step {meta["checkpoint_step"]}, steps={meta["steps"]}) -> '
    f'{_OUT.value} ({os.path.getsize(_OUT.value) / 2**20:.1f} MB): chunks of '
    f'{meta["chunk_samples"]} samples at {meta["sample_rate"]} Hz for {",".join(meta["platforms"])}'
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
