"""Restore audio with an exported model (a file written by ``python -m restoration.export``).

The file is a zip of ``model.stablehlo`` (``jax.export``: the jitted wave -> wave pass over a
batch of single-channel chunks of a fixed length, parameters baked in) and ``meta.json``
(sample rate, chunk and overlap samples, method, sampler steps, spectral parameters). This
loader needs jax, numpy, soxr and soundfile only: no training, model, checkpoint, flax or
orbax code. Chunking, cross-fades, resampling, file and folder I/O are
:mod:`restoration.streaming`'s, shared with :class:`restoration.inference.Restorer`, so both
give the same output::

  r = restoration.exported.load('gan.zip')
  restored = r.restore(wave, 44100)
  r.restore_file('in.mp3', 'out.wav')
"""

from __future__ import annotations

import json
import os
import zipfile

import jax
import numpy as np

from restoration.data import audio
from restoration.errors import UserError
from restoration.streaming import ChunkedRestorer

MODEL, META = 'model.stablehlo', 'meta.json'
FORMAT_VERSION = 1


class ExportError(UserError, ValueError):
  """A file that is not an exported model this version reads; the message names it."""


class ExportedRestorer(ChunkedRestorer):
  """An exported model applied to arrays, files and folders of any length; ``seed`` picks the
  sampling noise of iterative methods (default: the one given at export)."""

  def __init__(self, path: audio.PathLike, *, seed: int | None = None):
    path = os.fspath(path)
    try:
      with zipfile.ZipFile(path) as z:
        meta = json.loads(z.read(META))
        model = z.read(MODEL)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as e:
      raise ExportError(
        f'{path}: not an exported model ({e}); write one with python -m restoration.export'
      ) from None
    if meta.get('format_version') != FORMAT_VERSION:
      raise ExportError(
        f'{path}: format_version {meta.get("format_version")!r}; this loader reads '
        f'{FORMAT_VERSION}: export it again'
      )
    self.path, self.meta = path, meta
    self.sample_rate = int(meta['sample_rate'])
    self.chunk_length, self.overlap = int(meta['chunk_samples']), int(meta['overlap_samples'])
    self.method, self.steps = meta['method'], meta['steps']
    self.seed = meta['seed'] if seed is None else seed
    self._call = jax.jit(jax.export.deserialize(bytearray(model)).call)

  def restore_waves(self, waves: np.ndarray, index: int = 0) -> np.ndarray:
    """One pass of the exported model over ``waves [batch, chunk_length]``."""
    waves = np.asarray(waves, np.float32)
    return np.asarray(self._call(waves, np.int32(self.seed), np.int32(index)))


def load(path: audio.PathLike, **kwargs) -> ExportedRestorer:
  """The exported model at ``path``, ready to restore audio."""
  return ExportedRestorer(path, **kwargs)
