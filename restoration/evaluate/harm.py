"""When restoring made a clip worse than its degraded input (harm), and when to restore at all.

A mean score can improve while some clips get worse; a user restoring their own files needs
to know how often that happens. One rule, applied to per-clip scores that evaluation already
computed for the input and the output (against the same clean clip), used by every report:

- a clip is *harmed* when any criterion fires: SI-SDR drops by more than
  :data:`SI_SDR_DROP_DB`, LSD rises by more than :data:`LSD_RISE`, or, where the clip was scored
  with them, PESQ-WB or ViSQOL drop by more than :data:`PERCEPTUAL_DROP`. A change exactly at a
  threshold is not harm; a criterion not scored on both sides (missing, NaN) does not fire;
- restoring is *recommended* for a group of clips (a degradation, codec:bitrate) when it lowers
  their mean LSD and harms at most :data:`MAX_HARM_SHARE` of them; the group was *left as it
  was* when every output scores as its input (the restorer returned the input: the codec kept
  the band).

Pure Python over score dicts, so reports can render it without importing the metrics' stack.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

SI_SDR_DROP_DB = 0.5
LSD_RISE = 0.02
PERCEPTUAL_DROP = 0.05  # MOS points, PESQ-WB and ViSQOL alike
MAX_HARM_SHARE = 0.05
RECOMMENDED, NOT_RECOMMENDED = 'recommended', 'not recommended'
UNCHANGED = 'left as it was'  # every output scored as its input: the restorer kept the input
# Score changes below these mean the output is its input (the stream's cross-fades add ~1e-7).
_SAME = {'lsd': 1e-3, 'si_sdr': 1e-3}
# Scores are float64 sums: a change "exactly at" a threshold may differ from it in the last bits.
_ROUNDING = 1e-9


class Criterion(NamedTuple):
  metric: str  # the key in a clip's scores (``metrics.compute_all``)
  label: str
  higher_is_better: bool
  threshold: float
  unit: str = ''

  def fires(self, before: float | None, after: float | None) -> bool:
    """Whether ``after`` (the output's score) is worse than ``before`` (the input's) by more
    than the threshold; False when either side was not scored."""
    if not (_scored(before) and _scored(after)):
      return False
    before, after = float(before), float(after)
    worse = before - after if self.higher_is_better else after - before
    return not math.isnan(worse) and worse > self.threshold + _ROUNDING  # NaN: -inf on both sides


def _scored(value: float | None) -> bool:
  """A score that exists: not missing (None, as JSON writes NaN) and not NaN."""
  return value is not None and not math.isnan(value)


CRITERIA = (
  Criterion('si_sdr', 'SI-SDR', True, SI_SDR_DROP_DB, ' dB'),
  Criterion('lsd', 'LSD', False, LSD_RISE),
  Criterion('pesq_wb', 'PESQ-WB', True, PERCEPTUAL_DROP),
  Criterion('visqol', 'ViSQOL', True, PERCEPTUAL_DROP),
)
LABELS = {c.metric: c.label for c in CRITERIA}


class ClipHarm(NamedTuple):
  harmed: bool
  criteria: tuple[str, ...]  # the metrics whose criterion fired, in CRITERIA's order


def judge(
  inputs: Sequence[Mapping[str, float | None]], outputs: Sequence[Mapping[str, float | None]]
) -> list[ClipHarm]:
  """Per clip, whether the output is worse than the input and by which criteria. ``inputs[i]``
  and ``outputs[i]`` are clip i's scores of the degraded input and of the restored output."""
  if len(inputs) != len(outputs):
    raise ValueError(f'{len(inputs)} input scores but {len(outputs)} output scores')
  out = []
  for before, after in zip(inputs, outputs):
    fired = tuple(c.metric for c in CRITERIA if c.fires(before.get(c.metric), after.get(c.metric)))
    out.append(ClipHarm(bool(fired), fired))
  return out


def recommended(lsd_input: float, lsd_restored: float, share: float) -> bool:
  """The rule: restoring lowers the mean LSD and harms at most :data:`MAX_HARM_SHARE` of clips."""
  return lsd_restored < lsd_input and share <= MAX_HARM_SHARE


def _mean_of(scores: Iterable[Mapping[str, float | None]], key: str) -> float:
  values = [float(s[key]) for s in scores if _scored(s.get(key))]
  return sum(values) / len(values) if values else math.nan


def summarize(
  inputs: Sequence[Mapping[str, float | None]],
  outputs: Sequence[Mapping[str, float | None]],
  keys: Sequence[str] | None = None,
) -> dict:
  """One group of clips: ``{'clips', 'harmed', 'share', 'criteria': {metric: clips it fired
  on}, 'scored': {metric: clips scored on both sides}, 'lsd': {'input', 'restored'} (means),
  'recommended'}``; with ``keys`` (one per clip), also ``'harmed_clips': [{'key', 'criteria'}]``.
  Only criteria scored on some clip appear in ``criteria`` and ``scored``."""
  clips = judge(inputs, outputs)
  scored = {
    c.metric: sum(
      _scored(b.get(c.metric)) and _scored(a.get(c.metric)) for b, a in zip(inputs, outputs)
    )
    for c in CRITERIA
  }
  scored = {m: n for m, n in scored.items() if n}
  harmed = sum(c.harmed for c in clips)
  share = harmed / len(clips) if clips else math.nan
  unchanged = bool(clips) and all(
    _scored(b.get(m)) and _scored(a.get(m)) and abs(float(a[m]) - float(b[m])) < tolerance
    for b, a in zip(inputs, outputs)
    for m, tolerance in _SAME.items()
  )
  lsd = {'input': _mean_of(inputs, 'lsd'), 'restored': _mean_of(outputs, 'lsd')}
  out = {
    'clips': len(clips),
    'harmed': harmed,
    'share': share,
    'criteria': {m: sum(m in c.criteria for c in clips) for m in scored},
    'scored': scored,
    'lsd': lsd,
    'recommended': recommended(lsd['input'], lsd['restored'], share),
    'unchanged': unchanged,
  }
  if keys is not None:
    if len(keys) != len(clips):
      raise ValueError(f'{len(keys)} keys for {len(clips)} clips')
    out['harmed_clips'] = [
      {'key': k, 'criteria': list(c.criteria)} for k, c in zip(keys, clips) if c.harmed
    ]
  return out


def by_degradation(
  inputs: Mapping[str, Sequence[Mapping]],
  outputs: Mapping[str, Sequence[Mapping]],
  keys: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, dict]:
  """:func:`summarize` per degradation (the keys of ``inputs``), plus ``'all'`` over every clip
  of every degradation (without ``harmed_clips``: each degradation lists its own)."""
  out = {d: summarize(inputs[d], outputs[d], keys[d] if keys else None) for d in inputs}
  out['all'] = summarize(
    [s for d in inputs for s in inputs[d]], [s for d in inputs for s in outputs[d]]
  )
  return out


def count_text(summary: Mapping | None) -> str:
  """``'3/48 (6.2%)'``: harmed clips of the group, '–' when it was not judged."""
  if not summary or not summary.get('clips'):
    return '–'
  return f'{summary["harmed"]}/{summary["clips"]} ({summary["harmed"] / summary["clips"]:.1%})'


def criteria_text(summary: Mapping | None) -> str:
  """``'SI-SDR 2, LSD 1'``: how often each criterion fired, '–' when none did."""
  fired = [(m, n) for m, n in (summary or {}).get('criteria', {}).items() if n]
  return ', '.join(f'{LABELS.get(m, m)} {n}' for m, n in fired) or '–'


def verdict(summary: Mapping | None) -> str:
  """:data:`RECOMMENDED`, :data:`NOT_RECOMMENDED` or :data:`UNCHANGED` ('–' when the group was
  not judged)."""
  if not summary or not summary.get('clips'):
    return '–'
  if summary.get('unchanged'):
    return UNCHANGED
  return RECOMMENDED if summary['recommended'] else NOT_RECOMMENDED


def rule_text() -> str:
  """The harm rule and the recommendation, in words, for under every table that shows them."""
  words = [
    f'{c.label} {"down" if c.higher_is_better else "up"} more than {c.threshold:g}{c.unit}'
    for c in CRITERIA
  ]
  return (
    'Harmed: a clip whose restored output is worse than its degraded input (both against the '
    f'clean clip) by {", ".join(words[:-1])} or {words[-1]} (each where the clip was scored '
    'with it); a change exactly at a threshold is not harm. Restoring is '
    f'{RECOMMENDED} at a degradation when it lowers the mean LSD and harms at most '
    f'{MAX_HARM_SHARE:.0%} of the clips, otherwise {NOT_RECOMMENDED}; {UNCHANGED} where '
    'every output scores as its input (the restorer kept what the codec left).'
  )
