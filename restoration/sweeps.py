"""A folder of runs read back: which runs it holds, and a sweep's summary (its runs as a table
sorted by their validation metric, and their learning curves).

Runs are found by what training wrote, not by name: a run is a directory with a checkpoint
(its config saved beside it), so the demo's methods, its equal-budget run and a sweep's
``name=value`` folders are all found the same way. ``launch/sweep.py --mode=summary`` and the
notebooks call this module; nothing here loads a model.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from restoration import records

# Table order of the method families: the baseline first, then the methods measured against it.
FAMILY_ORDER = ('regression', 'GAN', 'diffusion', 'bridge')


@dataclasses.dataclass(frozen=True)
class Run:
  """One run's facts for the summary: ``curve`` holds its validation points (``step``,
  ``seconds``: training wall time so far, warm start included, and the scores)."""

  name: str
  workdir: str
  config: ml_collections.ConfigDict
  steps_done: int
  wall_seconds: float
  curve: list[dict]


def _saved(workdir: str) -> tuple[ml_collections.ConfigDict, int] | None:
  """``(config, step)`` of the run's latest checkpoint (the config upgraded to today's layout),
  read in one opening; None when ``workdir`` holds no checkpoint."""
  from restoration import checkpoint
  from restoration import config as config_lib
  from restoration.errors import NoCheckpointError

  try:
    with checkpoint.open_run(workdir) as ckpt:
      step = ckpt.latest_step()
      return config_lib.upgrade(ckpt.saved_config(step)), step
  except NoCheckpointError:
    return None


def _family_key(config: ml_collections.ConfigDict, name: str) -> tuple:
  from restoration import methods

  family = methods.get(config.method).family
  rank = FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
  return rank, family, name


def find_runs(folder: str) -> list[str]:
  """The names of ``folder``'s subdirectories that hold a trained restorer (a checkpoint of a
  method that restores), ordered by family (:data:`FAMILY_ORDER`) then name."""
  if not os.path.isdir(folder):
    raise FileNotFoundError(f'{folder}: no such folder of runs')
  from restoration import methods

  found = {}
  for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    if os.path.isdir(path) and (saved := _saved(path)) is not None:
      if methods.get(saved[0].method).restores:
        found[name] = saved[0]
  return sorted(found, key=lambda name: _family_key(found[name], name))


def run_folders(root: str) -> dict[str, list[str]]:
  """``{folder: find_runs(folder)}`` for ``root`` and each subfolder of it that holds runs
  (the demo's full-band models sit in ``<out>/music44k``): one comparison per folder, since
  runs in different folders may be trained and tested on different data."""
  folders = {root: find_runs(root)}
  for name in sorted(os.listdir(root)):
    path = os.path.join(root, name)
    if name not in folders[root] and os.path.isdir(path) and (runs := find_runs(path)):
      folders[path] = runs
  return {folder: runs for folder, runs in folders.items() if runs}


def _logged(workdir: str) -> tuple[float, list[dict]]:
  """``(own wall seconds, learning curve with every validation score)`` from the run's record
  (:mod:`restoration.records`)."""
  segments = records.read(workdir)
  return records.budget(segments).own.wall_seconds, records.curve(segments)


def read_run(workdir: str) -> Run | None:
  """The run in ``workdir``, or None when it holds no checkpoint yet (not started)."""
  saved = _saved(workdir)
  if saved is None:
    return None
  config, step = saved
  wall_seconds, curve = _logged(workdir)
  return Run(
    name=os.path.basename(os.path.normpath(workdir)),
    workdir=workdir,
    config=config,
    steps_done=step,
    wall_seconds=wall_seconds,
    curve=curve,
  )


def _flat(d: Mapping, prefix: str = '') -> dict[str, Any]:
  flat = {}
  for key, value in d.items():
    if isinstance(value, Mapping):
      flat.update(_flat(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def varied_fields(runs: Sequence[Run]) -> list[str]:
  """The dotted config fields whose values differ between ``runs`` (what the sweep varied)."""
  flats = [_flat(r.config.to_dict()) for r in runs]
  keys = list(dict.fromkeys(k for f in flats for k in f))
  return [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1]


def validation_metric(runs: Sequence[Run]) -> str:
  """The runs' shared ``train.best_metric`` (what their best checkpoint is chosen by)."""
  names = {r.config.train.best_metric for r in runs}
  if len(names) != 1:
    raise ValueError(f'runs differ in train.best_metric ({", ".join(sorted(names))}); pass metric')
  return names.pop()


def best_point(run: Run, metric: str) -> dict | None:
  """The run's validation point with the lowest ``metric`` (the checkpointer keeps the
  minimum as best); None before its first logged validation."""
  points = [p for p in run.curve if metric in p]
  if run.curve and not points:
    raise ValueError(
      f'{run.workdir}: validation metric {metric!r} is not in its learning curve '
      f'(has {", ".join(k for k in run.curve[0] if k not in ("step", "seconds"))})'
    )
  return min(points, key=lambda p: p[metric], default=None)


def summarize(
  workdirs: Sequence[str], metric: str | None = None
) -> tuple[list[Run], list[str], str]:
  """``(runs sorted by their best validation metric, not yet validated last, workdirs holding no
  checkpoint yet, metric)``; ``metric`` defaults to the runs' ``train.best_metric``."""
  runs = {workdir: read_run(workdir) for workdir in workdirs}
  pending = [workdir for workdir, run in runs.items() if run is None]
  runs = [run for run in runs.values() if run is not None]
  if not runs:
    where = os.path.commonpath(workdirs) if workdirs else 'summarize'
    raise FileNotFoundError(
      f'{where}: none of the {len(workdirs)} run workdirs has a checkpoint yet'
    )
  metric = metric or validation_metric(runs)

  def key(run: Run) -> tuple:
    best = best_point(run, metric)
    return (best is None, best[metric] if best else 0.0, run.name)

  return sorted(runs, key=key), pending, metric


def _cell(value: Any) -> str:
  if isinstance(value, float):
    return f'{value:.4g}' if math.isfinite(value) else '–'
  return str(value).replace('|', '/')


def table(runs: Sequence[Run], metric: str, columns: Sequence[str] | None = None) -> list[str]:
  """Markdown lines: one row per run in the given order, the ``columns`` (dotted config fields;
  default :func:`varied_fields`), the best validation ``metric`` and its step, steps done of
  ``train.num_steps``, training wall time (all segments of a resumed run)."""
  columns = varied_fields(runs) if columns is None else list(columns)
  header = ['run', *columns, f'best validation {metric}', 'at step', 'steps', 'wall time (s)']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for run in runs:
    flat = _flat(run.config.to_dict())
    best = best_point(run, metric) or {}
    cells = [
      run.name,
      *(_cell(flat.get(c, '–')) for c in columns),
      _cell(best.get(metric, math.nan)),
      _cell(best.get('step', '–')),
      f'{run.steps_done}/{run.config.train.num_steps}',
      _cell(float(run.wall_seconds)),
    ]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return lines


def plot_curves(runs: Sequence[Run], metric: str, path: str) -> str:
  """``path`` (PNG): the validation ``metric`` per run against steps and against training wall
  seconds (warm start included), one line per run, labelled as in the table."""
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True, constrained_layout=True)
  for run in runs:
    points = [p for p in run.curve if metric in p]
    for ax, x in zip(axes, ('step', 'seconds')):
      ax.plot([p[x] for p in points], [p[metric] for p in points], 'o-', label=run.name)
  axes[0].set_ylabel(f'validation {metric}')
  axes[0].set_xlabel('step')
  axes[1].set_xlabel('training wall seconds (warm start included)')
  axes[1].legend(fontsize=7, loc='best')
  fig.suptitle(f'Learning curves of {len(runs)} runs')
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def write_summary(
  workdirs: Sequence[str],
  figure: str,
  metric: str | None = None,
  columns: Sequence[str] | None = None,
) -> list[str]:
  """The sweep's summary: the markdown :func:`table` of the ``workdirs`` sorted by their
  validation metric (a line naming those not started yet under it) and the learning curves
  written to ``figure``."""
  runs, pending, metric = summarize(workdirs, metric)
  lines = table(runs, metric, columns)
  if pending:
    lines += ['', 'Not started: ' + ', '.join(os.path.basename(w) for w in pending)]
  plot_curves(runs, metric, figure)
  return lines
