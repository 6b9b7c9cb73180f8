"""The main job (``make demo``): train every method on the embedded corpus, evaluate, report.

Flags only; the pipeline is :func:`restoration.compare.run` (outputs described there).
"""

from __future__ import annotations

import logging

from absl import app, flags

from restoration.config import SIZES
from restoration.plan import WARM_START

_OUT = flags.DEFINE_string('out', 'runs/demo', 'Output directory.')
_SIZE = flags.DEFINE_enum('size', 'demo', list(SIZES), 'Config size.')
_METHODS = flags.DEFINE_list(
  'methods',
  ['regression', 'gan', 'wgan', 'projected_gan', 'predictive_bridge', 'vocoder'],
  'Methods to train and compare (configs/<method>.py each); e.g. add diffusion and bridge '
  '(trained from scratch).',
)
_WARM_START = flags.DEFINE_list(
  'warm_start',
  [f'{m}:{s}' for m, s in WARM_START.items()],
  "method:source pairs: the method fine-tunes the source run's main network "
  '(train.init_from, the finetune preset; default: the recipe of restoration.plan). Empty: '
  'every method trains from scratch.',
)
_EQUAL_BUDGET = flags.DEFINE_bool(
  'equal_budget',
  True,
  'With warm starts: add the regression run continued for as long as the longest one took.',
)
_FULL_BAND = flags.DEFINE_list(
  'full_band',
  ['regression', 'projected_gan', 'predictive_bridge'],
  'Methods also trained on 44.1 kHz stereo music (the music44k preset, runs in <out>/music44k, '
  'same warm starts) and scored on real music at MP3 64/128 and Opus 48/96. Empty: none.',
)
_DATA_DIR = flags.DEFINE_string('data_dir', 'data/tfds', 'Where the prepared dataset lives.')
_REAL = flags.DEFINE_bool('real', True, 'Also score real recordings (`make real-audio`).')
_OPTIONAL = flags.DEFINE_bool(
  'optional_metrics', False, 'Also PESQ/STOI/ViSQOL in the evaluation (slow on 2 cores).'
)


def main(argv) -> None:
  del argv
  logging.getLogger('restoration').setLevel(logging.INFO)
  import os

  import restoration
  from restoration import compare
  from restoration.errors import UserError, exit_with

  # Evaluation, the real recordings and the figure compile the same restorers again.
  restoration.use_compilation_cache(os.path.join(_OUT.value, 'jax_cache'))
  try:
    pairs = [p.split(':') for p in _WARM_START.value if p]
    if any(len(p) != 2 or not all(p) for p in pairs):
      raise UserError(f'--warm_start={",".join(_WARM_START.value)}: expected method:source pairs')
    if not flags.FLAGS['warm_start'].present:  # the defaults, for the methods that run
      pairs = [
        (m, s)
        for m, s in pairs
        if any(m in group and s in group for group in (_METHODS.value, _FULL_BAND.value))
      ]
    compare.run(
      _OUT.value,
      _SIZE.value,
      _METHODS.value,
      _DATA_DIR.value,
      _REAL.value,
      _OPTIONAL.value,
      warm_start=dict(pairs),
      equal_budget=_EQUAL_BUDGET.value,
      full_band=[m for m in _FULL_BAND.value if m],
    )
  except UserError as e:
    exit_with('demo', e)


if __name__ == '__main__':
  app.run(main)
