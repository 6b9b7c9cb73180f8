"""Clean audio for the dataset: the embedded procedural corpus, a directory, or a TFDS dataset.

:func:`items` lists the items of a split of a :class:`~restoration.data.spec.DataSpec`'s
source; :func:`load_item` turns one item into a fixed-length clip in the builder's worker
processes, so items are small and picklable and sources load their heavy modules lazily.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from pathlib import Path

import numpy as np

from restoration.data import audio, splits, synthesis
from restoration.data.spec import DataSpec
from restoration.errors import UserError

AUDIO_EXTENSIONS = ('.wav', '.flac', '.ogg', '.mp3', '.opus', '.m4a')

log = logging.getLogger(__name__)


class SourceError(UserError, ValueError):
  """The user's audio directory is missing, empty or holds no decodable file."""


@dataclasses.dataclass(frozen=True)
class Item:
  """One source item: a synthetic index, a file (path relative to the directory) or a TFDS
  example ('split:index'). Small and picklable, so process pools can ship it."""

  key: str
  kind: str  # 'synthetic' | 'file' | 'tfds'
  ref: str | int


# ----------------------------------------------------------------------------------------------
# Channels and crops shared by the sources.


def _to_channels(wave: np.ndarray, channels: int, what: str) -> np.ndarray:
  """``[samples]`` or ``[samples, c]`` -> ``[samples, channels]`` (downmix or duplicate)."""
  wave = wave.reshape(wave.shape[0], -1)
  if channels == 1:
    return wave.mean(axis=1, keepdims=True)
  if wave.shape[1] == 1:
    return np.repeat(wave, channels, axis=1)
  if wave.shape[1] != channels:
    raise ValueError(f'{what}: has {wave.shape[1]} channels; expected 1 or {channels}')
  return wave


def _crop(wave: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
  """``n`` samples from the middle half of ``wave`` (intros and fades are atypical), or the
  whole wave zero-padded at the end when it is shorter."""
  spare = wave.shape[0] - n
  if spare <= 0:
    return np.pad(wave, ((0, -spare), (0, 0)))
  start = int(rng.integers(spare // 4, spare - spare // 4 + 1))
  return wave[start : start + n]


# ----------------------------------------------------------------------------------------------
# A directory of the user's audio files.


def list_audio_files(directory: str | os.PathLike) -> list[Path]:
  """Audio files (by extension) under ``directory``, recursively, sorted; hidden ones skipped."""
  root = Path(directory)
  if not root.is_dir():
    raise SourceError(
      f'audio_dir={os.fspath(directory)!r}: not a directory (expected a '
      f'directory of {"/".join(e[1:] for e in AUDIO_EXTENSIONS)} files)'
    )
  return sorted(
    p
    for p in root.rglob('*')
    if p.suffix.lower() in AUDIO_EXTENSIONS
    and p.is_file()
    and not any(part.startswith('.') for part in p.relative_to(root).parts)
  )


@functools.cache
def _probe(path: str, size: int, mtime: float) -> str:
  """Why ``path`` is unusable ('' if it decodes to audio); cached per file version."""
  del size, mtime  # cache key only: a rewritten file is probed again
  try:
    audio.load(path)
  except audio.AudioError as e:
    return str(e)
  return ''


def _usable(path: Path) -> bool:
  """Whether ``path`` decodes to audio; warns with the reason when it does not."""
  stat = path.stat()
  reason = _probe(os.fspath(path), stat.st_size, stat.st_mtime)
  if reason:
    log.warning('skipping unusable audio file %s: %s', path, reason)
  return not reason


def _directory_items(directory: str, split: str, num_items: int, seed: int) -> list[Item]:
  """The usable files of ``split``, in a seeded order, at most ``num_items`` (0 = all)."""
  root = Path(directory)
  files = list_audio_files(root)
  if not files:
    raise SourceError(
      f'audio_dir={directory!r}: no audio files ({", ".join(AUDIO_EXTENSIONS)}) found under it'
    )
  keys = [p.relative_to(root).as_posix() for p in files]
  mine = splits.seeded_order((k for k in keys if splits.bucket(k) == split), seed)
  items, skipped = [], 0
  for key in mine:
    if num_items and len(items) == num_items:
      break
    if _usable(root / key):
      items.append(Item(key=key, kind='file', ref=key))
    else:
      skipped += 1
  if skipped:
    log.warning(
      '%s split %r: skipped %d of %d files (see the warnings above)',
      directory,
      split,
      skipped,
      skipped + len(items),
    )
  if not items and not any(_usable(root / k) for k in keys if splits.bucket(k) != split):
    raise SourceError(
      f'audio_dir={directory!r}: no usable audio file; all {len(keys)} files '
      'are empty or cannot be decoded (see the warnings)'
    )
  if not items:
    log.warning(
      '%s: no usable file falls in split %r (a hash of the path assigns 80/10/10%% '
      'to train/validation/test); add files to fill it',
      directory,
      split,
    )
  return items


# ----------------------------------------------------------------------------------------------
# A TFDS audio dataset the user has prepared (e.g. speech_commands, nsynth, librispeech).


@functools.lru_cache(maxsize=4)
def _tfds_builder(name: str, data_dir: str | None):
  """The prepared builder of ``name``, checked for an 'audio' feature with a sample rate."""
  import tensorflow_datasets as tfds  # lazy: worker processes without TFDS sources start fast

  builder = tfds.builder(name, data_dir=data_dir)
  if not builder.is_prepared():
    raise ValueError(
      f'tfds_name={name!r}: not prepared in data_dir={data_dir!r}; prepare it '
      f'first, e.g. `tfds build {name} --data_dir=...`'
    )
  features = builder.info.features
  if 'audio' not in features:
    raise ValueError(
      f'tfds_name={name!r}: has no "audio" feature (features: {", ".join(features.keys())})'
    )
  if not features['audio'].sample_rate:
    raise ValueError(f'tfds_name={name!r}: its "audio" feature declares no sample_rate')
  return builder


def _tfds_refs(name: str, data_dir: str | None, split: str, num_items: int, seed: int) -> list[str]:
  """'tfds_split:index' refs of ``split`` (see :func:`splits.tfds_refs`), in a seeded order,
  at most ``num_items`` (0 = all)."""
  sizes = {k: v.num_examples for k, v in _tfds_builder(name, data_dir).info.splits.items()}
  refs = splits.seeded_order(splits.tfds_refs(name, sizes, split), seed)
  return refs[:num_items] if num_items else refs


def _tfds_audio(name: str, data_dir: str | None, ref: str) -> tuple[np.ndarray, int]:
  """Example ``ref`` ('split:index') as float32 ``[samples(, channels)]`` and its rate."""
  import tensorflow_datasets as tfds

  builder = _tfds_builder(name, data_dir)
  split, index = ref.rsplit(':', 1)
  feature = builder.info.features['audio']
  ds = builder.as_dataset(
    split=f'{split}[{index}:{int(index) + 1}]',
    decoders=tfds.decode.PartialDecoding({'audio': True}),
  )
  wave = next(iter(tfds.as_numpy(ds)))['audio']
  # Integer audio holds 16-bit samples (TFDS's default int64 included) unless it is int32.
  scale = (
    1.0
    if np.issubdtype(wave.dtype, np.floating)
    else 2.0**31
    if wave.dtype == np.int32
    else 2.0**15
  )
  return wave.astype(np.float32) / np.float32(scale), int(feature.sample_rate)


# ----------------------------------------------------------------------------------------------
# The interface the dataset builder uses.


def items(spec: DataSpec, split: str) -> list[Item]:
  """The items of one split of ``spec``'s source; no item is in two splits.

  ``spec.num_items`` of the split: synthetic items to make, or at most this many
  files/examples (0 = all). ``spec.seed`` picks which files/examples fill a capped split
  (synthetic items use it in :func:`load_item`).
  """
  splits.check(split)
  num_items, seed = spec.num_items[splits.SPLITS.index(split)], spec.seed
  if spec.source == 'synthetic':
    return [
      Item(key=f'synthetic/{i}', kind='synthetic', ref=i)
      for i in splits.synthetic_indices(split, num_items)
    ]
  if spec.source == 'directory':
    return _directory_items(spec.audio_dir, split, num_items, seed)
  return [
    Item(key=ref, kind='tfds', ref=ref)
    for ref in _tfds_refs(spec.tfds_name, spec.tfds_data_dir or None, split, num_items, seed)
  ]


def load_item(item: Item, spec: DataSpec) -> np.ndarray | None:
  """The clip of ``item``: float32 ``[spec.num_samples, spec.channels]``.

  Files and TFDS examples give a crop chosen by ``(seed, key)`` from their middle half,
  zero-padded when shorter; None (with a warning) when a file cannot be used.
  """
  sample_rate, channels, seed = spec.sample_rate, spec.channels, spec.seed
  tfds_name, tfds_data_dir = spec.tfds_name, spec.tfds_data_dir or None
  n = spec.num_samples
  if item.kind == 'synthetic':
    wave = synthesis.synthesize(int(item.ref), seed, sample_rate, spec.clip_seconds)[:, None]
  elif item.kind == 'file':
    path = Path(spec.audio_dir) / str(item.ref)
    try:
      wave, _ = audio.load(path, sample_rate=sample_rate, channels=channels)
    except audio.AudioError as e:
      log.warning('skipping unusable audio file %s: %s', path, e)
      return None
  elif item.kind == 'tfds':
    wave, sr = _tfds_audio(tfds_name, tfds_data_dir, str(item.ref))
    wave = audio.resample(_to_channels(wave, channels, f'{tfds_name} {item.ref}'), sr, sample_rate)
  else:
    raise ValueError(f'item {item.key!r}: kind={item.kind!r}, expected synthetic, file or tfds')
  wave = _crop(
    _to_channels(wave, channels, item.key),
    n,
    np.random.default_rng([seed, splits.stable_hash(item.key)]),
  )
  return np.ascontiguousarray(wave, np.float32)
