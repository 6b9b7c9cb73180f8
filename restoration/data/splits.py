"""Which split (train, validation, test) each source item belongs to.

Splits are made by item (a synthetic index range, a source file or a TFDS example is in exactly
one split), so no clip of the test set was heard in training. Assignments hash the item's key
with blake2b, not Python's ``hash``, so they are the same in every process and on every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SPLITS = ('train', 'validation', 'test')
# Synthetic indices of split s start at s * SYNTHETIC_STRIDE, so splits never share an item.
SYNTHETIC_STRIDE = 10**6
# Directory and hash-split TFDS items: fraction of items in train, validation (rest: test).
FRACTIONS = (0.8, 0.1)
# TFDS split names (by prefix) that serve as each of our splits.
_TFDS_ROLE_PREFIXES = {
  'train': ('train',),
  'validation': ('validation', 'valid', 'dev'),
  'test': ('test',),
}


def check(split: str) -> None:
  """Raises ValueError unless ``split`` is one of :data:`SPLITS`."""
  if split not in SPLITS:
    raise ValueError(f'split={split!r}: expected one of {", ".join(SPLITS)}')


def stable_hash(*parts) -> int:
  """A stable 64-bit hash (Python's ``hash`` changes between processes)."""
  text = '\x1f'.join(str(p) for p in parts)
  return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), 'little')


def bucket(key: str) -> str:
  """The split of an item, from a hash of its key alone (not the seed): 80/10/10."""
  u = stable_hash('split', key) / 2.0**64
  return SPLITS[0] if u < FRACTIONS[0] else SPLITS[1] if u < sum(FRACTIONS) else SPLITS[2]


def seeded_order(keys: Iterable[str], seed: int) -> list[str]:
  """``keys`` in an order fixed by ``seed``, so a capped split is a seeded random subset."""
  return sorted(keys, key=lambda k: stable_hash(seed, k))


def synthetic_indices(split: str, num_items: int) -> range:
  """The synthetic item indices of ``split``: its own range of ``num_items``."""
  if not 0 < num_items <= SYNTHETIC_STRIDE:
    raise ValueError(f'num_items={num_items}: the synthetic source needs 1..{SYNTHETIC_STRIDE}')
  start = SPLITS.index(split) * SYNTHETIC_STRIDE
  return range(start, start + num_items)


def tfds_refs(name: str, sizes: dict[str, int], split: str) -> list[str]:
  """'tfds_split:index' refs of ``split`` of TFDS dataset ``name`` with split ``sizes``.

  The dataset's own split when it has one (by name prefix: train*, validation*/valid*/dev*,
  test*), else a hash share of its train splits.
  """
  roles = {
    role: sorted(k for k in sizes if k.startswith(prefixes))
    for role, prefixes in _TFDS_ROLE_PREFIXES.items()
  }
  if not roles['train']:  # no train split: hash-split every example
    roles = {'train': sorted(sizes), 'validation': [], 'test': []}

  def destination(ref: str) -> str:  # of a train example: its hash bucket if the dataset
    b = bucket(f'{name}/{ref}')  # lacks that split, else train
    return b if not roles[b] else 'train'

  if split != 'train' and roles[split]:
    return [f'{k}:{i}' for k in roles[split] for i in range(sizes[k])]
  return [
    r
    for r in (f'{k}:{i}' for k in roles['train'] for i in range(sizes[k]))
    if destination(r) == split
  ]
