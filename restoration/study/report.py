"""``study.md``, ``study.json`` and ``learning_curves.png`` from what the study's runs wrote
(``train_log.jsonl``: learning curve, logged critic signals, timings; ``eval/metrics.json``)
and what :func:`restoration.study.run` measured (noise handling, diversity). The nine aspects
of the paper's Table 1 (D. S. Kirpichev, a comparison of GANs and diffusion models for lossy
audio restoration, in Russian) each get the measured figures and a verdict by a stated rule;
the clips each method made worse than its input are counted by the evaluation's harm rule."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from restoration import records
from restoration.evaluate import harm
from restoration.evaluate.report import _fmt, harm_table, train_summary

# The paper's sides and the method families each stands for. A bridge samples in steps, a
# denoiser called at falling noise levels, as the EDM diffusion does, so it answers for diffusion.
SIDES = {'GAN': ('GAN',), 'diffusion': ('diffusion', 'bridge'), 'regression': ('regression',)}
# (metric, label) whose spread across seeds the stability table shows.
SEED_SPREAD_METRICS = (('lsd', 'LSD'), ('lsd_high', 'LSD-high'), ('mel_distance', 'mel distance'))
# A critic that orders at most this share of its training batch's (clean, restored) pairs
# right is indistinguishable from a coin at batch 8 (5 of 8 right: binomial p = 0.36).
CHANCE_ACCURACY = 0.625
NOISY = ('white:20', 'white:10', 'pink:20', 'pink:10')
# Aspect -> the paper's claim (GAN side; diffusion side), from its Table 1.
CLAIMS = {
  'architecture': 'GAN: generator and discriminator in an adversarial game; diffusion: forward '
  'noising and reverse denoising',
  'training principle': 'GAN: minimax or Wasserstein loss; diffusion: denoising, often MSE, '
  'multi-stage refinement',
  'quality': 'GAN: realistic, plausible samples; diffusion: exceptionally high resolution and '
  'finest detail',
  'stability': 'GAN: often unstable, prone to mode collapse, sensitive to hyperparameters; '
  'diffusion: more stable, fewer convergence problems',
  'compute': 'GAN: can be costly to train, faster inference; diffusion: much compute, long '
  'training and generation',
  'generation speed': 'GAN: fast (one direct pass); diffusion: slower (iterative denoising)',
  'noise handling': 'GAN: minimal or implicit; diffusion: trained to recognise and remove noise '
  'at every step',
  'implementation complexity': 'GAN: simpler to implement and set up; diffusion: more complex '
  'architecture and training',
  'uses': 'GAN: real-time and interactive systems, effective on audio; diffusion: high-quality '
  'synthesis and detailed reconstruction',
}


def eval_summary(ev: Mapping) -> dict:
  """The compact scores the study keeps of one ``evaluate_workdir`` result."""
  run = ev['runs'][0]
  block = run['metrics']['all']
  mean = lambda side, k: (block[side].get(k) or {}).get('mean')  # noqa: E731
  return {
    'checkpoint_step': ev['checkpoint_step'],
    'num_clips': ev['num_clips'],
    'steps': run['steps'],
    'network_calls': run['network_calls'],
    'real_time_factor': run['real_time_factor'],
    'restored': {k: mean('restored', k) for k in _METRICS},
    'input': {k: mean('degraded', k) for k in _METRICS},
    # Per degradation and all: the counts and the recommendation, not which clips.
    'harm': {
      d: {k: v for k, v in summary.items() if k != 'harmed_clips'}
      for d, summary in (run.get('harm') or {}).items()
    },
  }


_METRICS = ('lsd', 'lsd_high', 'mel_distance', 'si_sdr', 'high_band_energy_ratio')


def learning_curve(workdir: str) -> list[dict]:
  """Validation points over every segment of a run: ``step``, ``seconds`` (training seconds so
  far, warm start included: :func:`restoration.records.curve`), ``lsd``, ``lsd_high``."""
  return [
    {'step': p['step'], 'seconds': p['seconds'], **{k: p[k] for k in _CURVE}}
    for p in records.curve(records.read(workdir))
  ]


_CURVE = ('lsd', 'lsd_high')


def critic_at_chance(workdir: str) -> tuple[int, int]:
  """``(logged steps where the critic sat at chance, logged steps)``, after its warm-up: at
  chance means a training-batch accuracy of at most :data:`CHANCE_ACCURACY`."""
  history = [h for r in records.read(workdir) for h in r.history if 'critic/accuracy' in h]
  return sum(h['critic/accuracy'] <= CHANCE_ACCURACY for h in history), len(history)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
  v = [x for x in values if x is not None and math.isfinite(x)]
  return (float(np.mean(v)), float(np.std(v))) if v else (math.nan, math.nan)


def _pm(values: Sequence[float]) -> str:
  m, s = _mean_std(values)
  return f'{_fmt(m)} ± {_fmt(s, 2)}'


def stability(out: str, result: Mapping, runs: Sequence) -> dict:
  """Per method: quality over seeds, across learning rates, diverged runs, critic at chance."""
  from restoration import methods as methods_lib

  rows = {}
  for m in result['methods']:
    mine = [r for r in runs if r.group == m]
    seeds = [r for r in mine if r.lr_scale == 1.0]
    lrs = sorted((r for r in mine if r.seed == 0), key=lambda r: r.lr_scale)
    scores = {r.name: result['evals'].get(r.name) for r in mine}
    summaries = {r.name: train_summary(os.path.join(out, r.name)) for r in mine}
    diverged = []
    for r in mine:
      ev, st, s = scores[r.name], result['status'][r.name], summaries[r.name]
      last = s.get('last', {})
      worse = (ev is not None and not ev['restored']['lsd'] < ev['input']['lsd']) or not (
        last.get('eval/lsd', -math.inf) < last.get('eval/input_lsd', math.inf)
      )
      if st['status'] in ('diverged', 'skipped') or worse or s.get('skipped_steps'):
        diverged.append(r.name)
    chance = [critic_at_chance(os.path.join(out, r.name)) for r in mine]
    acc = [summaries[r.name].get('critic_accuracy') for r in seeds]
    rows[m] = {
      'family': methods_lib.get(m).family,
      'seeds': {
        k: [scores[r.name]['restored'][k] for r in seeds if scores[r.name]]
        for k, _ in SEED_SPREAD_METRICS
      },
      'learning_rates': {
        f'{r.lr_scale:g}x': scores[r.name]['restored']['lsd_high'] if scores[r.name] else None
        for r in lrs
      },
      'diverged': diverged,
      'runs': len(mine),
      'critic_at_chance': [sum(c[0] for c in chance), sum(c[1] for c in chance)],
      'critic_accuracy': [a for a in acc if a is not None],
    }
    lr_values = [v for v in rows[m]['learning_rates'].values() if v is not None]
    rows[m]['lr_spread'] = max(lr_values) - min(lr_values) if lr_values else math.nan
  return rows


def time_to_quality(out: str, heads: Mapping[str, str], target: float) -> dict[str, float | None]:
  """Per method (its seed-0 run), the first training second (warm start included) at which the
  validation LSD-high reached ``target``; None when it never did."""
  reached = {}
  for m, name in heads.items():
    points = [p for p in learning_curve(os.path.join(out, name)) if p['lsd_high'] <= target]
    reached[m] = points[0]['seconds'] if points else None
  return reached


def plot_curves(out: str, heads: Mapping[str, str], path: str) -> None:
  """Validation LSD and LSD-high against training seconds and against steps, per method."""
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
  for m, name in heads.items():
    points = learning_curve(os.path.join(out, name))
    if not points:
      continue
    for row, key in enumerate(_CURVE):
      for col, x in enumerate(('seconds', 'step')):
        axes[row][col].plot([p[x] for p in points], [p[key] for p in points], 'o-', label=m)
  for row, key in enumerate(('validation LSD', 'validation LSD-high')):
    axes[row][0].set_ylabel(key)
  axes[1][0].set_xlabel('training wall seconds (warm start included)')
  axes[1][1].set_xlabel('steps of this run')
  axes[0][0].legend(fontsize=8)
  fig.suptitle('Learning curves (seed 0; 2 CPU cores)')
  fig.savefig(path, dpi=100)
  plt.close(fig)


def side(family: str) -> str | None:
  """The paper's side (a key of :data:`SIDES`) that a method family answers for; None: none."""
  return next((s for s, families in SIDES.items() if family in families), None)


def _family_values(rows: Mapping[str, float | None], families: Mapping[str, str], fam: str):
  return [v for m, v in rows.items() if families[m] == fam and v is not None and math.isfinite(v)]


def _verdict(agree: bool | str | None, why: str) -> str:
  word = {True: 'agrees', False: 'disagrees', None: 'not decided', 'partly': 'partly agrees'}[agree]
  return f'**{word}**: {why}'


def _more(a: float, b: float) -> bool | None:
  """``a > b``, or None (no vote) when either is not measured."""
  return None if math.isnan(a) or math.isnan(b) else a > b


def _above_chance(accuracies: Iterable[float]) -> bool | None:
  """Whether every critic's accuracy is above 0.5: False once one is at or below it; None
  (open) when there is none, or one was not measured and none is below."""
  accuracies = list(accuracies)
  if any(a <= 0.5 for a in accuracies):
    return False
  return True if accuracies and all(map(math.isfinite, accuracies)) else None


def aspects(out: str, result: Mapping, rows: Mapping, reached: Mapping, target: float) -> list:
  """The nine aspects: ``(aspect, claim, measured, verdict)``, verdicts by stated rules."""
  from restoration import methods as methods_lib

  ms = result['methods']
  fam = {m: side(methods_lib.get(m).family) for m in ms}
  heads = {m: f'{m}/seed=0' for m in ms}
  summ = {m: train_summary(os.path.join(out, heads[m])) for m in ms}
  ev = {m: result['evals'].get(heads[m]) for m in ms}

  def by_family(values: Mapping[str, float | None], f: str) -> list[float]:
    return _family_values(values, fam, f)

  present = {f: any(fam[m] == f for m in ms) for f in SIDES}
  table = []
  gflops = {m: ', '.join(f'{k} {v:.2g}' for k, v in summ[m].get('gflops', {}).items()) for m in ms}
  table.append(
    (
      'architecture',
      'forward GFLOP per audio second: ' + '; '.join(f'{m} {gflops[m]}' for m in ms),
      _verdict(
        True, 'by construction (the registry: generator + critic vs a denoiser sampled in steps)'
      ),
    )
  )
  acc = {m: _mean_std(rows[m]['critic_accuracy'])[0] for m in ms if fam[m] == 'GAN'}
  table.append(
    (
      'training principle',
      'held-out critic accuracy over seeds (0.5 at chance): '
      + ', '.join(f'{m} {_fmt(a)}' for m, a in acc.items()),
      _verdict(
        _above_chance(acc.values()),
        'rule: every GAN critic orders held-out pairs better than chance, so the adversarial '
        'game is being played',
      ),
    )
  )
  lsdh = {m: _mean_std(rows[m]['seeds']['lsd_high'])[0] for m in ms}
  seed_std = {m: _mean_std(rows[m]['seeds']['lsd_high'])[1] for m in ms}
  best = {f: min(by_family(lsdh, f), default=math.nan) for f in SIDES}
  leader = {
    f: min((m for m in ms if fam[m] == f and math.isfinite(lsdh[m])), key=lsdh.get, default=None)
    for f in SIDES
  }
  gap = best['diffusion'] - best['GAN']
  noise_level = max((seed_std[leader[f]] for f in ('GAN', 'diffusion') if leader[f]), default=0)
  diffusion_best = None if math.isnan(gap) or abs(gap) <= noise_level else gap < 0
  table.append(
    (
      'quality',
      'test LSD-high, mean ± std over seeds: '
      + '; '.join(f'{m} {_pm(rows[m]["seeds"]["lsd_high"])}' for m in ms)
      + '; mel distance: '
      + '; '.join(f'{m} {_pm(rows[m]["seeds"]["mel_distance"])}' for m in ms),
      _verdict(
        diffusion_best,
        f'rule: the best diffusion method ({leader["diffusion"]}, {_fmt(best["diffusion"])}) has '
        f'a lower LSD-high than the best GAN ({leader["GAN"]}, {_fmt(best["GAN"])}) by more than '
        f'their seed std ({_fmt(noise_level, 2)}); regression {_fmt(best["regression"])}',
      ),
    )
  )
  spread = {m: rows[m]['lr_spread'] for m in ms}
  std_f = {f: _mean_std(by_family(seed_std, f))[0] for f in SIDES}
  lr_f = {f: _mean_std(by_family(spread, f))[0] for f in SIDES}
  div = result.get('diversity', {})
  # The stochastic GAN (study.STOCHASTIC) is the one GAN that can spread; all of it counts,
  # zero included (a generator that ignores its noise input has collapsed).
  gan_div = [d['log_spectral_std_db'] for g, d in div.items() if g == 'gan_stochastic']
  diff_div = [d['log_spectral_std_db'] for g, d in div.items() if fam.get(g) == 'diffusion']
  votes = {  # a side without the figure abstains
    'seeds': _more(std_f['GAN'], std_f['diffusion']),
    'learning rates': _more(lr_f['GAN'], lr_f['diffusion']),
    'mode collapse': max(gan_div) < min(diff_div) if gan_div and diff_div else None,
  }
  decided = [v for v in votes.values() if v is not None]
  table.append(
    (
      'stability',
      'LSD-high std over seeds: '
      + ', '.join(f'{m} {_fmt(seed_std[m], 2)}' for m in ms)
      + '; LSD-high range over learning-rate scales: '
      + ', '.join(f'{m} {_fmt(spread[m], 2)}' for m in ms)
      + '; diverged runs: '
      + ', '.join(f'{m} {len(rows[m]["diverged"])}/{rows[m]["runs"]}' for m in ms)
      + '; logged steps with the critic at chance: '
      + ', '.join(
        f'{m} {rows[m]["critic_at_chance"][0]}/{rows[m]["critic_at_chance"][1]}'
        for m in ms
        if fam[m] == 'GAN'
      )
      + '; output spread across sampling seeds (dB): '
      + ', '.join(f'{g} {_fmt(d["log_spectral_std_db"], 2)}' for g, d in div.items()),
      _verdict(
        None if not decided else all(decided) if all(decided) or not any(decided) else 'partly',
        f'rule, three votes: GANs vary more across seeds (mean std GAN '
        f'{_fmt(std_f["GAN"], 2)}, diffusion {_fmt(std_f["diffusion"], 2)}), across learning '
        f'rates (GAN {_fmt(lr_f["GAN"], 2)}, diffusion {_fmt(lr_f["diffusion"], 2)}), and the '
        'stochastic GAN spreads its samples less than every diffusion method (mode collapse): '
        + ', '.join(
          f'{k} {"yes" if v else "no" if v is not None else "–"}' for k, v in votes.items()
        ),
      ),
    )
  )
  reach = {f: min(by_family(reached, f), default=None) for f in SIDES}
  times = [(t, f) for f, t in reach.items() if t is not None]
  first = min(times)[1] if times else None
  rate = {m: summ[m].get('steps_per_second') for m in ms}
  table.append(
    (
      'compute',
      f'training seconds to validation LSD-high <= {_fmt(target)} (where regression '
      "seed 0's validation ended; warm start included; – never): "
      + ', '.join(f'{m} {_fmt(reached.get(m), 3)}' for m in ms)
      + f'; first to get there: {first or "none"}'
      + '; steps/s: '
      + ', '.join(f'{m} {_fmt(rate[m])}' for m in ms),
      _verdict(
        None
        if not present['diffusion']
        or not present['GAN']
        or (reach['diffusion'] is None and reach['GAN'] is None)
        else reach['GAN'] is not None
        and (reach['diffusion'] is None or reach['diffusion'] > reach['GAN']),
        'rule: the GAN family reaches the target quality in less training time than the '
        'diffusion family',
      ),
    )
  )
  rtf = {m: ev[m]['real_time_factor'] if ev[m] else None for m in ms}
  calls = {m: ev[m]['network_calls'] if ev[m] else None for m in ms}
  rtf_g, rtf_d = by_family(rtf, 'GAN'), by_family(rtf, 'diffusion')
  table.append(
    (
      'generation speed',
      'real-time factor on 2 CPU cores (network calls): '
      + ', '.join(f'{m} {_fmt(rtf[m])} ({calls[m]})' for m in ms),
      _verdict(
        (min(rtf_d) > max(rtf_g)) if rtf_g and rtf_d else None,
        'rule: every diffusion method is slower than every GAN',
      ),
    )
  )
  noise = result.get('noise') or {}
  removed = {
    m: _mean_std(
      [noise['scores'][c][m]['noise_removed_db']['mean'] for c in NOISY if c in noise['scores']]
    )[0]
    if noise
    else math.nan
    for m in ms
  }
  nf = {f: _mean_std(by_family(removed, f))[0] for f in SIDES}
  table.append(
    (
      'noise handling',
      'noise-floor reduction (dB, mean over white/pink at 10/20 dB SNR before the codec; models '
      'trained on clean codec pairs): ' + ', '.join(f'{m} {_fmt(removed[m], 2)}' for m in ms),
      _verdict(
        None if math.isnan(nf['GAN'] + nf['diffusion']) else nf['diffusion'] > nf['GAN'] + 0.5,
        f'rule: diffusion removes at least 0.5 dB more of the noise floor than the GANs '
        f'(family means: diffusion {_fmt(nf["diffusion"], 2)}, GAN {_fmt(nf["GAN"], 2)}, '
        f'regression {_fmt(nf["regression"], 2)})',
      ),
    )
  )
  lines = {m: sum(summ[m].get('code_lines', {}).get(k, 0) for k in ('own', 'specific')) for m in ms}
  lines_f = {f: _mean_std(by_family(lines, f))[0] for f in SIDES}
  table.append(
    (
      'implementation complexity',
      'non-blank lines, own module + method-specific modules: '
      + ', '.join(f'{m} {lines[m]}' for m in ms),
      _verdict(
        None
        if math.isnan(lines_f['GAN'] + lines_f['diffusion'])
        else lines_f['GAN'] < lines_f['diffusion'],
        f'rule: GAN methods take fewer lines (mean GAN {lines_f["GAN"]:.0f}, diffusion '
        f'{lines_f["diffusion"]:.0f})',
      ),
    )
  )
  realtime = bool(rtf_g) and max(rtf_g) < 1
  table.append(
    (
      'uses',
      f'GANs real-time on 2 CPU cores: {"yes" if realtime else "no"} (slowest RTF '
      f'{_fmt(max(rtf_g, default=math.nan))}); the best LSD-high is '
      f"{min(((v, f) for f, v in best.items() if math.isfinite(v)), default=(0, '–'))[1]}'s",
      _verdict(
        None if not rtf_g or diffusion_best is None else realtime and diffusion_best,
        "rule: GANs run in real time and diffusion gives the best detail (the quality row's "
        'verdict)',
      ),
    )
  )
  return [(a, CLAIMS[a], measured, verdict) for a, measured, verdict in table]


def _noise_table(noise: Mapping, names: Sequence[str]) -> list[str]:
  cols = ['input', *names]
  lines = [
    f'Test clips: {noise["clips"]}, noise added before {noise["degradation"]}; scored against '
    'the clean reference.',
    '',
    '| condition | measure | ' + ' | '.join(cols) + ' |',
    '|---|---|' + '---|' * len(cols),
  ]
  for c in noise['conditions']:
    for key, label in (
      ('si_sdr', 'SI-SDR (dB)'),
      ('noise_removed_db', 'noise floor removed (dB)'),
      ('high_band_energy_ratio', 'high-band energy ratio'),
    ):
      cells = [_fmt((noise['scores'][c].get(n, {}).get(key) or {}).get('mean')) for n in cols]
      lines.append(f'| {c} | {label} | ' + ' | '.join(cells) + ' |')
  return lines


def harm_lines(result: Mapping, runs: Sequence) -> list[str]:
  """Per degradation, the clips each method's seed-0 run made worse (the evaluation's harm
  table), and the share over all of a method's runs."""
  ms, evals = result['methods'], result['evals']
  heads = {m: (evals.get(f'{m}/seed=0') or {}).get('harm', {}) for m in ms}
  groups = next((list(h) for h in heads.values() if h), [])
  if not groups:
    return ['–']
  totals = {}
  for m in ms:
    judged = [(evals.get(r.name) or {}).get('harm', {}).get('all') for r in runs if r.group == m]
    judged = [s for s in judged if s]
    totals[m] = harm.count_text(
      {'harmed': sum(s['harmed'] for s in judged), 'clips': sum(s['clips'] for s in judged)}
    )
  return [
    *harm_table(ms, {g: {m: heads[m].get(g) for m in ms} for g in groups}, 'degradation'),
    '',
    'Over every run of a method (seeds and learning rates), clips made worse: '
    + ', '.join(f'{m} {t}' for m, t in totals.items())
    + '.',
  ]


def write(out: str, result: dict, runs: Sequence) -> str:
  """``study.md`` (+ ``study.json``, ``learning_curves.png``) in ``out``; returns its path."""
  ms = result['methods']
  rows = stability(out, result, runs)
  heads = {m: f'{m}/seed=0' for m in ms}
  # The target quality: where regression's seed-0 validation LSD-high ended. Seed 0 only: the
  # validation batches (crops, codecs) follow the seed, and the curves compared are seed 0's.
  final = learning_curve(os.path.join(out, heads.get('regression', '')))[-1:]
  target = final[0]['lsd_high'] if final else math.nan
  reached = time_to_quality(out, heads, target) if math.isfinite(target) else {}
  plot_curves(out, heads, os.path.join(out, 'learning_curves.png'))
  table = aspects(out, result, rows, reached, target)
  spent = sum(train_summary(os.path.join(out, r.name)).get('wall_seconds', 0.0) for r in runs)
  result = dict(result, stability=rows, time_to_quality=reached, aspects=table, train_seconds=spent)
  with open(os.path.join(out, 'study.json'), 'w') as f:
    json.dump(result, f, indent=2, default=lambda x: None)
  s = result['seconds']
  lines = [
    "# The paper's Table 1, measured",
    '',
    f'Command: `make study` (`python -m restoration.study --size={result["size"]}`) at commit '
    f'`{result.get("commit") or "unknown"}`, on 2 CPU cores.',
    '',
    f'{len(runs)} runs at the `{result["size"]},study` preset ({len(ms)} methods x seeds '
    f'{result["seeds"]} and learning-rate scales {result["lr_scales"]} of seed 0, plus a '
    'stochastic GAN); each scored on the first '
    f'{next(iter(result["evals"].values()))["num_clips"]} test clips at every degradation. '
    f'The trainings took {result["train_seconds"] / 60:.1f} min in all (from their logs). '
    f'This invocation: {s["total"] / 60:.1f} min (training {s["train"] / 60:.1f}, evaluation '
    f'{s["evaluate"] / 60:.1f}, noise {s["noise"] / 60:.1f}, diversity '
    f'{s["diversity"] / 60:.1f}).',
    '',
    '| aspect | the paper says | measured | verdict |',
    '|---|---|---|---|',
    *(f'| {a} | {claim} | {measured} | {verdict} |' for a, claim, measured, verdict in table),
    '',
    '## Stability: quality over seeds and learning rates',
    '',
    '| method | family | '
    + ' | '.join(f'{label} (seeds)' for _, label in SEED_SPREAD_METRICS)
    + ' | LSD-high per learning-rate scale | diverged | critic at chance (logged steps) |',
    '|---|---|' + '---|' * (len(SEED_SPREAD_METRICS) + 3),
  ]
  for m in ms:
    r = rows[m]
    lr = ' / '.join(f'{k} {_fmt(v)}' for k, v in r['learning_rates'].items())
    chance = (
      f'{r["critic_at_chance"][0]} of {r["critic_at_chance"][1]}'
      if r['critic_at_chance'][1]
      else '–'
    )
    lines.append(
      f'| {m} | {r["family"]} | '
      + ' | '.join(_pm(r['seeds'][k]) for k, _ in SEED_SPREAD_METRICS)
      + f' | {lr} | {", ".join(r["diverged"]) or "none"} | {chance} |'
    )
  lines += [
    '',
    'Diverged: a non-finite stop, skipped non-finite steps, or a final validation or test LSD '
    "no better than the input's. Critic at chance: training-batch accuracy <= "
    f"{CHANCE_ACCURACY} at a logged step, over all the method's runs.",
    '',
    '## Harm: test clips made worse than their input (seed 0)',
    '',
    *harm_lines(result, runs),
    '',
    '## Noise handling (inference only: every model was trained on clean codec pairs)',
    '',
    'Noise floor: the energy in the bins where the clean clip is 40 dB below its peak, against '
    "the input's; negative means the output holds more energy there than its input. The clean "
    "control row is the restoration's own fill of those bins (the codec emptied the high band), "
    'so the noise a method removes is its noisy row against its clean row.',
    '',
    *(_noise_table(result['noise'], [m for m in ms]) if result.get('noise') else ['–']),
    '',
    '## Diversity: output spread across sampling seeds on the same input',
    '',
    '| run | std of log-magnitude over seeds (dB) | high band (dB) | LSD between seeds |',
    '|---|---|---|---|',
    *(
      f'| {g} | {_fmt(d["log_spectral_std_db"], 2)} | {_fmt(d["log_spectral_std_db_high"], 2)} '
      f'| {_fmt(d["pairwise_lsd"], 2)} |'
      for g, d in result['diversity'].items()
    ),
    '',
    '## Learning curves',
    '',
    '![learning curves](learning_curves.png)',
    '',
    f'Seconds of training (warm start included) until validation LSD-high <= {_fmt(target)}: '
    + ', '.join(f'{m} {_fmt(v, 3)}' for m, v in reached.items())
    + ' (– never, within the run).',
    '',
  ]
  path = os.path.join(out, 'study.md')
  with open(path, 'w') as f:
    f.write('\n'.join(lines))
  return path
