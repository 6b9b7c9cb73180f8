"""One dataset example: a clean clip and every configured degradation of it, aligned.

Kept free of TensorFlow so that the process pool that prepares the dataset starts fast.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from restoration.data import codecs, sources


@dataclasses.dataclass(frozen=True)
class PairSpec:
  """What the worker needs to turn an item into an example (picklable)."""

  source: str
  sample_rate: int
  channels: int
  clip_seconds: float
  degradations: tuple[str, ...]
  seed: int
  audio_dir: str = ''
  tfds_name: str = ''
  tfds_data_dir: str = ''


def to_int16(wave: np.ndarray) -> np.ndarray:
  """Stores audio as int16 (half the disk of float32; codec output is far noisier than 16 bits)."""
  return np.round(np.clip(wave, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def make_example(item: sources.Item, spec: PairSpec) -> dict | None:
  """Returns ``{'key', 'clean' [S, C], 'degraded' [D, S, C]}`` as int16, or None if unusable."""
  wave = sources.load_item(
    item,
    sample_rate=spec.sample_rate,
    channels=spec.channels,
    seconds=spec.clip_seconds,
    seed=spec.seed,
    audio_dir=spec.audio_dir,
    tfds_name=spec.tfds_name,
    tfds_data_dir=spec.tfds_data_dir or None,
  )
  if wave is None:
    return None
  wave = np.asarray(wave, np.float32).reshape(wave.shape[0], spec.channels)
  degraded = []
  for d in spec.degradations:
    codec, kbps = codecs.parse_degradation(d)
    x = wave[:, 0] if spec.channels == 1 else wave
    y = codecs.degrade(x, spec.sample_rate, codec, kbps)
    degraded.append(np.asarray(y, np.float32).reshape(wave.shape))
  return {'key': item.key, 'clean': to_int16(wave), 'degraded': to_int16(np.stack(degraded))}
