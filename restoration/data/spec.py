"""The data spec: what one prepared dataset holds, declared once, and how its items are read.

:class:`DataSpec` lists each dataset field with its default, its ``config.data`` key(s) and
the check that validates it. The config's data section takes its defaults from it
(:func:`config_defaults`), the TFDS builder config holds one and is named by its hash, and the
sources and the worker that makes examples read their fields from it. :func:`read_item` is the
one way a stored example becomes float waves. Kept free of TensorFlow and JAX.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from restoration.errors import UserError

SOURCES = ('synthetic', 'directory', 'tfds')
SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
_SCALE = 32768  # int16 storage: sample = round(wave * 32768)


class DataSpecError(UserError, ValueError):
  """A data field holds a value the dataset cannot be made from."""

  def __init__(self, field: str, value: Any, expected: str):
    super().__init__(f'{field}={value!r}: expected {expected}')
    self.field, self.value, self.expected = field, value, expected


def _degradations_parse(value: tuple[str, ...]) -> bool:
  from restoration.data import codecs  # lazy: codec libraries load only when checked

  try:
    for d in value:
      codecs.parse_degradation(d)
  except ValueError:
    return False
  return len(value) > 0


def _field(
  default: Any,
  cast: Callable[[Any], Any],
  check: Callable[[Any, DataSpec], bool],
  expected: str,
  config: tuple[str, ...] = (),
):
  """A spec field; ``config`` names its ``config.data`` key(s) when they differ from its name
  (several keys: the field is their tuple)."""
  return dataclasses.field(
    default=default, metadata=dict(cast=cast, check=check, expected=expected, config=config)
  )


def _abspath(path: str) -> str:
  """Absolute, so a dataset's name and its workers do not depend on the starting directory."""
  return os.path.abspath(path) if path else ''


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """Source, rate, clip length, degradations and item counts of one prepared dataset.

  Picklable, so the builder's worker processes receive it whole.
  """

  source: str = _field('synthetic', str, lambda v, s: v in SOURCES, f'one of {", ".join(SOURCES)}')
  audio_dir: str = _field(
    '',
    _abspath,
    lambda v, s: s.source != 'directory' or bool(v),
    'a directory of audio files when data.source="directory"',
  )
  tfds_name: str = _field(
    '',
    str,
    lambda v, s: s.source != 'tfds' or bool(v),
    'a TFDS dataset name when data.source="tfds"',
  )
  tfds_data_dir: str = _field('', str, lambda v, s: True, "a directory ('' = TFDS's default)")
  sample_rate: int = _field(
    16000,
    int,
    lambda v, s: v in SAMPLE_RATES,
    'a standard rate (8000, 16000, 22050, 24000, 32000, 44100 or 48000 Hz)',
  )
  channels: int = _field(1, int, lambda v, s: v in (1, 2), '1 (mono) or 2 (stereo)')
  clip_seconds: float = _field(2.0, float, lambda v, s: v > 0, 'a positive clip length')
  degradations: tuple[str, ...] = _field(
    ('mp3:16', 'mp3:24', 'mp3:32', 'opus:12', 'vorbis:32'),
    tuple,
    lambda v, s: _degradations_parse(v),
    'at least one "codec:kbps" entry, e.g. "mp3:32" (codecs.CODECS, a positive bitrate)',
  )
  # Train, validation, test (0 = every file or example of a directory or TFDS source).
  num_items: tuple[int, int, int] = _field(
    (64, 8, 8),
    lambda v: tuple(int(n) for n in v),
    lambda v, s: len(v) == 3 and min(v) >= 0,
    'non-negative item counts for train/validation/test',
    config=('num_train', 'num_validation', 'num_test'),
  )
  seed: int = _field(0, int, lambda v, s: True, 'an integer', config=('shuffle_seed',))

  def __post_init__(self):
    for f in dataclasses.fields(self):
      value = getattr(self, f.name)
      if not f.metadata['check'](value, self):
        raise DataSpecError(f.name, value, f.metadata['expected'])

  @classmethod
  def from_config(cls, data_config: Mapping) -> DataSpec:
    """The spec of ``config.data`` (its pipeline fields are not part of the dataset)."""
    values = {}
    for f in dataclasses.fields(cls):
      keys = config_keys(f.name)
      raw = tuple(data_config[k] for k in keys) if len(keys) > 1 else data_config[keys[0]]
      try:
        values[f.name] = f.metadata['cast'](raw)
      except (TypeError, ValueError):
        raise DataSpecError(f.name, raw, f.metadata['expected']) from None
    return cls(**values)

  @property
  def num_samples(self) -> int:
    return int(round(self.clip_seconds * self.sample_rate))

  def fields(self) -> dict[str, Any]:
    """Every field by name, in declaration order."""
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

  @property
  def name(self) -> str:
    """The dataset's name: source, rate and a hash of every field (a new name, a new dataset)."""
    digest = hashlib.sha1(json.dumps(self.fields(), sort_keys=True).encode()).hexdigest()[:10]
    return f'{self.source}_{self.sample_rate // 1000}k_{digest}'

  @property
  def description(self) -> str:
    return json.dumps(self.fields())


def config_keys(field: str) -> tuple[str, ...]:
  """The ``config.data`` key(s) of spec field ``field``."""
  f = DataSpec.__dataclass_fields__[field]
  return f.metadata['config'] or (field,)


def config_defaults() -> dict[str, Any]:
  """The dataset fields of ``config.data`` with their defaults, under the config's keys."""
  out = {}
  for f in dataclasses.fields(DataSpec):
    keys = config_keys(f.name)
    out.update(zip(keys, f.default) if len(keys) > 1 else {keys[0]: f.default})
  return out


def to_int16(wave: np.ndarray) -> np.ndarray:
  """Stores audio as int16 (half the disk of float32; codec output is far noisier than 16 bits)."""
  return np.round(np.clip(wave, -1.0, 32767 / _SCALE) * _SCALE).astype(np.int16)


def to_float(samples: np.ndarray) -> np.ndarray:
  """Stored int16 samples -> float32 waves in [-1, 1) (exact: the scale is a power of two)."""
  return samples.astype(np.float32) * np.float32(1 / _SCALE)


def read_item(
  example: Mapping[str, np.ndarray],
  degradation: int,
  channel: int | None = None,
  window: slice = slice(None),
) -> tuple[np.ndarray, np.ndarray]:
  """``(clean, degraded)`` float32 waves of a stored example (``'clean' [S, C]``, ``'degraded'
  [D, S, C]`` int16): degraded version ``degradation``, samples ``window``, one ``channel``
  (``[S]``) or all (``[S, C]``)."""
  ch = slice(None) if channel is None else channel
  return (
    to_float(example['clean'][window, ch]),
    to_float(example['degraded'][degradation, window, ch]),
  )
