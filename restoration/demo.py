"""The main job (``make demo``): train every method on the embedded corpus, evaluate, report.

Writes into ``--out`` (default ``runs/demo``): one workdir per method (so ``restore``,
``evaluate`` and the notebooks can load each), ``report.md`` (the study's comparison table with
measured rows), ``spectrograms.png`` (clean / degraded / each method on one test clip),
``examples/*.wav`` and ``real_recordings.json``. Re-running resumes: finished trainings are
not repeated (their checkpoints are final) and evaluations are recomputed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path

from absl import app, flags

_OUT = flags.DEFINE_string('out', 'runs/demo', 'Output directory.')
_SIZE = flags.DEFINE_enum('size', 'demo', ['smoke', 'demo', 'base', 'large'], 'Config size.')
_METHODS = flags.DEFINE_list(
  'methods',
  ['regression', 'gan', 'wgan', 'projected_gan', 'diffusion'],
  'Methods to train and compare.',
)
_DATA_DIR = flags.DEFINE_string('data_dir', 'data/tfds', 'Where the prepared dataset lives.')
_REAL = flags.DEFINE_bool('real', True, 'Also score real recordings (installs them if needed).')
_OPTIONAL = flags.DEFINE_bool(
  'optional_metrics', False, 'Also PESQ/STOI/ViSQOL in the evaluation (slow on 2 cores).'
)

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
log = logging.getLogger('restoration')


def load_config(method: str, size: str):
  """``configs/<method>.py``'s ``get_config(size)``."""
  spec = importlib.util.spec_from_file_location(f'configs.{method}', CONFIG_DIR / f'{method}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(size)


def run(
  out: str, size: str, methods: list[str], data_dir: str, real: bool, optional_metrics: bool = False
) -> dict:
  from restoration.data import builder as builder_lib
  from restoration.evaluate import evaluate, report
  from restoration.train import loop

  os.makedirs(out, exist_ok=True)
  timings = {}
  start = time.time()
  configs = {}
  for m in methods:
    configs[m] = load_config(m, size)
    configs[m].data.data_dir = data_dir
  t = time.time()
  builder_lib.prepare(configs[methods[0]].data)
  timings['prepare_seconds'] = time.time() - t
  log.info('demo: dataset ready in %.0f s', timings['prepare_seconds'])
  for m in methods:
    t = time.time()
    log.info('demo: training %s (%d steps)', m, configs[m].train.num_steps)
    last = loop.train_and_evaluate(configs[m], os.path.join(out, m))
    timings[f'train_{m}_seconds'] = time.time() - t
    if last['step'] < configs[m].train.num_steps:  # preempted (SIGTERM): saved, stop here
      log.info('demo: stopped during %s at step %d; re-run to continue', m, last['step'])
      return {'timings': timings}
  evals = {}
  for m in methods:
    t = time.time()
    evals[m] = evaluate.evaluate_workdir(
      os.path.join(out, m), config=configs[m], optional_metrics=optional_metrics
    )
    timings[f'evaluate_{m}_seconds'] = time.time() - t
  real_results = (
    report.score_real_recordings(out, methods, steps=report.best_steps(evals)) if real else None
  )
  timings['total_seconds'] = time.time() - start
  report.write_demo_report(out, methods, evals, real_results, timings)
  log.info(
    'demo: done in %.0f s; report at %s', timings['total_seconds'], os.path.join(out, 'report.md')
  )
  return {'evals': evals, 'real': real_results, 'timings': timings}


def main(argv) -> None:
  del argv
  logging.getLogger('restoration').setLevel(logging.INFO)
  run(_OUT.value, _SIZE.value, _METHODS.value, _DATA_DIR.value, _REAL.value, _OPTIONAL.value)


if __name__ == '__main__':
  app.run(main)
