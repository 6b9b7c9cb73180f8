"""The comparison pipeline behind ``make demo``: train every method on one dataset, evaluate
each on the same test split and real recordings, and write the report.

Writes into ``out``: one workdir per method (so ``restore``, ``evaluate`` and the notebooks can
load each), ``report.md`` (the study's comparison table with measured rows),
``spectrograms.png`` (clean / degraded / each method on one test clip), ``examples/*.wav`` and
``real_recordings.json``. Re-running resumes: finished trainings are not repeated (their
checkpoints are final) and evaluations are recomputed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

from restoration.config import load_config

log = logging.getLogger('restoration')


def run(
  out: str,
  size: str,
  methods: Sequence[str],
  data_dir: str,
  real: bool,
  optional_metrics: bool = False,
) -> dict:
  """Trains, evaluates and reports ``methods`` (configs/<method>.py at ``size``)."""
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
  log.info('compare: dataset ready in %.0f s', timings['prepare_seconds'])
  for m in methods:
    t = time.time()
    log.info('compare: training %s (%d steps)', m, configs[m].train.num_steps)
    last = loop.train_and_evaluate(configs[m], os.path.join(out, m))
    timings[f'train_{m}_seconds'] = time.time() - t
    if last['step'] < configs[m].train.num_steps:  # preempted (SIGTERM): saved, stop here
      log.info('compare: stopped during %s at step %d; re-run to continue', m, last['step'])
      return {'timings': timings}
  evals = {}
  for m in methods:
    t = time.time()
    evals[m] = evaluate.evaluate_workdir(
      os.path.join(out, m), config=configs[m], optional_metrics=optional_metrics
    )
    timings[f'evaluate_{m}_seconds'] = time.time() - t
  steps = report.best_steps(evals)
  real_results = report.score_real_recordings(out, methods, steps=steps) if real else None
  figure = report.write_figure_and_examples(out, methods, steps=steps)
  timings['total_seconds'] = time.time() - start
  report.write_demo_report(out, methods, evals, real_results, timings, figure)
  log.info(
    'compare: done in %.0f s; report at %s',
    timings['total_seconds'],
    os.path.join(out, 'report.md'),
  )
  return {'evals': evals, 'real': real_results, 'timings': timings}
