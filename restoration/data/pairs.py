"""One dataset example: a clean clip and every configured degradation of it, aligned.

Kept free of TensorFlow so that the process pool that prepares the dataset starts fast.
"""

from __future__ import annotations

import numpy as np

from restoration.data import codecs, sources
from restoration.data.spec import DataSpec, to_int16


def make_example(item: sources.Item, spec: DataSpec) -> dict | None:
  """Returns ``{'key', 'clean' [S, C], 'degraded' [D, S, C]}`` as int16, or None if unusable."""
  wave = sources.load_item(item, spec)
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
