"""Input pipeline: prepared pairs -> batches of compressed spectrograms -> jax.Arrays.

Determinism: example ``n`` of a process (``n = step * local_batch + j``) is drawn with
``numpy.random.default_rng((seed, process_index, n))`` (item within the epoch's permutation,
crop offset, degradation, channel), so batch ``k`` is a function of (seed, k, process index)
and a pipeline started at step ``k`` yields exactly the batches an uninterrupted one would.
Items are read by index from the array_record files (``as_data_source``), which scales to
datasets far larger than memory. Each process reads a disjoint shard (item ``i`` belongs to
process ``i % process_count``).

Two loaders run that one sampler (``config.data.loader``, :func:`loader`): tf.data (threads,
the STFT in tf.signal on the host when asked) and Grain (threads, or ``data.workers`` worker
processes, the STFT in scipy; no TensorFlow). 'auto' takes tf.data where TensorFlow imports and Grain otherwise.
Both yield the same waves for the same step; TensorFlow is imported only by the tf.data path.

Where the spectrograms are computed is ``config.data.spectra_on`` (:func:`spectra_on`): on the
host, or on the device after the waves are transferred. On an accelerator the host STFT is the
pipeline's largest cost (2 CPU cores: 470-640 examples/s of 2 s with it, 1,570 without), and
the spectrograms are 4x the waves' bytes.
"""

from __future__ import annotations

import collections
import functools
import os
from collections.abc import Iterator

import jax
import numpy as np

from restoration import spectral
from restoration.data.spec import read_item
from restoration.spectral import SpectralParams

BATCH_KEYS = ('clean', 'degraded', 'clean_wave', 'degraded_wave', 'degradation')
SPECTRA_ON = ('auto', 'host', 'device')  # config.data.spectra_on
LOADERS = ('auto', 'tfdata', 'grain')  # config.data.loader


@functools.cache
def tensorflow_available() -> bool:
  """True when TensorFlow imports here (what ``data.loader='auto'`` asks)."""
  try:
    import tensorflow  # noqa: F401
  except ImportError:
    return False
  return True


def loader(config) -> str:
  """'tfdata' or 'grain': ``config.data.loader``, 'auto' resolved by
  :func:`tensorflow_available`."""
  name = config.data.get('loader', 'auto')
  if name == 'auto':
    name = 'tfdata' if tensorflow_available() else 'grain'
  return name


def spectra_on(config) -> str:
  """'host' or 'device': ``config.data.spectra_on``, with 'auto' resolved to 'device' on an
  accelerator under the jit backend (the pmap path feeds host batches) and 'host' on a CPU,
  where both would share the same cores and the loader's threads overlap the STFT with the
  step."""
  where = config.data.spectra_on
  if where == 'auto':
    accelerator = jax.default_backend() != 'cpu' and config.parallel.backend == 'jit'
    where = 'device' if accelerator else 'host'
  return where


def tf_analysis(wave, p: SpectralParams):
  """tf.signal twin of ``restoration.spectral.analysis``: ``[B, S]`` -> ``[B, T, F, 2]``."""
  import tensorflow as tf

  x = tf.pad(wave, [[0, 0], [p.n_fft // 2, p.n_fft // 2]])
  spec = tf.signal.stft(
    x,
    frame_length=p.n_fft,
    frame_step=p.hop,
    fft_length=p.n_fft,
    window_fn=tf.signal.hann_window,
    pad_end=False,
  )
  mag = tf.abs(spec)
  scale = p.beta * tf.pow(mag + 1e-8, p.alpha) / (mag + 1e-8)
  return tf.stack([tf.math.real(spec) * scale, tf.math.imag(spec) * scale], axis=-1)


def np_analysis(wave: np.ndarray, p: SpectralParams) -> np.ndarray:
  """numpy twin of ``restoration.spectral.analysis`` for Grain's threads (scipy's FFT releases
  the GIL): ``[B, S]`` -> ``[B, T, F, 2]`` float32."""
  import scipy.fft

  x = np.pad(wave, [(0, 0), (p.n_fft // 2, p.n_fft // 2)])
  frames = np.lib.stride_tricks.sliding_window_view(x, p.n_fft, axis=-1)
  frames = frames[:, :: p.hop][:, : 1 + wave.shape[-1] // p.hop] * spectral.hann_window(p.n_fft)
  spec = scipy.fft.rfft(frames.astype(np.float32, copy=False), axis=-1)  # complex64
  spec *= (p.beta * np.power(np.abs(spec) + 1e-8, p.alpha - 1)).astype(np.float32)
  return spec.view(np.float32).reshape(*spec.shape, 2)  # (real, imag) interleaved: no copy


class _Sampler:
  """Draws example ``n`` of one process deterministically (runs inside tf.numpy_function)."""

  def __init__(
    self, source, *, seed: int, process_index: int, process_count: int, crop: int, train: bool
  ):
    self.source = source
    self.local = np.arange(process_index, len(source), process_count)
    if len(self.local) == 0:
      raise ValueError(
        f'split has {len(source)} items: fewer than the {process_count} '
        'processes; prepare more items (config.data.num_*)'
      )
    self.seed, self.process_index, self.crop, self.train = seed, process_index, crop, train

  @functools.lru_cache(maxsize=4)
  def _permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng((self.seed, self.process_index, epoch, 1)).permutation(
      len(self.local)
    )

  def __call__(self, n: np.int64):
    n = int(n)
    epoch, pos = divmod(n, len(self.local))
    rng = np.random.default_rng((self.seed, self.process_index, n))
    item = self.local[self._permutation(epoch)[pos]] if self.train else self.local[pos]
    ex = self.source[int(item)]
    degradations, samples, channels = ex['degraded'].shape  # [D, S, C] int16
    start = int(rng.integers(0, samples - self.crop + 1)) if self.train else 0
    d = int(rng.integers(0, degradations))
    ch = int(rng.integers(0, channels))
    clean, degraded = read_item(ex, d, ch, slice(start, start + self.crop))
    return clean, degraded, np.int32(d)


def local_batches(
  builder,
  config,
  *,
  split: str = 'train',
  start_step: int = 0,
  train: bool = True,
  process_index: int | None = None,
  process_count: int | None = None,
  spectra: bool = True,
) -> Iterator[dict[str, np.ndarray]]:
  """This process's batches (``global_batch // process_count`` examples) as numpy dicts, from
  the loader :func:`loader` picks.

  ``train=False`` walks the split in order from the start of each clip (validation), still
  with a deterministic random degradation per example. ``spectra=False``: waves only (the
  device computes the spectrograms, :func:`global_batches`).
  """
  pi = jax.process_index() if process_index is None else process_index
  pc = jax.process_count() if process_count is None else process_count
  d = config.data
  sampler = _Sampler(
    builder.as_data_source(split),
    seed=config.seed,
    process_index=pi,
    process_count=pc,
    crop=int(round(d.crop_seconds * d.sample_rate)),
    train=train,
  )
  local_batch = config.train.global_batch // pc
  make = _grain_batches if loader(config) == 'grain' else _tfdata_batches
  return make(sampler, config, start_step * local_batch, local_batch, spectra)


def _example(sampler: _Sampler, n: int) -> dict[str, np.ndarray]:
  clean, degraded, deg = sampler(n)
  return {'clean_wave': clean, 'degraded_wave': degraded, 'degradation': deg}


def _tfdata_batches(sampler: _Sampler, config, first: int, local_batch: int, spectra: bool):
  import tensorflow as tf

  crop = sampler.crop
  p = SpectralParams.from_config(config.spectral)

  def load(n):
    clean, degraded, deg = tf.numpy_function(
      sampler, [n], (tf.float32, tf.float32, tf.int32), stateful=False
    )
    clean.set_shape([crop])
    degraded.set_shape([crop])
    deg.set_shape([])
    return {'clean_wave': clean, 'degraded_wave': degraded, 'degradation': deg}

  def add_spectra(b):
    return dict(
      b, clean=tf_analysis(b['clean_wave'], p), degraded=tf_analysis(b['degraded_wave'], p)
    )

  ds = tf.data.Dataset.range(first, np.iinfo(np.int64).max)
  ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(local_batch, drop_remainder=True)
  if spectra:
    ds = ds.map(add_spectra, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.prefetch(config.data.prefetch)
  options = tf.data.Options()
  options.deterministic = True
  ds = ds.with_options(options)
  return ds.as_numpy_iterator()


def _grain_batches(sampler: _Sampler, config, first: int, local_batch: int, spectra: bool):
  """Grain over the same sampler: a MapDataset of example indices mapped by the sampler in a
  thread pool and batched in order, the batch's STFTs (:func:`np_analysis`) in a prefetch
  thread of their own when ``spectra``. With ``data.workers`` processes the elements are
  whole batches instead (STFTs included), so worker w makes batches w, w + workers, ...: the
  same stream for any number of threads and workers."""
  import grain

  d = config.data
  p = SpectralParams.from_config(config.spectral)

  def add_spectra(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not spectra:
      return b
    return dict(
      b, clean=np_analysis(b['clean_wave'], p), degraded=np_analysis(b['degraded_wave'], p)
    )

  threads = os.cpu_count() or 1
  ds = grain.MapDataset.range(first, np.iinfo(np.int64).max)
  ds = ds.map(functools.partial(_example, sampler))
  if not d.get('workers', 0):
    options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=d.prefetch * local_batch)
    it = ds.to_iter_dataset(options).batch(local_batch, drop_remainder=True).map(add_spectra)
    return iter(grain.experimental.ThreadPrefetchIterDataset(it, prefetch_buffer_size=d.prefetch))
  from absl import flags

  if not flags.FLAGS.is_parsed():  # outside an absl app (tests, notebooks): the defaults
    flags.FLAGS.mark_as_parsed()  # Grain's workers read its absl flags
  options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=d.prefetch)
  it = ds.batch(local_batch, drop_remainder=True).map(add_spectra).to_iter_dataset(options)
  return iter(it.mp_prefetch(grain.MultiprocessingOptions(num_workers=d.workers)))


def to_global(
  batch: dict[str, np.ndarray], sharding: jax.sharding.Sharding
) -> dict[str, jax.Array]:
  """Assembles every process's local batch into one global jax.Array per key."""
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


def device_spectra(config, sharding: jax.sharding.Sharding):
  """A jitted ``batch -> batch`` adding the 'clean' and 'degraded' spectrograms of its waves,
  sharded as the waves are (``spectral.analysis``, the tf.signal twin's reference)."""
  p = SpectralParams.from_config(config.spectral)

  @functools.partial(jax.jit, out_shardings=sharding)
  def add(batch):
    return dict(
      batch,
      clean=spectral.analysis(batch['clean_wave'], p),
      degraded=spectral.analysis(batch['degraded_wave'], p),
    )

  return add


def global_batches(
  builder, config, sharding: jax.sharding.Sharding, **kwargs
) -> Iterator[dict[str, jax.Array]]:
  """:func:`local_batches` assembled into global arrays sharded over the mesh's data axis,
  with their spectrograms computed where :func:`spectra_on` says.

  ``config.data.device_prefetch`` batches are sent ahead of the one yielded: transfers and
  device STFTs are dispatched asynchronously, so they overlap the step before."""
  on_device = spectra_on(config) == 'device'
  add = device_spectra(config, sharding) if on_device else None
  ahead = collections.deque()
  for batch in local_batches(builder, config, spectra=not on_device, **kwargs):
    batch = to_global(batch, sharding)
    ahead.append(add(batch) if on_device else batch)
    if len(ahead) > config.data.device_prefetch:
      yield ahead.popleft()
  yield from ahead
