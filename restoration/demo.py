"""The main job (``make demo``): train every method on the embedded corpus, evaluate, report.

Flags only; the pipeline is :func:`restoration.compare.run` (outputs described there).
"""

from __future__ import annotations

import logging

from absl import app, flags

_OUT = flags.DEFINE_string('out', 'runs/demo', 'Output directory.')
_SIZE = flags.DEFINE_enum('size', 'demo', ['smoke', 'demo', 'base', 'large'], 'Config size.')
_METHODS = flags.DEFINE_list(
  'methods',
  ['regression', 'gan', 'wgan', 'projected_gan', 'diffusion'],
  'Methods to train and compare (configs/<method>.py each).',
)
_WARM_START = flags.DEFINE_list(
  'warm_start',
  [],
  'method:source pairs, e.g. gan:regression: the method starts from the source run '
  '(train.init_from). Not the default yet: fine-tuned at demo size, the critic loss stays at '
  'chance.',
)
_EQUAL_BUDGET = flags.DEFINE_bool(
  'equal_budget', False, 'With --warm_start: add the regression run continued for as long.'
)
_DATA_DIR = flags.DEFINE_string('data_dir', 'data/tfds', 'Where the prepared dataset lives.')
_REAL = flags.DEFINE_bool('real', True, 'Also score real recordings (`make real-audio`).')
_OPTIONAL = flags.DEFINE_bool(
  'optional_metrics', False, 'Also PESQ/STOI/ViSQOL in the evaluation (slow on 2 cores).'
)


def main(argv) -> None:
  del argv
  logging.getLogger('restoration').setLevel(logging.INFO)
  from restoration import compare
  from restoration.errors import UserError, exit_with

  try:
    pairs = [p.split(':') for p in _WARM_START.value if p]
    if any(len(p) != 2 for p in pairs):
      raise UserError(f'--warm_start={",".join(_WARM_START.value)}: expected method:source pairs')
    compare.run(
      _OUT.value,
      _SIZE.value,
      _METHODS.value,
      _DATA_DIR.value,
      _REAL.value,
      _OPTIONAL.value,
      warm_start=dict(pairs),
      equal_budget=_EQUAL_BUDGET.value,
    )
  except UserError as e:
    exit_with('demo', e)


if __name__ == '__main__':
  app.run(main)
