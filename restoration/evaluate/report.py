"""The demo's comparison table, rendered: ``report.md`` from what training wrote
(``train_log.jsonl``: steps, wall time, parameters, GFLOPs, the method's words, code size) and
what evaluation wrote (``eval/metrics.json``, ``real_recordings.json``), with the clips each
method made worse (:mod:`restoration.evaluate.harm`). Nothing here loads a model or imports
training code; ``restoration.compare`` produces the data.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence

from restoration import records
from restoration.evaluate import harm

# Table rows (metric, label, which way is better). Scored on every test clip:
EVERY_CLIP_ROWS = (
  ('lsd', 'LSD', 'lower'),
  ('lsd_high', 'LSD high band', 'lower'),
  ('si_sdr', 'SI-SDR (dB)', 'higher'),
  ('mel_distance', 'mel distance', 'lower'),
  ('high_band_energy_ratio', 'high-band energy ratio', 'closer to 1'),
  ('spec_mse', 'spectrogram MSE', 'lower'),
)
# Scored on the perceptual subset only (each run's 'perceptual' block; evaluate.PERCEPTUAL_BY_KIND
# picks the metrics that suit each kind of clip):
PERCEPTUAL_SUBSET_ROWS = (
  ('pesq_wb', 'PESQ-WB (speech)', 'higher'),
  ('stoi', 'STOI (speech)', 'higher'),
  ('visqol', 'ViSQOL (music)', 'higher'),
  ('dnsmos_ovrl', 'DNSMOS OVRL (speech, no reference)', 'higher'),
  ('dnsmos_sig', 'DNSMOS SIG (speech, no reference)', 'higher'),
  ('dnsmos_bak', 'DNSMOS BAK (speech, no reference)', 'higher'),
)


def _mean(block: Mapping, key: str) -> float:
  v = block.get(key, {}).get('mean')
  return math.nan if v is None else float(v)


def _fmt(x: float, digits: int = 3) -> str:
  return '–' if x is None or (isinstance(x, float) and not math.isfinite(x)) else f'{x:.{digits}g}'


def train_summary(workdir: str) -> dict:
  """What the report shows of a run's ``train_log.jsonl``: its last segment's facts and the
  budget of all segments (:func:`restoration.records.budget`); empty when it has no log."""
  segments = records.read(workdir)
  if not segments:
    return {}
  last, cost = segments[-1], records.budget(segments)
  return {
    'steps': last.end_step,
    'wall_seconds': cost.own.wall_seconds,
    'compile_seconds': cost.own.compile_seconds,
    'steps_per_second': cost.own.steps_per_second,
    'total_wall_seconds': cost.total.wall_seconds,
    'skipped_steps': last.skipped_steps,
    'params': last.params,
    'final_loss': last.last.get('loss'),
    'segments': len(segments),
    'critic_loss': last.last.get('critic/adversarial'),
    'critic_at_chance': last.last.get('critic/at_chance'),
    'critic_accuracy': last.last.get('eval/critic_accuracy'),
    'last': last.last,
    'critic_train_accuracy': last.last.get('critic/accuracy'),
    # Written by training (restoration.methods.run_facts): the report renders, never rebuilds.
    'describe': last.describe,
    'gflops': last.gflops_per_audio_second,
    'code_lines': last.code_lines,
    'init_from': cost.warm_start,
  }


def _steps_rows(ev: dict) -> list[str]:
  rows = [
    '| steps | network calls | LSD | LSD high | SI-SDR | real-time factor |',
    '|---|---|---|---|---|---|',
  ]
  for run in ev['runs']:
    a = run['metrics']['all']['restored']
    rows.append(
      f'| {run["steps"]} | {run["network_calls"]} | {_fmt(_mean(a, "lsd"))} | '
      f'{_fmt(_mean(a, "lsd_high"))} | {_fmt(_mean(a, "si_sdr"))} | '
      f'{_fmt(run["real_time_factor"])} |'
    )
  return rows


def _best_run(ev: dict) -> dict:
  """The sampler step count with the lowest LSD (one-pass methods have one run)."""
  return min(ev['runs'], key=lambda r: _mean(r['metrics']['all']['restored'], 'lsd'))


def best_steps(evals: Mapping[str, dict]) -> dict[str, int | None]:
  """Per method, the sampler step count the table reports (None for one-pass models)."""
  return {m: _best_run(ev)['steps'] for m, ev in evals.items()}


def comparison_table(out: str, methods: Sequence[str], evals: Mapping[str, dict]) -> list[str]:
  """The comparison table: one column per method, every row measured (or stated as design)."""
  cols = list(methods)
  train = {m: train_summary(os.path.join(out, m)) for m in cols}
  best = {m: _best_run(evals[m]) for m in cols}
  first = evals[cols[0]]['runs'][0]['metrics']['all']['degraded']
  lines = [
    '| aspect | degraded input | ' + ' | '.join(cols) + ' |',
    '|---|---|' + '---|' * len(cols),
  ]

  def row(name, input_cell, cells):
    lines.append(f'| {name} | {input_cell} | ' + ' | '.join(cells) + ' |')

  words = {m: train[m].get('describe', {}) for m in cols}
  row('family', '', [words[m].get('family', '–') for m in cols])
  row('architecture', '', [words[m].get('architecture', '–') for m in cols])
  row(
    'trainable parameters',
    '',
    [', '.join(f'{k} {v:,}' for k, v in train[m].get('params', {}).items()) for m in cols],
  )
  row(
    'forward GFLOP per audio second',
    '',
    [', '.join(f'{k} {v:.2f}' for k, v in train[m].get('gflops', {}).items()) for m in cols],
  )
  row('training principle', '', [words[m].get('objective', '–') for m in cols])
  for key, label, better in EVERY_CLIP_ROWS:
    if not math.isfinite(_mean(first, key)):
      continue
    row(
      f'quality: {label} ({better})',
      _fmt(_mean(first, key)),
      [_fmt(_mean(best[m]['metrics']['all']['restored'], key)) for m in cols],
    )
  first_perceptual = (evals[cols[0]]['runs'][0].get('perceptual') or {}).get('degraded', {})
  for key, label, better in PERCEPTUAL_SUBSET_ROWS:
    if not math.isfinite(_mean(first_perceptual, key)):
      continue
    row(
      f'quality, perceptual subset: {label} ({better})',
      _fmt(_mean(first_perceptual, key)),
      [_fmt(_mean((best[m].get('perceptual') or {}).get('restored', {}), key)) for m in cols],
    )
  row(
    'quality: clips made worse than the input (harm, all degradations; per degradation below)',
    '',
    [harm.count_text(best[m].get('harm', {}).get('all')) for m in cols],
  )
  row(
    'SI-SDR gain over input (dB); noise handling is measured in docs/study.md',
    '0',
    [
      _fmt(_mean(best[m]['metrics']['all']['restored'], 'si_sdr') - _mean(first, 'si_sdr'))
      for m in cols
    ],
  )
  row(
    'stability: skipped non-finite steps',
    '',
    [str(train[m].get('skipped_steps', '–')) for m in cols],
  )

  def pair(first: str, second: str) -> list[str]:
    """``first (second)`` of each run's train summary, '–' for runs without a critic."""
    return [
      f'{_fmt(train[m][first])} ({_fmt(train[m][second])})'
      if train[m].get(first) is not None
      else '–'
      for m in cols
    ]

  row('stability: final critic loss (at chance)', '', pair('critic_loss', 'critic_at_chance'))
  row(
    'stability: critic accuracy, held-out pairs (last training batch); 0.5 at chance',
    '',
    pair('critic_accuracy', 'critic_train_accuracy'),
  )
  row(
    'training compute: steps/s (2 CPU cores)',
    '',
    [_fmt(train[m].get('steps_per_second')) for m in cols],
  )
  row(
    'training compute: steps, wall time',
    '',
    [
      f'{train[m].get("steps", "–")} steps, {train[m].get("wall_seconds", math.nan):.0f} s'
      + _warm_start_cell(train[m].get('init_from'))
      for m in cols
    ],
  )
  row(
    'generation speed: real-time factor (lower = faster)',
    '',
    [
      _fmt(best[m]['real_time_factor'])
      + (f' at {best[m]["steps"]} steps' if best[m]['steps'] else '')
      for m in cols
    ],
  )
  row('generation: network calls per chunk', '', [str(best[m]['network_calls']) for m in cols])
  row(
    'implementation complexity: non-blank lines (own module + method-specific modules; '
    'shared by all)',
    '',
    [_code_cell(train[m].get('code_lines', {})) for m in cols],
  )
  row('uses', '', [words[m].get('uses', '–') for m in cols])
  return lines


def perceptual_note(evals: Mapping[str, dict]) -> list[str]:
  """The line under the table that says which clips the perceptual rows scored."""
  info = next(iter(evals.values())).get('perceptual')
  if not info:
    return []
  if 'skipped' in info:
    return ['', f'Perceptual metrics were skipped: {info["skipped"]}.']
  short = {key: label.split(' (')[0] for key, label, _ in PERCEPTUAL_SUBSET_ROWS}
  counts = ', '.join(
    f'the first {sum(it["kind"] == k for it in info["items"])} {k} test clips '
    f'({", ".join(short[key] for key, _, _ in PERCEPTUAL_SUBSET_ROWS if key in names)})'
    for k, names in info['metrics'].items()
  )
  seconds = ', '.join(
    f'{m} {(ev.get("perceptual") or {}).get("seconds", math.nan):.1f} s' for m, ev in evals.items()
  )
  return [
    '',
    f'Perceptual subset: {counts}, at {info["degradation"]} only ({info["rule"]}), since '
    f'ViSQOL is too slow on CPU for every clip and degradation; scoring the subset took {seconds}.',
  ]


def _harm_cell(summary: Mapping | None) -> str:
  if not summary or not summary.get('clips'):
    return '–'
  fired = harm.criteria_text(summary)
  fired = '' if fired == '–' else f', {fired}'
  return f'{harm.count_text(summary)}{fired}: {harm.verdict(summary)}'


def harm_table(
  methods: Sequence[str],
  groups: Mapping[str, Mapping[str, Mapping | None]],
  first: str,
  rule: bool = True,
) -> list[str]:
  """Per group of clips (a degradation; ``first`` names the column) and method, the clips
  restoring made worse, by which criteria, and whether restoring is recommended there; with
  ``rule``, the rule under the table. ``groups[group][method]`` is a ``harm.summarize`` (None:
  not judged)."""
  lines = [
    f'| {first} | ' + ' | '.join(methods) + ' |',
    '|---|' + '---|' * len(methods),
  ]
  for g, by_method in groups.items():
    lines.append(f'| {g} | ' + ' | '.join(_harm_cell(by_method.get(m)) for m in methods) + ' |')
  if not rule:
    return lines
  return lines + [
    '',
    'Cells: harmed clips of the group (share), the criteria that fired (on how many clips): '
    f'whether restoring is recommended there. {harm.rule_text()}',
  ]


def split_harm(methods: Sequence[str], evals: Mapping[str, dict]) -> dict[str, dict]:
  """``harm_table``'s groups for the test split: each degradation and all, each method at the
  step count the comparison table reports."""
  first = evals[methods[0]]
  groups = [*first['degradations'], 'all']
  return {g: {m: _best_run(evals[m]).get('harm', {}).get(g) for m in methods} for g in groups}


def figure_caption(figure: str) -> list[str]:
  """What the figure shows and why those clips, from the JSON written beside it."""
  path = os.path.splitext(figure)[0] + '.json'
  if not os.path.exists(path):
    return []
  with open(path) as f:
    info = json.load(f)
  clips = '; '.join(
    f'{c["kind"]}: {c["split"]} clip {c["key"]}, LSD-high {c["lsd_high"]:.2f} (the highest of '
    f'{c["candidates"]}), codec cut-off {c["cutoff_hz"] / 1000:.1f} kHz'
    for c in info['clips']
  )
  return [
    f'Spectrograms at {info["degradation"]} ({info["degradation_rule"]}): columns clean, '
    'degraded and each method; per clip, the full band and, below it, the band above the '
    f'codec cut-off (dashed) on its own colour scale. Clips by rule, {info["clip_rule"]}: '
    f'{clips}. Audio: `examples/<kind>_<column>.wav`.',
    '',
  ]


def _warm_start_cell(init_from: records.Source | None) -> str:
  if not init_from:
    return ''
  name = os.path.basename(os.path.normpath(init_from.workdir))
  return f' + warm start from {name} ({init_from.wall_seconds:.0f} s)'


def budget_note(out: str, methods: Sequence[str]) -> list[str]:
  """One line under the table when some runs started from another (predictive + generative):
  their budget includes the warm start's training time."""
  warm = [m for m in methods if train_summary(os.path.join(out, m)).get('init_from')]
  if not warm:
    return []
  totals = ', '.join(
    f'{m} {train_summary(os.path.join(out, m))["total_wall_seconds"]:.0f} s' for m in warm
  )
  return [
    '',
    f'Warm-started runs start from another run (fine-tune its network, or freeze it as a '
    f'predictor); its training time counts in their budget '
    f'(total wall time: {totals}). A regression run continued for as long, when present, '
    'is the baseline at the same total budget.',
  ]


def _code_cell(lines: Mapping[str, int]) -> str:
  if not lines:
    return '–'
  return f'{lines["own"]} + {lines["specific"]} ({lines["shared"]})'


def _per_steps(methods: Sequence[str], evals: Mapping, sweeps: Mapping | None) -> dict:
  """Per iterative method, the evaluation that has a run per sampler step count: its sweep
  (``compare.run`` scores the step counts on a subset) or else its evaluation."""
  sweeps = sweeps or {}
  return {m: sweeps.get(m, evals[m]) for m in methods if len(sweeps.get(m, evals[m])['runs']) > 1}


def reading(
  methods: Sequence[str],
  evals: Mapping[str, dict],
  real: dict | None,
  sweeps: Mapping[str, dict] | None = None,
) -> list[str]:
  """A short, honest reading generated from the numbers (no claims the table does not show)."""
  lines = []
  first = evals[methods[0]]['runs'][0]['metrics']['all']['degraded']
  base_lsd = _mean(first, 'lsd')
  for m in methods:
    r = _best_run(evals[m])['metrics']['all']['restored']
    lsd, hb, mse = _mean(r, 'lsd'), _mean(r, 'high_band_energy_ratio'), _mean(r, 'spec_mse')
    verdict = 'beats' if lsd < base_lsd else 'does NOT beat'
    lines.append(
      f'- **{m}** {verdict} the degraded input on full-band LSD ({lsd:.3f} vs '
      f'{base_lsd:.3f}); high-band energy ratio {hb:.2f} (input '
      f'{_mean(first, "high_band_energy_ratio"):.2f}); spectrogram MSE {mse:.4g} '
      f'(input {_mean(first, "spec_mse"):.4g}).'
    )
    si_drop = _mean(first, 'si_sdr') - _mean(r, 'si_sdr')
    if lsd < base_lsd and si_drop > 0.5:
      lines.append(
        f'  Caution: its SI-SDR fell {si_drop:.1f} dB. LSD compares log energies, so '
        'energy of any content (noise too) in bins the codec removed lowers it; '
        'read it with SI-SDR and mel distance.'
      )
  subset = (evals[methods[0]]['runs'][0].get('perceptual') or {}).get('degraded', {})
  for key, label, _ in PERCEPTUAL_SUBSET_ROWS:
    if not math.isfinite(_mean(subset, key)):
      continue
    scores = {
      m: _mean((_best_run(evals[m]).get('perceptual') or {}).get('restored', {}), key)
      for m in methods
    }
    better = [m for m in methods if scores[m] > _mean(subset, key)]
    lines.append(
      f'- {label} on the perceptual subset: input {_mean(subset, key):.3g}; '
      + ', '.join(f'{m} {v:.3g}' for m, v in scores.items())
      + f'. Above the input: {", ".join(better) if better else "none"}.'
    )
  groups = split_harm(methods, evals)
  if any(s for by_method in groups.values() for s in by_method.values()):
    recommended = {
      m: [d for d in evals[m]['degradations'] if (groups[d][m] or {}).get('recommended')]
      for m in methods
    }
    lines.append(
      '- Restoring recommended by the harm rule at: '
      + '; '.join(f'{m} {", ".join(r) or "no degradation"}' for m, r in recommended.items())
      + '.'
    )
  for m, ev in _per_steps(methods, evals, sweeps).items():
    runs = ev['runs']
    lsds = [
      (_mean(r['metrics']['all']['restored'], 'lsd'), r['steps'], r['real_time_factor'])
      for r in runs
    ]
    best = min(lsds)
    lines.append(
      f'- {m} quality vs sampler steps: best LSD {best[0]:.3f} at {best[1]} steps '
      f'(real-time factor {best[2]:.3g}); '
      + ', '.join(f'{s} steps: {l:.3f}' for l, s, _ in lsds)
      + '.'
    )
  if real:
    for kind in ('speech', 'music'):
      s = real['scores'].get(kind)
      if not s:
        continue
      base = _mean(s['input'], 'lsd')
      better = [m for m in methods if _mean(s[m], 'lsd') < base]
      lines.append(
        f'- Real {kind} ({", ".join(real["degradations"])}; never trained on): input LSD '
        f'{base:.3f}; '
        + ', '.join(f'{m} {_mean(s[m], "lsd"):.3f}' for m in methods)
        + f'. Improved by: {", ".join(better) if better else "none"}.'
      )
  return lines


# The generative methods' targets against the regression baseline: a lower
# LSD-high, a high-band energy ratio in this range, at most this SI-SDR loss.
ENERGY_RANGE = (0.8, 1.2)
MAX_SI_SDR_LOSS_DB = 0.5


def targets(out: str, methods: Sequence[str], evals: Mapping[str, dict]) -> list[str]:
  """Per generative method: does it beat each regression baseline present on LSD-high, with
  the high-band energy in :data:`ENERGY_RANGE` and SI-SDR within :data:`MAX_SI_SDR_LOSS_DB`?
  Said with the numbers, met or not."""
  family = {
    m: train_summary(os.path.join(out, m)).get('describe', {}).get('family') for m in methods
  }
  baselines = [m for m in methods if family[m] == 'regression']
  score = {
    m: {k: _mean(_best_run(evals[m])['metrics']['all']['restored'], k) for k in _TARGET_KEYS}
    for m in methods
  }
  lines = []
  for m in (m for m in methods if family[m] in ('GAN', 'diffusion', 'bridge')):
    s = score[m]
    energy_ok = ENERGY_RANGE[0] <= s['high_band_energy_ratio'] <= ENERGY_RANGE[1]
    parts = []
    for b in baselines:
      t = score[b]
      met = [s['lsd_high'] < t['lsd_high'], t['si_sdr'] - s['si_sdr'] <= MAX_SI_SDR_LOSS_DB]
      parts.append(
        f'vs {b}: LSD-high {_fmt(s["lsd_high"])} vs {_fmt(t["lsd_high"])} '
        f'({"lower" if met[0] else "NOT lower"}), SI-SDR {s["si_sdr"] - t["si_sdr"]:+.2f} dB '
        f'({"within" if met[1] else "NOT within"} {MAX_SI_SDR_LOSS_DB} dB): '
        f'{"met" if all(met) and energy_ok else "missed"}'
      )
    lines.append(
      f'- Target for **{m}**: high-band energy ratio {_fmt(s["high_band_energy_ratio"])} '
      f'({"in" if energy_ok else "NOT in"} {ENERGY_RANGE[0]}-{ENERGY_RANGE[1]}); '
      + '; '.join(parts)
      + '.'
    )
  return lines


_TARGET_KEYS = ('lsd_high', 'si_sdr', 'high_band_energy_ratio')


def _real_groups(real: Mapping) -> list[str]:
  """The real recordings' groups in table order: per kind and codec setting, per kind, all."""
  per_setting = [f'{k} {d}' for k in ('speech', 'music') for d in real['degradations']]
  return [g for g in per_setting if g in real['scores']] + ['speech', 'music', 'all']


def real_table(methods: Sequence[str], real: dict) -> list[str]:
  lines = [
    '| recordings | metric | input | ' + ' | '.join(methods) + ' |',
    '|---|---|---|' + '---|' * len(methods),
  ]
  for g in _real_groups(real):
    s = real['scores'].get(g)
    if not s:
      continue
    for key in ('lsd', 'lsd_high', 'si_sdr', 'high_band_energy_ratio'):
      lines.append(
        f'| {g} | {key} | {_fmt(_mean(s["input"], key))} | '
        + ' | '.join(_fmt(_mean(s[m], key)) for m in methods)
        + ' |'
      )
    for key, label, _ in PERCEPTUAL_SUBSET_ROWS:
      if math.isfinite(_mean(s['input'], key)):
        lines.append(
          f'| {g} | {label} | {_fmt(_mean(s["input"], key))} | '
          + ' | '.join(_fmt(_mean(s[m], key)) for m in methods)
          + ' |'
        )
  labels = {key: label.split(' (')[0] for key, label, _ in PERCEPTUAL_SUBSET_ROWS}
  subsets = [
    f'{", ".join(labels[n] for n in p["metrics"])} on the {kind} clips at '
    f'{", ".join(p["degradations"])} ({p["seconds"]:.0f} s)'
    for kind, p in real.get('perceptual', {}).items()
    if p['metrics'] and p['degradations']
  ]
  if subsets:
    lines += [
      '',
      f'Perceptual rows: {"; ".join(subsets)}; the speech, music and all rows '
      'average over those settings only.',
    ]
  return lines


def real_harm_table(methods: Sequence[str], real: dict) -> list[str]:
  """:func:`harm_table` of the real recordings, per kind and bitrate, per kind and in all (the
  rule is the test split's table's)."""
  groups = real.get('harm') or {}
  groups = {g: groups[g] for g in _real_groups(real) if g in groups}
  return harm_table(methods, groups, 'recordings', rule=False)


# The full-band models' target on real music: fill the band above the codec's cut-off (energy
# there closer to the clean clip's than the input's) at no more than this SI-SDR loss.
FULL_BAND_MAX_SI_SDR_LOSS_DB = 0.3


def full_band_targets(methods: Sequence[str], real: Mapping) -> list[str]:
  """Per real codec setting and method, on each clip: energy above the cut-off closer to the
  clean clip's (in dB) than the input's, SI-SDR within :data:`FULL_BAND_MAX_SI_SDR_LOSS_DB` of
  the input's. Medians and counts, since a ratio over a near-empty band swings by decades."""
  lines = [
    '| recordings | method | energy above cut-off, median: input -> output | clips filled '
    'closer to clean | SI-SDR change, mean (worst clip) | clips within '
    f'{FULL_BAND_MAX_SI_SDR_LOSS_DB} dB |',
    '|---|---|---|---|---|---|',
  ]
  for g, rows in real.get('per_clip', {}).items():
    before = rows['input']
    for m in methods:
      after = rows[m]
      ratio = [
        (b['high_band_energy_ratio'], a['high_band_energy_ratio']) for b, a in zip(before, after)
      ]
      ratio = [
        (b, a) for b, a in ratio if math.isfinite(b) and math.isfinite(a) and b > 0 and a > 0
      ]
      filled = sum(abs(math.log(a)) < abs(math.log(b)) for b, a in ratio)
      change = [a['si_sdr'] - b['si_sdr'] for b, a in zip(before, after)]
      kept = sum(c >= -FULL_BAND_MAX_SI_SDR_LOSS_DB for c in change)
      median = [_fmt(statistics.median(x)) if ratio else '–' for x in zip(*ratio)] or ['–', '–']
      lines.append(
        f'| {g} | {m} | {median[0]} -> {median[1]} | {filled}/{len(ratio)} | '
        f'{statistics.fmean(change):+.2f} ({min(change):+.2f}) | {kept}/{len(change)} |'
      )
  return lines


def full_band_section(full_band: Mapping) -> list[str]:
  """The full-band models (``compare.run``'s ``full_band``, runs in its ``out``): their table
  on their own test split, its harm, and the real music at music bitrates."""
  out, methods, evals = full_band['out'], full_band['methods'], full_band['evals']
  real = full_band.get('real')
  ev = evals[methods[0]]
  lines = [
    '## Full-band models: 44.1 kHz stereo music',
    '',
    f'The same methods at 44.1 kHz stereo (the `music44k` preset), runs in `{out}`; test split '
    f'{ev["num_clips"]} clips x {len(ev["degradations"])} degradations '
    f'({", ".join(ev["degradations"])}).',
    '',
    *comparison_table(out, methods, evals),
    '',
    *harm_table(methods, split_harm(methods, evals), 'degradation', rule=False),
    '',
  ]
  for m, sweep in _per_steps(methods, evals, full_band.get('sweeps')).items():
    lines += [f'{m} per sampling step count:', '', *_steps_rows(sweep), '']
  if real:
    lines += [
      f'Real music at {real["sample_rate"]} Hz, {real["channels"]} channels (mono recordings '
      'duplicated): '
      + ', '.join(f'{c["name"]} ({c["seconds"]:.1f} s)' for c in real['clips'])
      + f'. High band: {real["high_band"]}. Outputs identical to their input (as 16-bit '
      f'files; the band gate kept them): {real["outputs_same_as_input"]}.',
      '',
      *real_table(methods, real),
      '',
      *real_harm_table(methods, real),
      '',
      "Target: fill the band above the cut-off (energy ratio closer to 1 than the input's) "
      f'and keep SI-SDR within {FULL_BAND_MAX_SI_SDR_LOSS_DB} dB of the input:',
      '',
      *full_band_targets(methods, real),
      '',
    ]
  return lines


def write_demo_report(
  out: str,
  methods: Sequence[str],
  evals: Mapping[str, dict],
  real: dict | None,
  timings: Mapping[str, float | list[str]],
  figure: str,
  sweeps: Mapping[str, dict] | None = None,
  full_band: Mapping | None = None,
) -> str:
  """``report.md``: the measured table, quality per step count of the iterative methods (from
  ``sweeps`` where given: their evaluations on a subset at every step count), the real
  recordings, the ``figure`` (all read from what training and evaluation wrote) and, where
  given, the ``full_band`` models (``compare.run``'s)."""
  lines = [
    '# GAN vs diffusion vs regression: measured comparison',
    '',
    f'Demo on the embedded procedural corpus, test split '
    f'({evals[methods[0]]["num_clips"]} clips x {len(evals[methods[0]]["degradations"])} '
    f'degradations: {", ".join(evals[methods[0]]["degradations"])}); '
    'quality is the mean over all test clips and degradations. Wall time of the whole '
    f'demo: {timings.get("total_seconds", math.nan) / 60:.1f} min '
    f'(dataset preparation {timings.get("prepare_seconds", math.nan):.0f} s)'
    + (
      f'; it reused the finished trainings of {", ".join(timings["reused"])} (their times '
      'are in the table)'
      if timings.get('reused')
      else ''
    )
    + '.',
    '',
    *comparison_table(out, methods, evals),
    *budget_note(out, methods),
    *perceptual_note(evals),
    '',
    '## Harm: test clips made worse than their degraded input',
    '',
    *harm_table(methods, split_harm(methods, evals), 'degradation'),
    '',
    'One seed per method here; stability across seeds and learning rates, noise handling, '
    'learning curves and diversity are in `docs/study.md` (`make study`).',
    '',
  ]
  for m, ev in _per_steps(methods, evals, sweeps).items():
    sampling = train_summary(os.path.join(out, m)).get('describe', {}).get('sampling', '')
    scored = (
      f'Scored on the first {ev["num_clips"]} test clips x '
      f'{len(ev["degradations"])} degradations; the table above reports the step count with '
      'the lowest LSD here, scored on the whole split.'
      if ev is not evals[m]
      else ''
    )
    lines += [
      f'## {m}: quality and speed per sampling step count',
      '',
      sampling,
      '',
      scored,
      '',
      *_steps_rows(ev),
      '',
    ]
  if real:
    lines += [
      '## Real recordings never seen in training',
      '',
      'Clips: '
      + ', '.join(f'{c["name"]} ({c["kind"]}, {c["seconds"]:.1f} s)' for c in real['clips'])
      + '.',
      '',
      *real_table(methods, real),
      '',
      "Harm on the real recordings (cells and rule as in the test split's harm table):",
      '',
      *real_harm_table(methods, real),
      '',
    ]
  if full_band:
    lines += full_band_section(full_band)
  lines += [
    '## Reading',
    '',
    *reading(methods, evals, real, sweeps),
    *targets(out, methods, evals),
    '',
    f'![spectrograms]({os.path.basename(figure)})',
    '',
    *figure_caption(figure),
    'Per-degradation tables: `<method>/eval/metrics.md`. Timings (s): '
    + ', '.join(f'{k} {v:.0f}' for k, v in timings.items() if k != 'reused'),
    '',
  ]
  path = os.path.join(out, 'report.md')
  with open(path, 'w') as f:
    f.write('\n'.join(lines))
  return path
