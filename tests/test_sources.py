"""Clean-audio sources: the procedural corpus, a directory of files, a TFDS dataset by name."""

import logging

import numpy as np
import pytest
import soundfile as sf
import tiny_audio_tfds

from restoration.config import base_config
from restoration.data import sources, synthesis
from restoration.data.spec import DataSpec
from restoration.data.splits import SPLITS

SR = 16000


def spec(source: str = 'synthetic', n: int = 0, **kw) -> DataSpec:
  """A spec capping every split at ``n`` items (0 = all)."""
  return DataSpec(source=source, num_items=(n, n, n), **kw)


def dominant_hz(x: np.ndarray, sr: int) -> float:
  power = np.abs(np.fft.rfft(x)) ** 2
  return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(power)])


def test_synthetic_splits_are_disjoint_and_load_as_clips():
  splits = {s: sources.items(spec(n=20), s) for s in SPLITS}
  refs = [set(item.ref for item in items) for items in splits.values()]
  assert [len(r) for r in refs] == [20, 20, 20]
  assert not (refs[0] & refs[1] or refs[0] & refs[2] or refs[1] & refs[2])
  item = splits['validation'][0]
  clip = sources.load_item(item, spec(sample_rate=SR, channels=2, clip_seconds=0.5, seed=1))
  assert clip.shape == (SR // 2, 2) and clip.dtype == np.float32
  np.testing.assert_array_equal(clip[:, 0], clip[:, 1])
  np.testing.assert_array_equal(clip[:, 0], synthesis.synthesize(item.ref, 1, SR, 0.5))
  with pytest.raises(ValueError, match='num_items'):
    sources.items(spec(), 'train')
  with pytest.raises(ValueError, match='source'):
    spec('nope')


def test_source_from_config_checks_fields_and_makes_audio_dir_absolute(tmp_path, monkeypatch):
  data = base_config('regression', 'smoke').data
  assert DataSpec.from_config(data) == DataSpec(
    clip_seconds=data.clip_seconds,
    degradations=tuple(data.degradations),
    num_items=(data.num_train, data.num_validation, data.num_test),
  )
  monkeypatch.chdir(tmp_path)
  data.source, data.audio_dir = 'directory', 'clips'
  assert DataSpec.from_config(data).audio_dir == str(tmp_path / 'clips')
  with pytest.raises(ValueError, match='audio_dir'):
    spec('directory')
  with pytest.raises(ValueError, match='tfds_name'):
    spec('tfds')


def _tone(hz: float, seconds: float, sr: int, channels: int = 1) -> np.ndarray:
  t = np.arange(int(seconds * sr)) / sr
  x = 0.5 * np.sin(2 * np.pi * hz * t)
  return np.stack([x, 0.5 * x], 1) if channels == 2 else x


@pytest.fixture
def audio_dir(tmp_path):
  """24 good files (wav/flac, nested, mono/stereo, 22.05/44.1 kHz), one empty, one garbage."""
  good = {}
  for i in range(24):
    ext, sr = ('wav', 22050) if i % 2 else ('flac', 44100)
    name = f'{"sub/" if i % 3 == 0 else ""}clip{i:02d}.{ext}'
    (tmp_path / name).parent.mkdir(exist_ok=True)
    hz = 300.0 + 100 * i
    sf.write(tmp_path / name, _tone(hz, 0.3 + 0.1 * (i % 10), sr, 2 if i % 4 == 1 else 1), sr)
    good[name] = hz
  (tmp_path / 'empty.wav').write_bytes(b'')
  (tmp_path / 'sub' / 'garbage.flac').write_bytes(np.random.default_rng(0).bytes(3000))
  (tmp_path / 'notes.txt').write_text('not audio')
  return tmp_path, good


def test_directory_splits_skip_bad_files_with_warnings(audio_dir, caplog):
  root, good = audio_dir
  files = sources.list_audio_files(root)
  assert [p.relative_to(root).as_posix() for p in files] == sorted(
    list(good) + ['empty.wav', 'sub/garbage.flac']
  )
  with caplog.at_level(logging.WARNING):
    splits = {s: sources.items(spec('directory', audio_dir=str(root)), s) for s in SPLITS}
  keys = [{item.ref for item in items} for items in splits.values()]
  assert set().union(*keys) == set(good)
  assert sum(len(k) for k in keys) == len(good)  # each file in exactly one split
  assert len(keys[0]) > len(keys[1]) + len(keys[2])  # 80/10/10
  text = caplog.text
  assert 'empty.wav' in text and 'garbage.flac' in text
  counts = [r.getMessage() for r in caplog.records if 'skipped' in r.getMessage()]
  assert sum(int(m.split('skipped ')[1].split(' of')[0]) for m in counts) == 2, counts
  # A cap takes a seeded subset of the split; another seed picks another subset.
  capped = sources.items(spec('directory', 5, audio_dir=str(root)), 'train')
  assert len(capped) == 5 and {i.ref for i in capped} <= keys[0]
  other = sources.items(spec('directory', 5, audio_dir=str(root), seed=1), 'train')
  assert {i.ref for i in other} != {i.ref for i in capped}


def test_directory_items_load_as_cropped_or_padded_clips(audio_dir, caplog):
  root, good = audio_dir
  item = sources.Item(key='clip05.wav', kind='file', ref='clip05.wav')  # 0.8 s stereo, 22.05 kHz
  kw = dict(source='directory', sample_rate=SR, seed=0, audio_dir=str(root))
  short = sources.load_item(item, spec(channels=1, clip_seconds=1.0, **kw))
  assert short.shape == (SR, 1) and short.dtype == np.float32
  assert np.abs(short[int(0.8 * SR) + 50 :]).max() == 0.0  # zero-padded at the end
  assert abs(dominant_hz(short[:, 0], SR) - good['clip05.wav']) < 5
  assert abs(np.abs(short).max() - 0.375) < 0.02  # mean of the 0.5 and 0.25 channels
  stereo = sources.load_item(item, spec(channels=2, clip_seconds=0.25, **kw))
  assert stereo.shape == (SR // 4, 2)
  np.testing.assert_allclose(stereo[:, 1], 0.5 * stereo[:, 0], atol=1e-4)
  np.testing.assert_array_equal(
    stereo, sources.load_item(item, spec(channels=2, clip_seconds=0.25, **kw))
  )
  other_seed = sources.load_item(item, spec(channels=2, clip_seconds=0.25, **{**kw, 'seed': 3}))
  assert not np.array_equal(stereo, other_seed)  # the crop offset depends on the seed
  bad = sources.Item(key='empty.wav', kind='file', ref='empty.wav')
  with caplog.at_level(logging.WARNING):
    assert sources.load_item(bad, spec(channels=1, clip_seconds=0.25, **kw)) is None
  assert 'empty.wav' in caplog.text


def test_directory_without_usable_files_raises(tmp_path):
  with pytest.raises(ValueError, match='no audio files'):
    sources.items(spec('directory', audio_dir=str(tmp_path)), 'train')
  (tmp_path / 'a.wav').write_bytes(b'')
  (tmp_path / 'b.mp3').write_bytes(b'definitely not an mp3 stream' * 10)
  for split in SPLITS:
    with pytest.raises(ValueError, match='no usable audio file'):
      sources.items(spec('directory', audio_dir=str(tmp_path)), split)
  with pytest.raises(ValueError, match='not a directory'):
    sources.items(spec('directory', audio_dir=str(tmp_path / 'missing')), 'train')


@pytest.fixture(scope='module')
def tfds_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  tiny_audio_tfds.prepare(data_dir)
  return data_dir


def test_tfds_dataset_by_name(tfds_dir):
  import tensorflow_datasets as tfds

  name, sizes = 'corpus_test_audio', tiny_audio_tfds.SPLIT_SIZES
  kw = dict(tfds_name=name, tfds_data_dir=tfds_dir)
  refs = {s: [item.ref for item in sources.items(spec('tfds', **kw), s)] for s in SPLITS}
  # The dataset's own test split is used; validation is a hash share of train, disjoint.
  assert sorted(refs['test']) == sorted(f'test:{i}' for i in range(sizes['test']))
  assert refs['validation'] and not set(refs['validation']) & set(refs['train'])
  assert sorted(refs['train'] + refs['validation']) == sorted(
    f'train:{i}' for i in range(sizes['train'])
  )
  assert len(refs['train']) > 4 * len(refs['validation'])
  capped = sources.items(spec('tfds', 5, **kw), 'train')
  assert len(capped) == 5 and {i.ref for i in capped} <= set(refs['train'])
  for item in sources.items(spec('tfds', **kw), 'test'):
    clip = sources.load_item(item, spec('tfds', sample_rate=SR, channels=2, clip_seconds=1.0, **kw))
    split, index = item.ref.split(':')
    example = next(
      iter(
        tfds.load(
          name, split=f'{split}[{index}:{int(index) + 1}]', data_dir=tfds_dir
        ).as_numpy_iterator()
      )
    )
    seconds = example['audio'].size / tiny_audio_tfds.SAMPLE_RATE
    assert clip.shape == (SR, 2) and clip.dtype == np.float32
    np.testing.assert_array_equal(clip[:, 0], clip[:, 1])
    assert abs(dominant_hz(clip[:, 0], SR) - tiny_audio_tfds.FREQS[example['label']]) < 5
    assert abs(np.abs(clip).max() - 16000 / 32768) < 0.02  # int16 scaled to [-1, 1]
    if seconds < 1.0:
      assert np.abs(clip[int(seconds * SR) + 50 :]).max() == 0.0
  with pytest.raises(ValueError, match='not prepared'):
    sources.items(spec('tfds', tfds_name=name, tfds_data_dir=tfds_dir + '/elsewhere'), 'train')
