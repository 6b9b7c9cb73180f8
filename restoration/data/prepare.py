"""Prepares the pairs dataset of a config: ``python -m restoration.data.prepare --config=...``.

A no-op when the dataset is already prepared. Codec work runs on every core.
"""

from __future__ import annotations

import time

from absl import app, flags
from ml_collections import config_flags

from restoration.cli import flags_parser

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Run config file (configs/<x>.py:size).')


def main(argv) -> None:
  del argv
  from restoration import config as config_lib
  from restoration.data import builder as builder_lib
  from restoration.data.splits import SPLITS
  from restoration.errors import UserError, exit_with

  config = _CONFIG.value
  start = time.time()
  try:
    config_lib.validate(config)
    b = builder_lib.prepare(config.data)
  except UserError as e:
    exit_with('prepare', e)
  info = b.info
  sizes = {s: info.splits[s].num_examples for s in SPLITS}
  print(
    f'dataset {b.builder_config.name} at {b.data_dir}: {sizes} examples, '
    f'degradations {list(b.builder_config.spec.degradations)} '
    f'({time.time() - start:.1f} s)'
  )


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main, flags_parser=flags_parser('prepare'))
