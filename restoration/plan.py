"""The one run planner of the demo (``compare.run``) and the study (``study.run``).

A plan is a list of :class:`Run`: each names its workdir, its method and config changes and
the run whose main network it starts from. Here live the recipe of warm starts
(:data:`WARM_START`), the order that trains every source before the runs that read it, a
run's config, the one rule for "this run is finished" and the loop that trains what is
missing, so that the demo and the study plan, skip and resume the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Mapping, Sequence

import ml_collections

from restoration.config import load_config, set_field
from restoration.errors import ConfigError

log = logging.getLogger('restoration')

# The predictive + generative recipe of the demo and the study: the GANs fine-tune the
# regression model (the ``finetune`` preset) instead of training from scratch.
WARM_START = {'gan': 'regression', 'wgan': 'regression', 'projected_gan': 'regression'}
# The statuses of a run whose checkpoint holds all its steps.
TRAINED = ('done', 'reused')


@dataclasses.dataclass(frozen=True)
class Run:
  """One training: ``name`` is its workdir under the output directory."""

  name: str
  method: str
  seed: int = 0
  lr_scale: float = 1.0  # times every learning rate of the config (the critic's too)
  source: str | None = None  # the run whose main network this one starts from
  fine_tunes: bool = False  # a warm start of the recipe (``finetune`` preset), not a frozen read
  fields: tuple[tuple[str, object], ...] = ()  # extra config fields (dotted keys)

  @property
  def group(self) -> str:
    """The name before its first '/': the method's row in a study of several runs each."""
    return self.name.split('/')[0]


def sources(methods: Sequence[str], warm_start: Mapping[str, str]) -> dict[str, tuple[str, bool]]:
  """``{method: (source method, fine-tunes)}`` for each of ``methods`` that starts from another
  run: a warm start of ``warm_start`` fine-tunes its source's main network; a method that
  ``starts_from`` another (the predictive bridge's frozen predictor) gets that run unasked."""
  from restoration import methods as methods_lib

  found = {}
  for m in methods:
    if warm_start.get(m):
      found[m] = (warm_start[m], True)
    elif methods_lib.get(m).starts_from:
      found[m] = (methods_lib.get(m).starts_from, False)
  return found


def order(runs: Sequence[Run]) -> list[Run]:
  """``runs`` in training order: each after the run it starts from, the given order otherwise.
  A source that is not one of ``runs``, or a cycle of sources, is a one-line ConfigError."""
  by_name = {r.name: r for r in runs}
  placed: dict[str, Run] = {}
  for r in runs:
    chain = [r]  # r, its source, that one's source...: placed sources first
    while chain[-1].source and chain[-1].source not in placed:
      run = chain[-1]
      if run.source not in by_name:
        raise ConfigError(
          f'warm start {run.name}:{run.source}: expected {run.source} among the runs '
          f'({", ".join(by_name)})'
        )
      if by_name[run.source] in chain:
        cycle = ' -> '.join([*(c.name for c in chain), run.source])
        raise ConfigError(f'warm start {run.name}:{run.source}: a cycle of sources ({cycle})')
      chain.append(by_name[run.source])
    for c in reversed(chain):
      placed.setdefault(c.name, c)
  return list(placed.values())


def config(
  run: Run, size: str, data_dir: str, out: str, presets: Sequence[str] = ()
) -> ml_collections.ConfigDict:
  """The run's config: ``size`` (a size, maybe with presets), then ``finetune`` when it
  fine-tunes, then ``presets``; its seed, learning rates, fields and source in ``out``."""
  c = load_config(run.method, ','.join([size, *(['finetune'] if run.fine_tunes else []), *presets]))
  c.seed = run.seed
  c.data.data_dir = data_dir
  c.train.learning_rate *= run.lr_scale
  c.train.critic_learning_rate *= run.lr_scale
  for field, value in run.fields:
    set_field(c, field, value)
  if run.source:
    c.train.init_from = os.path.join(out, run.source)
  return c


def finished(workdir: str, config: ml_collections.ConfigDict) -> bool:
  """Whether the run in ``workdir`` has saved its last step: a re-run does not train it again.
  A checkpoint short of ``train.num_steps`` (preempted) resumes from there."""
  from restoration import checkpoint

  return checkpoint.latest_step(workdir) == config.train.num_steps


def train_missing(
  runs: Sequence[Run],
  configs: Mapping[str, ml_collections.ConfigDict],
  out: str,
  *,
  label: str,
  keep_going: bool = False,
) -> dict[str, dict]:
  """Trains (or resumes) each of ``runs`` in order (see :func:`order`) into ``out/<name>``
  unless it is :func:`finished` -> ``{name: {'status': ...}}``, with ``seconds`` of training:

  'reused' (finished earlier), 'done', 'diverged' (only with ``keep_going``: the study counts
  a diverged run as a result, the demo stops on it), 'skipped' (its source, planned here, did
  not finish) or 'stopped' (preempted: saved, and no later run starts; a re-run continues).
  ``label`` prefixes the log lines.
  """
  from restoration.train import loop

  status: dict[str, dict] = {}
  for r in runs:
    config, workdir = configs[r.name], os.path.join(out, r.name)
    if r.source in status and status[r.source]['status'] not in TRAINED:
      status[r.name] = {'status': 'skipped', 'error': f'its source {r.source} did not finish'}
      continue
    if finished(workdir, config):
      status[r.name] = {'status': 'reused'}
      continue
    t = time.time()
    log.info('%s: training %s (%d steps)', label, r.name, config.train.num_steps)
    try:
      last = loop.train_and_evaluate(config, workdir)
    except loop.NonFiniteError as e:
      if not keep_going:
        raise
      log.warning('%s: %s diverged: %s', label, r.name, e)
      status[r.name] = {'status': 'diverged', 'error': str(e), 'seconds': time.time() - t}
      continue
    if last['step'] < config.train.num_steps:
      log.info('%s: stopped during %s at step %d; re-run to continue', label, r.name, last['step'])
      status[r.name] = {'status': 'stopped'}
      return status
    status[r.name] = {'status': 'done', 'seconds': time.time() - t}
  return status
