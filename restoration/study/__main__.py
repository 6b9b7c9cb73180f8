"""``python -m restoration.study`` (``make study``): flags only; the pipeline and what it
writes are :func:`restoration.study.run`'s."""

from __future__ import annotations

import logging
import os

from absl import app, flags

from restoration.config import SIZES

_OUT = flags.DEFINE_string('out', 'runs/study', 'Output directory (re-running resumes).')
_SIZE = flags.DEFINE_enum('size', 'demo', list(SIZES), 'Config size.')
_METHODS = flags.DEFINE_list(
  'methods', [], 'Methods to study (configs/<method>.py each); empty: every restoring method.'
)
_DATA_DIR = flags.DEFINE_string('data_dir', 'data/tfds', 'Where the prepared dataset lives.')
_EVAL_ITEMS = flags.DEFINE_integer('eval_items', 16, 'Test items scored per run.')


def main(argv) -> None:
  del argv
  logging.getLogger('restoration').setLevel(logging.INFO)
  import restoration
  from restoration import study
  from restoration.errors import UserError, exit_with

  restoration.use_compilation_cache(os.path.join(_OUT.value, 'jax_cache'))
  try:
    study.run(
      _OUT.value,
      _SIZE.value,
      _METHODS.value or None,
      _DATA_DIR.value,
      eval_items=_EVAL_ITEMS.value,
    )
  except UserError as e:
    exit_with('study', e)


if __name__ == '__main__':
  app.run(main)
