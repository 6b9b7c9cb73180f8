"""Export a trained run as one file that restores audio without the training code:
``python -m restoration.export --workdir=DIR --out=FILE [--steps=N] [--chunk_seconds=4]``.

:func:`export` serialises the restorer's jitted wave -> wave pass for its chunk length (and the
shorter lengths a stream's last chunk may take) and any batch (``jax.export`` with a symbolic batch
dimension: one chunk per channel), with the parameters baked in, beside a JSON header;
:mod:`restoration.exported` loads it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import sys
import zipfile

import jax
import jax.numpy as jnp

from restoration import methods
from restoration.data import audio
from restoration.errors import UserError, exit_with
from restoration.exported import FORMAT_VERSION, META, MODEL, ExportError
from restoration.inference import IDENTITY_ABOVE, Restorer, chunk_key
from restoration.restore import identity_above_flag


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


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
    prog='export', description='Export a trained run as one file that restores audio.'
  )
  p.add_argument('--workdir', required=True, help='training run directory')
  p.add_argument('--out', required=True, help='the exported model file (a zip)')
  p.add_argument('--checkpoint', default='best', help='best, latest or a step number')
  p.add_argument('--steps', type=int, default=None, help='diffusion sampler steps')
  p.add_argument('--chunk_seconds', type=float, default=4.0, help='model input length')
  p.add_argument('--overlap_seconds', type=float, default=0.5, help='cross-fade length')
  p.add_argument('--seed', type=int, default=0, help='default sampling seed (diffusion)')
  p.add_argument(
    '--identity_above',
    type=identity_above_flag,
    default=IDENTITY_ABOVE,
    help='leave a chunk as it is when its content reaches this fraction of the model band; '
    'none: restore every chunk',
  )
  p.add_argument('--platforms', default=None, help='e.g. cpu,cuda (default: this backend)')
  return p


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  from absl import logging as absl_logging  # orbax logs routine notes as warnings

  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    restorer = Restorer(
      args.workdir,
      checkpoint=args.checkpoint,
      steps=args.steps,
      chunk_seconds=args.chunk_seconds,
      overlap_seconds=args.overlap_seconds,
      seed=args.seed,
      identity_above=args.identity_above,
    )
    meta = export(restorer, args.out, args.platforms and args.platforms.split(','))
  except UserError as e:
    exit_with('export', e)
  print(
    f'exported {meta["method"]} (step {meta["checkpoint_step"]}, steps={meta["steps"]}) -> '
    f'{args.out} ({os.path.getsize(args.out) / 2**20:.1f} MB): chunks of '
    f'{meta["chunk_samples"]} samples at {meta["sample_rate"]} Hz for {",".join(meta["platforms"])}'
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
