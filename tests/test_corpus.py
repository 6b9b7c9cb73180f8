"""Clean-audio sources: the procedural corpus, a directory of files, a TFDS dataset by name."""

import logging
import time

import numpy as np
import pytest
import soundfile as sf
import tiny_audio_tfds

from restoration.data import corpus

SR = 16000


def high_band_share(x: np.ndarray, sr: int) -> float:
  """Share of the energy above sr / 4: what a low-bitrate codec removes."""
  power = np.abs(np.fft.rfft(x)) ** 2
  return float(power[np.fft.rfftfreq(x.size, 1 / sr) > sr / 4].sum() / power.sum())


def flatness(x: np.ndarray) -> float:
  """Spectral flatness of the average power spectrum (1 = white noise, 0 = pure tones)."""
  frames = x[: x.size // 512 * 512].reshape(-1, 512) * np.hanning(512)
  power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(0)[1:] + 1e-20
  return float(np.exp(np.log(power).mean()) / power.mean())


def dominant_hz(x: np.ndarray, sr: int) -> float:
  power = np.abs(np.fft.rfft(x)) ** 2
  return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(power)])


def test_synthesis_is_deterministic_per_seed_and_index():
  a = corpus.synthesize(3, seed=7, sample_rate=SR, seconds=0.5)
  np.testing.assert_array_equal(a, corpus.synthesize(3, seed=7, sample_rate=SR, seconds=0.5))
  assert not np.allclose(a, corpus.synthesize(4, seed=7, sample_rate=SR, seconds=0.5))
  assert not np.allclose(a, corpus.synthesize(3, seed=8, sample_rate=SR, seconds=0.5))


def test_synthetic_items_carry_high_band_energy_and_are_fast():
  indices = range(16)
  start = time.process_time()
  waves = [corpus.synthesize(i, seed=0, sample_rate=SR, seconds=1.0) for i in indices]
  per_second = (time.process_time() - start) / len(waves)
  shares = np.array([high_band_share(w, SR) for w in waves])
  flat = np.array([flatness(w) for w in waves])
  kinds = [corpus.material(i, seed=0) for i in indices]
  print(
    f'high-band share mean {shares.mean():.4f} median {np.median(shares):.4f} '
    f'min {shares.min():.5f}; flatness max {flat.max():.3f}; '
    f'{1 / per_second:.0f}x real time (CPU time)'
  )
  assert set(kinds) == {'music', 'speech'}
  for w in waves:
    assert w.dtype == np.float32 and w.shape == (SR,) and np.isfinite(w).all()
    assert 10 ** (-6.01 / 20) <= np.abs(w).max() <= 10 ** (-0.99 / 20)
  assert shares.mean() >= 0.01, shares
  assert (shares > 0.001).mean() >= 0.75, shares
  assert (shares < 0.5).all(), shares  # spectra fall with frequency, as real audio does
  assert (flat < 0.5).all(), flat  # structured, not white noise
  for kind in ('music', 'speech'):
    assert np.mean([s for s, k in zip(shares, kinds) if k == kind]) >= 0.005, (kind, shares)
  assert per_second < 0.2, per_second  # vectorised: a per-sample Python loop takes seconds


def test_synthetic_splits_are_disjoint_and_load_as_clips():
  splits = {s: corpus.list_items('synthetic', s, num_items=20, seed=0) for s in corpus.SPLITS}
  refs = [set(item.ref for item in items) for items in splits.values()]
  assert [len(r) for r in refs] == [20, 20, 20]
  assert not (refs[0] & refs[1] or refs[0] & refs[2] or refs[1] & refs[2])
  item = splits['validation'][0]
  clip = corpus.load_item(item, sample_rate=SR, channels=2, seconds=0.5, seed=1)
  assert clip.shape == (SR // 2, 2) and clip.dtype == np.float32
  np.testing.assert_array_equal(clip[:, 0], clip[:, 1])
  np.testing.assert_array_equal(clip[:, 0], corpus.synthesize(item.ref, 1, SR, 0.5))
  with pytest.raises(ValueError, match='num_items'):
    corpus.list_items('synthetic', 'train', num_items=0, seed=0)
  with pytest.raises(ValueError, match='source'):
    corpus.list_items('nope', 'train', num_items=1, seed=0)


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
  files = corpus.list_audio_files(root)
  assert [p.relative_to(root).as_posix() for p in files] == sorted(
    list(good) + ['empty.wav', 'sub/garbage.flac']
  )
  with caplog.at_level(logging.WARNING):
    splits = {
      s: corpus.list_items('directory', s, num_items=0, seed=0, audio_dir=str(root))
      for s in corpus.SPLITS
    }
  keys = [{item.ref for item in items} for items in splits.values()]
  assert set().union(*keys) == set(good)
  assert sum(len(k) for k in keys) == len(good)  # each file in exactly one split
  assert len(keys[0]) > len(keys[1]) + len(keys[2])  # 80/10/10
  text = caplog.text
  assert 'empty.wav' in text and 'garbage.flac' in text
  counts = [r.getMessage() for r in caplog.records if 'skipped' in r.getMessage()]
  assert sum(int(m.split('skipped ')[1].split(' of')[0]) for m in counts) == 2, counts
  # A cap takes a seeded subset of the split; another seed picks another subset.
  capped = corpus.list_items('directory', 'train', num_items=5, seed=0, audio_dir=str(root))
  assert len(capped) == 5 and {i.ref for i in capped} <= keys[0]
  other = corpus.list_items('directory', 'train', num_items=5, seed=1, audio_dir=str(root))
  assert {i.ref for i in other} != {i.ref for i in capped}


def test_directory_items_load_as_cropped_or_padded_clips(audio_dir, caplog):
  root, good = audio_dir
  item = corpus.Item(key='clip05.wav', kind='file', ref='clip05.wav')  # 0.8 s stereo, 22.05 kHz
  kw = dict(sample_rate=SR, seed=0, audio_dir=str(root))
  short = corpus.load_item(item, channels=1, seconds=1.0, **kw)
  assert short.shape == (SR, 1) and short.dtype == np.float32
  assert np.abs(short[int(0.8 * SR) + 50 :]).max() == 0.0  # zero-padded at the end
  assert abs(dominant_hz(short[:, 0], SR) - good['clip05.wav']) < 5
  assert abs(np.abs(short).max() - 0.375) < 0.02  # mean of the 0.5 and 0.25 channels
  stereo = corpus.load_item(item, channels=2, seconds=0.25, **kw)
  assert stereo.shape == (SR // 4, 2)
  np.testing.assert_allclose(stereo[:, 1], 0.5 * stereo[:, 0], atol=1e-4)
  np.testing.assert_array_equal(stereo, corpus.load_item(item, channels=2, seconds=0.25, **kw))
  other_seed = corpus.load_item(item, channels=2, seconds=0.25, **{**kw, 'seed': 3})
  assert not np.array_equal(stereo, other_seed)  # the crop offset depends on the seed
  bad = corpus.Item(key='empty.wav', kind='file', ref='empty.wav')
  with caplog.at_level(logging.WARNING):
    assert corpus.load_item(bad, channels=1, seconds=0.25, **kw) is None
  assert 'empty.wav' in caplog.text


def test_directory_without_usable_files_raises(tmp_path):
  with pytest.raises(ValueError, match='no audio files'):
    corpus.list_items('directory', 'train', num_items=0, seed=0, audio_dir=str(tmp_path))
  (tmp_path / 'a.wav').write_bytes(b'')
  (tmp_path / 'b.mp3').write_bytes(b'definitely not an mp3 stream' * 10)
  for split in corpus.SPLITS:
    with pytest.raises(ValueError, match='no usable audio file'):
      corpus.list_items('directory', split, num_items=0, seed=0, audio_dir=str(tmp_path))
  with pytest.raises(ValueError, match='not a directory'):
    corpus.list_items(
      'directory', 'train', num_items=0, seed=0, audio_dir=str(tmp_path / 'missing')
    )


@pytest.fixture(scope='module')
def tfds_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  tiny_audio_tfds.prepare(data_dir)
  return data_dir


def test_tfds_dataset_by_name(tfds_dir):
  import tensorflow_datasets as tfds

  name, sizes = 'corpus_test_audio', tiny_audio_tfds.SPLIT_SIZES
  kw = dict(tfds_name=name, tfds_data_dir=tfds_dir)
  refs = {
    s: [item.ref for item in corpus.list_items('tfds', s, num_items=0, seed=0, **kw)]
    for s in corpus.SPLITS
  }
  # The dataset's own test split is used; validation is a hash share of train, disjoint.
  assert sorted(refs['test']) == sorted(f'test:{i}' for i in range(sizes['test']))
  assert refs['validation'] and not set(refs['validation']) & set(refs['train'])
  assert sorted(refs['train'] + refs['validation']) == sorted(
    f'train:{i}' for i in range(sizes['train'])
  )
  assert len(refs['train']) > 4 * len(refs['validation'])
  capped = corpus.list_items('tfds', 'train', num_items=5, seed=0, **kw)
  assert len(capped) == 5 and {i.ref for i in capped} <= set(refs['train'])
  for item in corpus.list_items('tfds', 'test', num_items=0, seed=0, **kw):
    clip = corpus.load_item(item, sample_rate=SR, channels=2, seconds=1.0, seed=0, **kw)
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
    corpus.list_items(
      'tfds', 'train', num_items=0, seed=0, tfds_name=name, tfds_data_dir=tfds_dir + '/elsewhere'
    )
