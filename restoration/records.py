"""The run record: ``workdir/train_log.jsonl``, one JSON line per training invocation (a
segment; a resumed run has several), and the one rule that turns segments into a budget.

Every reader (the comparison report, the study's curves, the equal-budget run, and the
training loop recording what a warm start cost) goes through :func:`read` and :func:`budget`,
so they count time alike:

- ``wall_seconds``: the whole segment from its first step (compile, steps, validation,
  checkpoint saves).
- ``train_seconds`` = wall - validation: what training cost. Validation is left out because
  its cost follows ``train.eval_every``, a monitoring choice; compilation stays in.
- ``steps_per_second`` = steps / (wall - compile - validation): the stepping rate, over the
  same time ``train.max_train_seconds`` counts.
- A warm-started run is charged its source's budget once: the ``init_from`` of its first
  segment, the source's total as that segment recorded it (its own warm start included, so a
  chain adds each link once). Later segments resume from the run's own checkpoint and record
  the source again; that is not charged again.

Writing is the caller's job on process 0 only: this module imports nothing of JAX. Lines
written before a field existed read with its default (no validation seconds, no warm start...).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

from restoration.errors import UserError

LOG_NAME = 'train_log.jsonl'


class RecordError(UserError, ValueError):
  """A ``train_log.jsonl`` line is not a segment record."""


@dataclasses.dataclass(frozen=True)
class Budget:
  """Training cost summed over segments (seconds of wall time)."""

  steps: int = 0
  wall_seconds: float = 0.0
  compile_seconds: float = 0.0
  eval_seconds: float = 0.0

  @property
  def train_seconds(self) -> float:
    """Wall time without validation (compilation included)."""
    return self.wall_seconds - self.eval_seconds

  @property
  def steps_per_second(self) -> float:
    """Steps over the time spent stepping (no compilation, no validation)."""
    return self.steps / max(self.wall_seconds - self.compile_seconds - self.eval_seconds, 1e-9)

  def __add__(self, other: Budget) -> Budget:
    return Budget(
      *(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(Budget))
    )


@dataclasses.dataclass(frozen=True)
class Source(Budget):
  """A record's ``init_from``: the warm start's run and its total budget when it was read."""

  workdir: str = ''
  method: str | None = None


@dataclasses.dataclass(frozen=True)
class Segment:
  """One line of ``train_log.jsonl``: a training invocation from ``start_step`` to
  ``end_step``, its timings, what the report prints about the run (``describe``,
  ``gflops_per_audio_second``, ``code_lines``: ``methods.run_facts``), the logged scalars of
  its last step (``last``), its validation points (``curve``, each with ``train_seconds`` since
  the segment began) and logged learning signals (``history``)."""

  method: str
  start_step: int
  end_step: int
  wall_seconds: float
  eval_seconds: float = 0.0
  compile_seconds: float = 0.0
  out_of_time: bool = False  # ended by train.max_train_seconds
  skipped_steps: int = 0
  devices: int | None = None
  params: dict[str, int] = dataclasses.field(default_factory=dict)
  describe: dict[str, str] = dataclasses.field(default_factory=dict)
  gflops_per_audio_second: dict[str, float] = dataclasses.field(default_factory=dict)
  code_lines: dict[str, int] = dataclasses.field(default_factory=dict)
  init_from: Source | None = None
  last: dict[str, Any] = dataclasses.field(default_factory=dict)
  curve: list[dict[str, float]] = dataclasses.field(default_factory=list)
  history: list[dict[str, float]] = dataclasses.field(default_factory=list)

  @property
  def budget(self) -> Budget:
    return Budget(
      self.end_step - self.start_step, self.wall_seconds, self.compile_seconds, self.eval_seconds
    )

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), default=float)

  @classmethod
  def from_dict(cls, record: dict[str, Any]) -> Segment:
    """A segment from a decoded line; keys it does not know are ignored (a newer writer)."""
    names = {f.name for f in dataclasses.fields(cls)}
    missing = [
      f.name
      for f in dataclasses.fields(cls)
      if f.default is f.default_factory is dataclasses.MISSING and f.name not in record
    ]
    if missing:
      raise RecordError(f'missing {", ".join(missing)}')
    fields = {k: v for k, v in record.items() if k in names}
    if fields.get('compile_seconds') is None:  # older lines: null when no step was timed
      fields['compile_seconds'] = 0.0
    if fields.get('init_from'):
      source_names = {f.name for f in dataclasses.fields(Source)}
      fields['init_from'] = Source(
        **{k: v for k, v in fields['init_from'].items() if k in source_names}
      )
    return cls(**fields)


def append(workdir: str | os.PathLike, segment: Segment) -> None:
  """Appends ``segment`` as one line of ``workdir/train_log.jsonl`` (call on process 0)."""
  with open(os.path.join(workdir, LOG_NAME), 'a') as f:
    f.write(segment.to_json() + '\n')


def read(workdir: str | os.PathLike) -> list[Segment]:
  """The segments of ``workdir``'s run in the order they ran; empty when it has no log."""
  path = os.path.join(workdir, LOG_NAME)
  if not os.path.exists(path):
    return []
  segments = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      try:
        segments.append(Segment.from_dict(json.loads(line)))
      except (ValueError, TypeError, AttributeError) as e:
        reason = e.msg if isinstance(e, json.JSONDecodeError) else e
        raise RecordError(f'{path}:{number}: not a segment record ({reason})') from None
  return segments


@dataclasses.dataclass(frozen=True)
class RunBudget:
  """A run's own budget (its segments) and the warm start it is charged."""

  own: Budget
  warm_start: Source | None

  @property
  def total(self) -> Budget:
    return self.own + self.warm_start if self.warm_start else self.own


def budget(segments: Sequence[Segment]) -> RunBudget:
  """THE budget rule (module docstring): own segments summed, the first one's warm start."""
  own = sum((s.budget for s in segments), Budget())
  return RunBudget(own, segments[0].init_from if segments else None)


def source(workdir: str | os.PathLike) -> Source:
  """What a run warm-started from ``workdir`` records as its ``init_from``: that run's total
  budget (zero when it has no log)."""
  segments = read(workdir)
  total = budget(segments).total
  return Source(
    **dataclasses.asdict(total),
    workdir=os.fspath(workdir),
    method=segments[-1].method if segments else None,
  )


def curve(segments: Sequence[Segment]) -> list[dict[str, float]]:
  """Every segment's validation points, each with ``seconds``: training seconds so far
  (:attr:`Budget.train_seconds`, the warm start's included)."""
  warm_start = budget(segments).warm_start
  spent = warm_start.train_seconds if warm_start else 0.0
  points = []
  for s in segments:
    points.extend({**p, 'seconds': spent + p['train_seconds']} for p in s.curve)
    spent += s.budget.train_seconds
  return points
