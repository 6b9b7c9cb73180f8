"""TFDS pairs dataset and the input pipeline (tf.data and Grain): splits, alignment, determinism, sharding."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from restoration.config import base_config
from restoration.data import builder as builder_lib
from restoration.data import pipeline
from restoration.data.splits import SPLITS
from restoration.errors import ConfigError
from restoration.train import sharding

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def prepared(smoke_data_dir):
  c = base_config('regression', 'smoke')
  c.data.data_dir = smoke_data_dir
  return c, builder_lib.prepare(c.data)


def _lag(a, b, max_lag=400):
  a, b = a - a.mean(), b - b.mean()
  lags = np.arange(-max_lag, max_lag + 1)
  corr = [
    np.dot(a[max(0, l) : len(a) + min(0, l)], b[max(0, -l) : len(b) - max(0, l)]) for l in lags
  ]
  return int(lags[int(np.argmax(corr))])


def test_splits_are_disjoint_and_aligned(prepared):
  c, b = prepared
  keys = {}
  for split in SPLITS:
    source = b.as_data_source(split)
    expected = getattr(c.data, f'num_{split}')
    assert len(source) == expected
    keys[split] = {source[i]['key'] for i in range(len(source))}
    ex = source[0]
    n = int(c.data.clip_seconds * c.data.sample_rate)
    assert ex['clean'].shape == (n, 1)
    assert ex['degraded'].shape == (len(c.data.degradations), n, 1)
    for d in range(ex['degraded'].shape[0]):
      assert abs(_lag(ex['clean'][:, 0].astype(float), ex['degraded'][d, :, 0].astype(float))) <= 1
  assert not keys['train'] & keys['validation']
  assert not keys['train'] & keys['test']
  assert not keys['validation'] & keys['test']
  assert list(b.info.metadata['degradations']) == list(c.data.degradations)


def test_prepare_is_a_noop_when_prepared(prepared):
  c, b = prepared
  files = sorted(Path(b.data_dir).glob('*'))
  mtimes = [f.stat().st_mtime for f in files]
  builder_lib.prepare(c.data)
  assert [f.stat().st_mtime for f in files] == mtimes


def test_batches_have_expected_shapes(prepared):
  c, b = prepared
  batch = next(pipeline.local_batches(b, c))
  n = int(c.data.crop_seconds * c.data.sample_rate)
  frames = 1 + n // c.spectral.hop
  assert batch['clean'].shape == (c.train.global_batch, frames, c.spectral.n_fft // 2 + 1, 2)
  assert batch['degraded'].shape == batch['clean'].shape
  assert batch['clean_wave'].shape == (c.train.global_batch, n)
  assert set(batch['degradation']) <= set(range(len(c.data.degradations)))
  assert not np.allclose(batch['clean'], batch['degraded'])


def test_resumed_pipeline_yields_the_same_batches(prepared):
  c, b = prepared
  it = pipeline.local_batches(b, c)
  straight = [next(it) for _ in range(5)]
  resumed = pipeline.local_batches(b, c, start_step=3)
  for k in (3, 4):
    got = next(resumed)
    for key in pipeline.BATCH_KEYS:
      np.testing.assert_array_equal(got[key], straight[k][key])
  other_seed = c.copy_and_resolve_references()
  other_seed.seed = 1
  assert not np.array_equal(
    next(pipeline.local_batches(b, other_seed))['clean_wave'], straight[0]['clean_wave']
  )


def test_grain_yields_the_tfdata_batches_and_resumes(prepared):
  """Grain runs the same sampler: the same waves and degradations batch for batch (threads or a
  worker process), spectrograms equal to rounding (scipy's STFT against tf.signal's),
  and a Grain pipeline started at step 3 yields the uninterrupted one's batches 3 and 4."""
  c, b = prepared
  tfdata, grain = c.copy_and_resolve_references(), c.copy_and_resolve_references()
  tfdata.data.loader, grain.data.loader = 'tfdata', 'grain'
  want = pipeline.local_batches(b, tfdata)
  want = [next(want) for _ in range(5)]
  got = pipeline.local_batches(b, grain)
  got = [next(got) for _ in range(5)]
  for w, g in zip(want, got):
    assert set(g) == set(pipeline.BATCH_KEYS)
    for key in ('clean_wave', 'degraded_wave', 'degradation'):
      np.testing.assert_array_equal(g[key], w[key])
    for key in ('clean', 'degraded'):
      np.testing.assert_allclose(g[key], w[key], atol=2e-4, rtol=0)
  resumed = pipeline.local_batches(b, grain, start_step=3, spectra=False)
  for k in (3, 4):
    np.testing.assert_array_equal(next(resumed)['degraded_wave'], want[k]['degraded_wave'])
  grain.data.workers = 1
  worker = pipeline.local_batches(b, grain, spectra=False, train=False, split='validation')
  tf_val = pipeline.local_batches(b, tfdata, spectra=False, train=False, split='validation')
  for _ in range(2):
    np.testing.assert_array_equal(next(worker)['clean_wave'], next(tf_val)['clean_wave'])


def test_loader_auto_and_errors(prepared):
  c, _ = prepared
  c = c.copy_and_resolve_references()
  assert pipeline.loader(c) == 'tfdata'  # this environment has TensorFlow
  c.data.loader = 'grain'
  assert pipeline.loader(c) == 'grain' and pipeline.spectra_on(c) == 'host'  # on a CPU
  from restoration import config as config_lib

  for field, value, message in (
    ('loader', 'torch', "data.loader='torch': expected one of auto, tfdata, grain"),
    ('workers', -1, 'data.workers=-1: expected a non-negative integer'),
  ):
    bad = base_config('regression', 'smoke')
    bad.data.data_dir = c.data.data_dir
    bad.data[field] = value
    with pytest.raises(ConfigError, match=message):
      config_lib.validate(bad)


def test_process_shards_are_disjoint(prepared):
  c, b = prepared
  source = b.as_data_source('train')
  seen = []
  for pi in range(2):
    sampler = pipeline._Sampler(
      source, seed=0, process_index=pi, process_count=2, crop=100, train=True
    )
    seen.append(set(sampler.local.tolist()))
  assert not seen[0] & seen[1]
  assert seen[0] | seen[1] == set(range(len(source)))
  b0 = next(pipeline.local_batches(b, c, process_index=0, process_count=2))
  assert b0['clean'].shape[0] == c.train.global_batch // 2


def test_global_array_is_sharded_over_data_axis(prepared):
  c, b = prepared
  mesh = sharding.make_mesh(1)
  batch = next(pipeline.global_batches(b, c, sharding.batch_sharding(mesh)))
  assert batch['clean'].shape[0] == c.train.global_batch
  assert len(batch['clean'].sharding.device_set) == jax.device_count()
  assert batch['clean'].addressable_shards[0].data.shape[0] == c.train.global_batch // 8


def test_device_spectra_match_host_batches(prepared):
  """spectra_on='device' sends waves and computes the spectrograms in a jitted program: the
  same batches as the host's tf.signal ones, sharded the same way; 'auto' is host on a CPU."""
  c, b = prepared
  mesh = sharding.make_mesh(1)
  host_it = pipeline.global_batches(b, c, sharding.batch_sharding(mesh))
  c = c.copy_and_resolve_references()
  c.data.spectra_on, c.data.device_prefetch = 'device', 2
  device_it = pipeline.global_batches(b, c, sharding.batch_sharding(mesh))
  for _ in range(3):
    host, device = next(host_it), next(device_it)
    assert set(device) == set(host)
    for k in ('clean_wave', 'degraded_wave', 'degradation'):
      np.testing.assert_array_equal(np.asarray(device[k]), np.asarray(host[k]))
    for k in ('clean', 'degraded'):
      assert device[k].sharding.is_equivalent_to(host[k].sharding, device[k].ndim)
      ref = np.asarray(host[k])
      rel = np.linalg.norm(np.asarray(device[k]) - ref) / np.linalg.norm(ref)
      assert rel < 1e-4, (k, rel)
  c.data.spectra_on = 'auto'
  assert pipeline.spectra_on(c) == 'host'  # JAX_PLATFORMS=cpu here


def test_samples_are_stored_as_raw_int16(prepared):
  """Raw bytes, not TFDS's default int64 varints (10 bytes per negative sample, ~10x slower
  to read): a record is about the size of its samples."""
  _, b = prepared
  clean, degraded = b.info.features['clean'], b.info.features['degraded']
  assert clean.dtype == degraded.dtype == np.int16
  samples = np.prod(clean.shape) + np.prod(degraded.shape)
  record = b.as_data_source('train').data_source[0]
  assert len(record) < 2 * samples + 1024, (len(record), samples)


def test_prepare_cli(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', JAX_PLATFORMS='cpu')
  out = subprocess.run(
    [
      sys.executable,
      '-m',
      'restoration.data.prepare',
      f'--config={ROOT}/configs/regression.py:smoke',
      f'--config.data.data_dir={tmp_path}',
    ],
    capture_output=True,
    text=True,
    env=env,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr[-2000:]
  assert "'train': 16" in out.stdout
