"""Restore audio with an exported model (a file written by ``python -m restoration.export``).

The file is a zip of ``model_<n>.stablehlo`` (``jax.export``: the jitted wave -> wave pass over
a batch of single-channel chunks of ``n`` samples, parameters baked in; one per length a chunk
takes: the chunk length and the shorter ones of a stream's last chunk) and ``meta.json``
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

MODEL, META = 'model_{}.stablehlo', 'meta.json'  # MODEL.format(chunk samples)
FORMAT_VERSION = 2


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
        models = {int(n): z.read(MODEL.format(n)) for n in meta.get('tail_samples', ())}
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
    self.tail_lengths = tuple(models)
    self._calls = {n: jax.jit(jax.export.deserialize(bytearray(m)).call) for n, m in models.items()}

  def restore_waves(self, waves: np.ndarray, index: int = 0) -> np.ndarray:
    """One pass of the exported model over ``waves [batch, n]``, ``n`` one of
    :attr:`tail_lengths` (the chunk length among them)."""
    waves = np.asarray(waves, np.float32)
    if waves.ndim != 2 or waves.shape[1] not in self._calls:
      raise ExportError(
        f'{self.path}: waves of shape {waves.shape}; this model takes [batch, n] for n in '
        f'{", ".join(map(str, self._calls))}'
      )
    return np.asarray(self._calls[waves.shape[1]](waves, np.int32(self.seed), np.int32(index)))


def load(path: audio.PathLike, **kwargs) -> ExportedRestorer:
  """The exported model at ``path``, ready to restore audio."""
  return ExportedRestorer(path, **kwargs)
