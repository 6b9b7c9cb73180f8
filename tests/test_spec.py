"""The data spec: one declaration of the dataset fields, a stable dataset name, one item reader."""

import dataclasses

import numpy as np
import pytest

from restoration import config as config_lib
from restoration.config import base_config
from restoration.data import spec as spec_lib
from restoration.data.spec import DataSpec, DataSpecError
from restoration.errors import ConfigError


def test_config_data_section_lists_every_spec_field():
  data = base_config('regression', 'smoke').data
  keys = [k for f in dataclasses.fields(DataSpec) for k in spec_lib.config_keys(f.name)]
  assert set(keys) <= set(data.keys())
  assert set(spec_lib.config_defaults()) == set(keys)
  spec = DataSpec.from_config(data)
  assert spec.num_items == (data.num_train, data.num_validation, data.num_test)
  assert spec.seed == data.shuffle_seed and spec.degradations == tuple(data.degradations)


def test_builder_config_holds_the_spec_and_keeps_its_name():
  from restoration.data import builder

  data = base_config('regression', 'smoke').data
  c = builder.builder_config(data)
  assert c.spec == DataSpec.from_config(data)
  # Prepared datasets are found by this name: a change here rebuilds every one of them.
  assert c.name == 'synthetic_16k_b3e4aedffb'
  assert c.description.startswith('{"source": "synthetic", "audio_dir": "", "tfds_name": ""')
  music = base_config('regression', 'base,music44k').data
  assert builder.builder_config(music).name == 'synthetic_44k_ed82e5981d'
  data.source, data.audio_dir = 'directory', '/x/clips'
  assert builder.builder_config(data).name == 'directory_16k_9171b3349b'
  data.shuffle_seed = 1
  assert builder.builder_config(data).name != 'directory_16k_9171b3349b'


@pytest.mark.parametrize(
  'field, value, message',
  [
    ('source', 'nope', "data.source='nope': expected one of synthetic, directory, tfds"),
    ('sample_rate', 12345, 'data.sample_rate=12345: expected a standard rate'),
    ('channels', 3, r'data.channels=3: expected 1 \(mono\) or 2 \(stereo\)'),
    ('degradations', ('mp3:32', 'wav:8'), 'data.degradations=.*expected at least one'),
    ('num_test', -1, 'data.num_train=16: expected non-negative item counts'),
    ('clip_seconds', -1.0, 'data.clip_seconds=-1.0: expected a positive clip length'),
  ],
)
def test_bad_data_fields_name_the_config_key(field, value, message):
  c = base_config('regression', 'smoke')
  c.data[field] = value
  with pytest.raises(ConfigError, match=message):
    config_lib.validate(c)


def test_spec_checks_its_fields():
  with pytest.raises(DataSpecError, match="source='nope'"):
    DataSpec(source='nope')
  with pytest.raises(DataSpecError, match='tfds_name'):
    DataSpec(source='tfds')
  with pytest.raises(DataSpecError, match='degradations'):
    DataSpec(degradations=())
  assert DataSpec(clip_seconds=0.5, sample_rate=22050).num_samples == 11025


def test_read_item_scales_int16_and_picks_degradation_channel_and_window():
  rng = np.random.default_rng(0)
  wave = rng.uniform(-1, 1, (2, 100, 2)).astype(np.float32)  # [clean + 1 degraded, S, C]
  stored = spec_lib.to_int16(wave)
  example = {'clean': stored[0], 'degraded': stored[1:]}
  clean, degraded = spec_lib.read_item(example, 0)
  assert clean.dtype == degraded.dtype == np.float32 and clean.shape == (100, 2)
  np.testing.assert_allclose(clean, wave[0], atol=1 / 32768)
  np.testing.assert_array_equal(degraded, stored[1].astype(np.float32) / 32768)
  clean, degraded = spec_lib.read_item(example, 0, channel=1, window=slice(10, 20))
  np.testing.assert_array_equal(clean, stored[0, 10:20, 1].astype(np.float32) / 32768)
  np.testing.assert_array_equal(degraded, stored[1, 10:20, 1].astype(np.float32) / 32768)
