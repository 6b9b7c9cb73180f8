"""Entry point: ``python -m restoration.main --config=configs/<method>.py:<size> --workdir=DIR``.

Same command on every host of a multi-host job. Re-running it resumes from the latest
checkpoint in DIR. ``--mode=evaluate`` scores the latest (or best) checkpoint instead.
"""

from __future__ import annotations

import logging

from absl import app, flags
from ml_collections import config_flags

from restoration.cli import flags_parser
from restoration.errors import UserError, exit_with

_CONFIG = config_flags.DEFINE_config_file('config', None, 'configs/<method>.py:<size>')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (checkpoints, TensorBoard, eval).')
_MODE = flags.DEFINE_enum('mode', 'train', ['train', 'evaluate'], 'What to do.')


def main(argv) -> None:
  del argv
  logging.getLogger('restoration').setLevel(logging.INFO)
  try:
    if _MODE.value == 'train':
      from restoration.train import loop

      loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    else:
      from restoration.evaluate import evaluate

      evaluate.evaluate_workdir(_WORKDIR.value, config=_CONFIG.value)
  except UserError as e:
    exit_with('main', e)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main, flags_parser=flags_parser('main'))
