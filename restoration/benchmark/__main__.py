"""``python -m restoration.benchmark --config=... [--workdirs=...] --json=OUT``: flags only; the
measurements are ``restoration.benchmark``'s (see its docstring for the sections)."""

from __future__ import annotations

import json

from absl import app, flags
from ml_collections import config_flags

from restoration.benchmark import run
from restoration.cli import flags_parser

_CONFIG = config_flags.DEFINE_config_file(
  'config', None, 'configs/<method>.py:<size> (for the input, train and flops sections)'
)
_WORKDIRS = flags.DEFINE_list(
  'workdirs',
  [],
  'Trained runs for the restore and folder sections, e.g. runs/demo/regression,runs/demo/gan.',
)
_LONG_MINUTES = flags.DEFINE_integer(
  'long_minutes',
  10,
  'Length of the long file whose restore peak memory is measured (restore section).',
)
_JSON = flags.DEFINE_string('json', None, 'Write the numbers to this JSON file.')
_SECTIONS = flags.DEFINE_list(
  'sections',
  ['input', 'train', 'flops', 'restore'],
  'What to measure: input, train, flops (need --config), restore, folder (need --workdirs).',
)
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed batches/steps per section (after warm-up).')
_PROFILE = flags.DEFINE_string(
  'profile', None, 'Write a jax.profiler trace of a few train steps to this directory.'
)


def main(argv) -> None:
  del argv
  sections = set(_SECTIONS.value)
  if _CONFIG.value is None and sections - {'restore', 'folder'}:
    sections &= {'restore', 'folder'}
    if not _WORKDIRS.value:
      raise app.UsageError(
        'nothing to measure: pass --config=configs/<method>.py:<size> '
        '(input, train, flops) and/or --workdirs=RUN[,RUN...] (restore, folder)'
      )
  from restoration.errors import UserError, exit_with

  try:
    results = run(
      _CONFIG.value,
      sections,
      _STEPS.value,
      _WORKDIRS.value,
      _LONG_MINUTES.value,
      _PROFILE.value,
    )
  except UserError as e:
    exit_with('benchmark', e)
  text = json.dumps(results, indent=2, sort_keys=True)
  print(text)
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  app.run(main, flags_parser=flags_parser('benchmark'))
