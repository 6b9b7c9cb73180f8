"""TFDS builder of aligned (clean, codec-degraded) pairs.

Codec round trips are slow (~50x real time per core), so they run once here, in a process
pool, and every degraded version is stored beside its clean clip; the input pipeline then
samples one per example. Splits are made by source item, so no clip is in two splits. The
builder config holds the run config's data spec (:func:`builder_config`), so changing the
source, rate, clip length or degradations prepares a new dataset instead of reusing a stale one.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import fcntl
import multiprocessing
import os

import numpy as np
import tensorflow_datasets as tfds

from restoration.data import pairs, sources
from restoration.data.spec import DataSpec
from restoration.data.splits import SPLITS

# Samples as raw int16 bytes: TFDS's default encoding upcasts integers to int64 varints (10
# bytes for a negative sample), whose protobuf parse holds the GIL while an item is read.
RAW = tfds.features.Encoding.BYTES


@dataclasses.dataclass(kw_only=True)
class PairsConfig(tfds.core.BuilderConfig):
  """One prepared dataset: its :class:`DataSpec`, which names it."""

  spec: DataSpec = dataclasses.field(default_factory=DataSpec)


def builder_config(data_cfg) -> PairsConfig:
  """The TFDS builder config for a run's ``config.data``; its name hashes every spec field."""
  spec = DataSpec.from_config(data_cfg)
  return PairsConfig(name=spec.name, description=spec.description, spec=spec)


class RestorationPairs(tfds.core.GeneratorBasedBuilder):
  """Clean clips with every configured codec degradation, sample-aligned."""

  VERSION = tfds.core.Version('2.0.0')
  RELEASE_NOTES = {
    '1.0.0': 'Initial release.',
    '2.0.0': 'Samples stored as raw int16 bytes (1.0.0 upcast them to int64 varints): '
    'an item reads ~10x faster.',
  }
  BUILDER_CONFIGS = [PairsConfig(name='synthetic_16k_default')]

  def _info(self) -> tfds.core.DatasetInfo:
    c = self.builder_config.spec
    n = c.num_samples
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          'key': tfds.features.Text(),
          'clean': tfds.features.Tensor(shape=(n, c.channels), dtype=np.int16, encoding=RAW),
          'degraded': tfds.features.Tensor(
            shape=(len(c.degradations), n, c.channels), dtype=np.int16, encoding=RAW
          ),
        }
      ),
      metadata=tfds.core.MetadataDict(degradations=list(c.degradations), sample_rate=c.sample_rate),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing is downloaded: sources are local or generated
    return {split: self._generate_examples(split) for split in SPLITS}

  def _generate_examples(self, split: str):
    spec = self.builder_config.spec
    items = sources.items(spec, split)
    if not items:
      raise sources.SourceError(
        f'data source {spec.source!r} has no items for split {split!r} '
        '(a directory needs enough files for the 80/10/10 split)'
      )
    chunk = max(1, len(items) // (8 * _WORKERS))
    # Small splits run inline: starting worker processes costs more than it saves.
    results = (
      map(pairs.make_example, items, [spec] * len(items))
      if len(items) < 64
      else _pool().map(pairs.make_example, items, [spec] * len(items), chunksize=chunk)
    )
    for example in results:
      if example is not None:
        yield example['key'], example


_WORKERS = os.cpu_count() or 1
_POOL: concurrent.futures.ProcessPoolExecutor | None = None


def _pool() -> concurrent.futures.ProcessPoolExecutor:
  """One worker pool for every split (starting workers costs seconds each)."""
  global _POOL
  if _POOL is None:
    ctx = multiprocessing.get_context('spawn')  # TF threads in this process make fork unsafe
    _POOL = concurrent.futures.ProcessPoolExecutor(_WORKERS, mp_context=ctx)
  return _POOL


def _close_pool() -> None:
  global _POOL
  if _POOL is not None:
    _POOL.shutdown()
    _POOL = None


def get_builder(data_cfg) -> RestorationPairs:
  """The builder for ``config.data`` (array_record files, so the pipeline can index them)."""
  return RestorationPairs(
    config=builder_config(data_cfg), data_dir=data_cfg.data_dir, file_format='array_record'
  )


def prepare(data_cfg) -> RestorationPairs:
  """Prepares the dataset if needed (a no-op when already prepared) and returns its builder.

  A file lock in ``data_dir`` serialises concurrent preparations of the same data (several
  runs or test workers on one host); the second one finds the dataset ready.
  """
  os.makedirs(data_cfg.data_dir, exist_ok=True)
  with open(os.path.join(data_cfg.data_dir, '.prepare.lock'), 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      builder = get_builder(data_cfg)
      builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
          try_download_gcs=False, compute_stats=tfds.download.ComputeStatsMode.SKIP
        )
      )
    finally:
      _close_pool()
      fcntl.flock(lock, fcntl.LOCK_UN)
  return builder
