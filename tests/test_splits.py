"""Split assignment: stable hashes, 80/10/10 buckets, TFDS datasets with and without splits."""

import pytest

from restoration.data import splits


def test_buckets_are_stable_and_about_80_10_10():
  keys = [f'clip{i}.wav' for i in range(4000)]
  buckets = [splits.bucket(k) for k in keys]
  shares = [buckets.count(s) / len(keys) for s in splits.SPLITS]
  assert abs(shares[0] - 0.8) < 0.03 and abs(shares[1] - 0.1) < 0.02, shares
  assert splits.stable_hash('a', 1) == splits.stable_hash('a', 1) != splits.stable_hash('a', 2)
  assert splits.seeded_order(keys, 0) != splits.seeded_order(keys, 1)
  assert sorted(splits.seeded_order(keys, 0)) == sorted(keys)


def test_synthetic_indices_of_splits_are_disjoint():
  ranges = [set(splits.synthetic_indices(s, 100)) for s in splits.SPLITS]
  assert all(len(r) == 100 for r in ranges)
  assert not (ranges[0] & ranges[1] or ranges[0] & ranges[2] or ranges[1] & ranges[2])
  with pytest.raises(ValueError, match='num_items'):
    splits.synthetic_indices('train', 0)
  with pytest.raises(ValueError, match='split'):
    splits.check('dev')


@pytest.mark.parametrize(
  'sizes',
  [
    {'train': 50, 'test': 7},  # no validation: a hash share of train
    {'train': 30, 'dev': 5, 'test': 4},  # every split of its own
    {'all': 60},  # no train split: every split is a hash share
  ],
)
def test_tfds_refs_cover_every_example_once(sizes):
  refs = {s: splits.tfds_refs('ds', sizes, s) for s in splits.SPLITS}
  every = sorted(r for rs in refs.values() for r in rs)
  assert every == sorted(f'{k}:{i}' for k, n in sizes.items() for i in range(n))
  if 'test' in sizes:
    assert sorted(refs['test']) == sorted(f'test:{i}' for i in range(sizes['test']))
  if 'dev' in sizes:
    assert sorted(refs['validation']) == sorted(f'dev:{i}' for i in range(sizes['dev']))
  assert all(refs[s] for s in splits.SPLITS)
