"""The study behind ``make study``: the parts of the paper's Table 1 that one run per method
cannot show (stability across seeds and learning rates, noise handling, learning curves,
diversity), measured for every registered restoring method.

Per method: seeds :data:`SEEDS` at the configured learning rate and one run (seed 0) at each of
:data:`LR_SCALES` times it (every learning rate of the run, the critic's too), at the ``study``
preset (a quarter of the demo's compute per run; ``restoration.config.PRESETS``). The GANs
fine-tune the regression run of the same seed (the demo's recipe, ``finetune`` preset); a
method that ``starts_from`` another gets that run. One extra GAN with a noise input
(:data:`STOCHASTIC`) is trained for the diversity row. Then every run is scored on the same
test items, the seed-0 runs on noisy inputs (``study.noise``) and across sampling seeds
(``study.diversity``), and ``study.report`` writes ``study.md``, ``study.json`` and
``learning_curves.png``.

Re-running resumes: a finished training is not repeated, an evaluation of the same checkpoint
is read back, and a run that stopped part-way continues from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence

import numpy as np

from restoration import checkpoint
from restoration import plan as run_plan
from restoration.config import load_config, set_field
from restoration.data.spec import read_item
from restoration.errors import ConfigError

log = logging.getLogger('restoration')

SEEDS = (0, 1, 2)
LR_SCALES = (0.5, 2.0)
# The stochastic generator of the diversity row: a GAN whose U-Net also reads N(0, 1) channels
# (Lattner & Nistal 2021). Trained from scratch: the extra input channel changes the first
# layer's shape, so the regression weights do not fit it.
STOCHASTIC = 'gan_stochastic'
STOCHASTIC_FIELDS = {'model.noise_channels': 1}


def default_methods() -> list[str]:
  """Every registered method that restores audio (not the feature pretraining), regression
  first since others start from it."""
  from restoration import methods as methods_lib

  names = [m for m in methods_lib.names() if methods_lib.get(m).restores]
  return sorted(names, key=lambda m: m != 'regression')


def plan(
  methods: Sequence[str],
  warm_start: Mapping[str, str] | None = None,
  seeds: Sequence[int] = SEEDS,
  lr_scales: Sequence[float] = LR_SCALES,
) -> list[run_plan.Run]:
  """The runs, each after the run it starts from (``warm_start`` default: the demo's recipe,
  ``plan.WARM_START``)."""
  starts = run_plan.sources(methods, run_plan.WARM_START if warm_start is None else warm_start)
  runs = []
  for m in methods:
    source, fine_tunes = starts.get(m, (None, False))
    for s in seeds:
      from_run = source and f'{source}/seed={s}'
      runs.append(run_plan.Run(f'{m}/seed={s}', m, seed=s, source=from_run, fine_tunes=fine_tunes))
    for scale in lr_scales:
      from_run = source and f'{source}/seed=0'
      runs.append(
        run_plan.Run(
          f'{m}/lr={scale:g}x', m, lr_scale=scale, source=from_run, fine_tunes=fine_tunes
        )
      )
  if 'gan' in methods:
    runs.append(
      run_plan.Run(f'{STOCHASTIC}/seed=0', 'gan', fields=tuple(STOCHASTIC_FIELDS.items()))
    )
  return run_plan.order(runs)


def _evaluate(config, workdir: str, max_items: int) -> dict:
  """The run's test-split scores at its configured sampler steps; read back when the same
  checkpoint was scored before (a re-run)."""
  from restoration.evaluate import evaluate

  path = os.path.join(workdir, 'eval', 'metrics.json')
  step = checkpoint.latest_step(workdir)
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    if saved.get('checkpoint_step') == step and saved.get('num_clips') == max_items:
      return saved
  return evaluate.evaluate_workdir(
    workdir,
    config=config,
    checkpoint='latest',
    steps_list=[config.sampling.steps],
    max_items=max_items,
    optional_metrics=False,
    perceptual_items=0,
  )


def _test_clips(config, count: int, degradation: str) -> tuple[list, list]:
  """The first ``count`` test items: clean mono waves, and the same at ``degradation``."""
  from restoration.data import builder as builder_lib

  source = builder_lib.get_builder(config.data).as_data_source('test')
  index = list(config.data.degradations).index(degradation)
  items = [source[i] for i in range(min(count, len(source)))]
  clean, degraded = zip(*(read_item(it, index, channel=0) for it in items))
  return list(clean), list(degraded)


def _commit() -> str | None:
  """The checkout's commit, for the report (None outside a git checkout)."""
  import subprocess

  here = os.path.dirname(os.path.abspath(__file__))
  try:
    done = subprocess.run(
      ['git', '-C', here, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True
    )
  except OSError:
    return None
  return done.stdout.strip() or None


def run(
  out: str,
  size: str = 'demo',
  methods: Sequence[str] | None = None,
  data_dir: str = 'data/tfds',
  eval_items: int = 16,
  noise_items: int = 8,
  diversity_items: int = 4,
  diversity_seeds: Sequence[int] = (0, 1, 2, 3),
  seeds: Sequence[int] = SEEDS,
  lr_scales: Sequence[float] = LR_SCALES,
) -> dict:
  """Trains every run of :func:`plan`, scores them, writes the study report into ``out``.

  ``eval_items`` test items (every degradation) score each run; the first ``noise_items``
  feed the noise rows and ``diversity_items`` (at the lowest-bitrate MP3) the diversity row,
  on each method's seed-0 run.
  """
  from restoration.data import builder as builder_lib
  from restoration.evaluate import evaluate
  from restoration.inference import Restorer
  from restoration.study import diversity, noise, report

  methods = list(methods or default_methods())
  runs = plan(methods, seeds=seeds, lr_scales=lr_scales)
  os.makedirs(out, exist_ok=True)
  start = time.time()
  configs = {r.name: run_plan.config(r, size, data_dir, out, presets=('study',)) for r in runs}
  builder_lib.prepare(configs[runs[0].name].data)
  status = run_plan.train_missing(runs, configs, out, label='study', keep_going=True)
  if any(s['status'] == 'stopped' for s in status.values()):  # preempted: a re-run continues
    return {'status': status}
  seconds = {'train': time.time() - start}
  t = time.time()
  evals = {
    r.name: _evaluate(configs[r.name], os.path.join(out, r.name), eval_items)
    for r in runs
    if status[r.name]['status'] in run_plan.TRAINED
  }
  seconds['evaluate'] = time.time() - t
  t = time.time()
  first = configs[runs[0].name]
  degradation, _ = evaluate.damage_degradation(list(first.data.degradations))
  sr = int(first.data.sample_rate)
  clean, degraded = _test_clips(first, max(noise_items, diversity_items), degradation)
  heads = [r for r in runs if r.seed == 0 and r.lr_scale == 1.0 and r.name in evals]
  restorers = {r.group: Restorer(os.path.join(out, r.name), checkpoint='latest') for r in heads}
  noise_scores = noise.evaluate_noise(
    {g: r for g, r in restorers.items() if g != STOCHASTIC},
    clean[:noise_items],
    sr,
    degradation=degradation,
  )
  seconds['noise'] = time.time() - t
  t = time.time()
  spread = {
    g: diversity.output_spread(r, degraded[:diversity_items], seeds=diversity_seeds)
    for g, r in restorers.items()
  }
  seconds['diversity'] = time.time() - t
  seconds['total'] = time.time() - start
  result = {
    'size': size,
    'commit': _commit(),
    'methods': methods,
    'seeds': list(seeds),
    'lr_scales': list(lr_scales),
    'runs': [dataclasses.asdict(r) for r in runs],
    'status': status,
    'evals': {n: report.eval_summary(e) for n, e in evals.items()},
    'noise': noise_scores,
    'diversity': spread,
    'seconds': seconds,
  }
  report.write(out, result, runs)
  log.info('study: done in %.0f s; report at %s', seconds['total'], os.path.join(out, 'study.md'))
  return result
