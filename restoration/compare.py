"""The comparison pipeline behind ``make demo``: train every method on one dataset, evaluate
each on the same test split and real recordings, and write the report.

Writes into ``out``: one workdir per method (so ``restore``, ``evaluate`` and the notebooks can
load each), ``report.md`` (the study's comparison table with measured rows),
``spectrograms.png`` (clean / degraded / each method on one test clip), ``examples/*.wav`` and
``real_recordings.json``. Re-running resumes: finished trainings are not repeated (their
checkpoints are final) and evaluations are recomputed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence

import numpy as np

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
  real_results = score_real_recordings(out, methods, steps=steps) if real else None
  figure = write_figure_and_examples(out, methods, steps=steps)
  timings['total_seconds'] = time.time() - start
  report.write_demo_report(out, methods, evals, real_results, timings, figure)
  log.info(
    'compare: done in %.0f s; report at %s',
    timings['total_seconds'],
    os.path.join(out, 'report.md'),
  )
  return {'evals': evals, 'real': real_results, 'timings': timings}


def score_real_recordings(
  out: str,
  methods: Sequence[str],
  bitrates=(16, 24, 32),
  max_seconds: float = 8.0,
  steps: Mapping[str, int | None] | None = None,
  sources: Sequence | None = None,
) -> dict | None:
  """Real speech and music (never trained on), MP3 at ``bitrates``: each method vs the input.
  ``steps`` picks a diffusion step count per method (default: the config's); ``sources``
  defaults to ``real_audio.REAL_SOURCES``. None, with a warning, when their packages are not
  installed: the program never installs them, ``make real-audio`` does."""
  from restoration.data import codecs
  from restoration.evaluate import metrics, real_audio

  sources = real_audio.REAL_SOURCES if sources is None else sources
  missing = real_audio.missing_packages(sources)
  if missing:
    log.warning(
      'real recordings skipped: Debian packages %s are not installed (run `make real-audio` '
      'as root)',
      ' '.join(missing),
    )
    return None
  restorers = _restorers(out, methods, steps)
  sr = next(iter(restorers.values())).sample_rate
  clips = real_audio.load_real_clips(sr, max_seconds=max_seconds, sources=sources)
  scores: dict = {}
  for clip in clips:
    for kbps in bitrates:
      degraded = codecs.degrade(clip['wave'], sr, 'mp3', kbps)
      rows = {'input': degraded}
      rows.update({m: r.restore_array(degraded, sr) for m, r in restorers.items()})
      for name, est in rows.items():
        m = metrics.compute_all(clip['wave'], est, sr, optional=False)
        for group in (f'{clip["kind"]} mp3:{kbps}', clip['kind'], 'all'):
          scores.setdefault(group, {}).setdefault(name, []).append(m)
  result = {
    'clips': [
      {'name': c['name'], 'kind': c['kind'], 'seconds': len(c['wave']) / sr} for c in clips
    ],
    'bitrates': list(bitrates),
    'scores': {g: {n: metrics.aggregate(v) for n, v in rows.items()} for g, rows in scores.items()},
  }
  with open(os.path.join(out, 'real_recordings.json'), 'w') as f:
    json.dump(result, f, indent=2, default=lambda x: None)
  return result


def _restorers(out: str, methods: Sequence[str], steps: Mapping[str, int | None] | None):
  from restoration.inference import Restorer

  return {m: Restorer(os.path.join(out, m), steps=(steps or {}).get(m)) for m in methods}


def write_figure_and_examples(
  out: str,
  methods: Sequence[str],
  degradation: str | None = None,
  steps: Mapping[str, int | None] | None = None,
) -> str:
  """spectrograms.png and examples/*.wav for one test clip at the lowest bitrate (diffusion at
  ``steps[method]`` sampler steps, default the config's)."""
  from restoration.data import audio
  from restoration.data import builder as builder_lib
  from restoration.evaluate.figures import spectrogram_figure

  restorers = _restorers(out, methods, steps)
  cfg = next(iter(restorers.values())).config
  sr = int(cfg.data.sample_rate)
  degs = list(cfg.data.degradations)
  degradation = degradation or min(degs, key=lambda d: float(d.split(':')[1]))
  ex = builder_lib.get_builder(cfg.data).as_data_source('test')[0]
  clean = ex['clean'][:, 0].astype(np.float32) / 32768
  degraded = ex['degraded'][degs.index(degradation), :, 0].astype(np.float32) / 32768
  panels = {'clean': clean, f'degraded ({degradation})': degraded}
  panels.update({m: r.restore_array(degraded, sr) for m, r in restorers.items()})
  os.makedirs(os.path.join(out, 'examples'), exist_ok=True)
  for name, wave in panels.items():
    audio.save(os.path.join(out, 'examples', name.split(' ')[0] + '.wav'), wave, sr)
  path = os.path.join(out, 'spectrograms.png')
  key = ex['key'].decode() if isinstance(ex['key'], bytes) else ex['key']
  spectrogram_figure(panels, sr, path, title=f'test clip {key} ({degradation})')
  return path
