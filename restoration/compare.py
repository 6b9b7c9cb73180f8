"""The comparison pipeline behind ``make demo``: train every method on one dataset, evaluate
each on the same test split and real recordings, and write the report.

Writes into ``out``: one workdir per method (so ``restore``, ``evaluate`` and the notebooks can
load each), ``report.md`` (the comparison table, every row measured),
``spectrograms.png`` (clean / degraded / each method on the most damaged speech and music clip,
and their band above the codec's cut-off), ``examples/*.wav`` and ``real_recordings.json``.
Re-running resumes: finished trainings are not repeated (their checkpoints are final) and
evaluations are recomputed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence

import numpy as np

from restoration import plan, records
from restoration.data.spec import read_item

log = logging.getLogger('restoration')


EQUAL_BUDGET = 'regression_equal_budget'
# Test items (each under every degradation) that an iterative method is scored on at every
# sampler step count; the step count with the lowest LSD there is scored on the whole split.
SWEEP_ITEMS = 16
# The codec settings the real recordings are scored at: the range users' files come in, from
# the lowest bitrates (where restoring should help) to near-transparent ones (where it must do
# no harm), AAC included though no demo model trains on it.
REAL_DEGRADATIONS = (
  'mp3:16',
  'mp3:32',
  'mp3:64',
  'mp3:128',
  'opus:16',
  'opus:32',
  'opus:64',
  'aac:64',
  'vorbis:64',
)
VISQOL_DEGRADATIONS = ('mp3:16', 'mp3:64')  # ViSQOL's cost allows two settings
# The full-band models: their preset, and the music bitrates their real recordings are scored
# at (44.1 kHz stereo): MP3 cuts the band at 14-17 kHz there, Opus keeps most of it.
FULL_BAND = 'music44k'
FULL_BAND_DEGRADATIONS = ('mp3:64', 'mp3:128', 'opus:48', 'opus:96')
FULL_BAND_VISQOL = ('mp3:64',)
# The scores kept per clip (not only their means): what the full-band target is judged on.
PER_CLIP = ('high_band_energy_ratio', 'si_sdr')
# Below half a 16-bit step everywhere, an output writes the same file as its input.
SAME_AS_INPUT = 2.0**-16


def _budget_seconds(workdir: str) -> float:
  """Wall seconds a run cost, its warm start included (from its train_log.jsonl)."""
  return records.source(workdir).wall_seconds


def run(
  out: str,
  size: str,
  methods: Sequence[str],
  data_dir: str,
  real: bool,
  optional_metrics: bool = False,
  warm_start: Mapping[str, str] | None = None,
  equal_budget: bool = False,
  full_band: Sequence[str] = (),
) -> dict:
  """Trains, evaluates and reports ``methods`` (configs/<method>.py at ``size``).

  ``warm_start`` maps a method to the run whose main network it fine-tunes (``train.init_from``
  under the ``finetune`` preset; the demo's default is ``plan.WARM_START``), another of
  ``methods``, trained first; a method that ``starts_from`` another (the predictive bridge's
  frozen predictor) gets that run without asking (``plan.sources``). ``equal_budget`` adds the column
  :data:`EQUAL_BUDGET`: the regression run continued for as long as the most expensive
  warm-started run took on top of it, so that predictive + generative methods are compared
  with a baseline of the same total training time. ``full_band``: methods also trained at
  :data:`FULL_BAND` (44.1 kHz stereo music; same warm starts, in ``out/music44k``), scored on
  the test split and on the real music at :data:`FULL_BAND_DEGRADATIONS`.
  """
  from restoration.evaluate import report

  os.makedirs(out, exist_ok=True)
  timings: dict = {}
  start = time.time()
  planned = _plan(methods, warm_start or {})
  configs = {r.name: plan.config(r, size, data_dir, out) for r in planned}
  if not _train_group(out, planned, configs, timings):
    return {'timings': timings}
  runs = list(methods)
  started = [r.name for r in planned if r.source]
  if equal_budget and started:
    base = 'regression'
    extra = max(
      _budget_seconds(os.path.join(out, m)) - _budget_seconds(os.path.join(out, base))
      for m in started
    )
    rate = report.train_summary(os.path.join(out, base))['steps_per_second']
    steps = max(1, int(round(extra * rate)))
    fields = tuple((f'train.{k}', steps) for k in ('num_steps', 'eval_every', 'checkpoint_every'))
    continued = plan.Run(EQUAL_BUDGET, base, source=base, fields=fields)
    configs[EQUAL_BUDGET] = plan.config(continued, size, data_dir, out)
    runs.append(EQUAL_BUDGET)
    if not _train_group(out, [continued], configs, timings, prepare=False):
      return {'timings': timings}
  wide: dict = {}
  if full_band:
    wide_out = os.path.join(out, FULL_BAND)
    wide_warm = {m: s for m, s in (warm_start or {}).items() if m in full_band and s in full_band}
    wide_size = f'{size},{FULL_BAND}'
    wide_planned = _plan(full_band, wide_warm)
    wide_configs = {r.name: plan.config(r, wide_size, data_dir, wide_out) for r in wide_planned}
    if not _train_group(wide_out, wide_planned, wide_configs, timings, key=FULL_BAND):
      return {'timings': timings}
  evals, sweeps, restorers = _evaluate_group(out, runs, configs, optional_metrics, timings)
  t = time.time()
  real_results = score_real_recordings(out, runs, restorers=restorers) if real else None
  timings['real_seconds'] = time.time() - t
  t = time.time()
  figure = write_figure_and_examples(out, runs, restorers=restorers)
  timings['figure_seconds'] = time.time() - t
  if full_band:
    w_evals, w_sweeps, w_restorers = _evaluate_group(
      wide_out, list(full_band), wide_configs, optional_metrics, timings, key=FULL_BAND
    )
    t = time.time()
    w_real = (
      score_real_recordings(
        wide_out,
        full_band,
        degradations=FULL_BAND_DEGRADATIONS,
        visqol_degradations=FULL_BAND_VISQOL,
        restorers=w_restorers,
        kinds=('music',),
        cutoff_from_codec=True,
      )
      if real
      else None
    )
    timings[f'real_{FULL_BAND}_seconds'] = time.time() - t
    wide = {
      'out': wide_out,
      'methods': list(full_band),
      'evals': w_evals,
      'sweeps': w_sweeps,
      'real': w_real,
    }
  timings['total_seconds'] = time.time() - start
  report.write_demo_report(out, runs, evals, real_results, timings, figure, sweeps, wide)
  log.info(
    'compare: done in %.0f s; report at %s',
    timings['total_seconds'],
    os.path.join(out, 'report.md'),
  )
  return {
    'evals': evals,
    'sweeps': sweeps,
    'real': real_results,
    'timings': timings,
    FULL_BAND: wide,
  }


def _plan(methods: Sequence[str], warm_start: Mapping[str, str]) -> list[plan.Run]:
  """One run per method, named by it, in training order (sources first)."""
  starts = plan.sources(methods, warm_start)
  runs = []
  for m in methods:
    source, fine_tunes = starts.get(m, (None, False))
    runs.append(plan.Run(m, m, source=source, fine_tunes=fine_tunes))
  return plan.order(runs)


def _train_group(
  out: str,
  runs: Sequence[plan.Run],
  configs: Mapping,
  timings: dict,
  prepare: bool = True,
  key: str = '',
) -> bool:
  """Prepares the runs' dataset (unless ``prepare`` is False) and trains what is missing of
  ``runs`` into ``out/<run>`` (:func:`plan.train_missing`), recording their seconds in
  ``timings`` (names prefixed by ``key``). False when training stopped early (preempted:
  saved, re-run to continue)."""
  from restoration.data import builder as builder_lib

  prefix = f'{key}_' if key else ''
  if prepare:
    t = time.time()
    builder_lib.prepare(configs[runs[0].name].data)
    timings[f'{prefix}prepare_seconds'] = time.time() - t
    log.info(
      'compare: %s dataset ready in %.0f s', key or 'the', timings[f'{prefix}prepare_seconds']
    )
  status = plan.train_missing(runs, configs, out, label='compare')
  for name, s in status.items():
    if s['status'] == 'reused':  # finished earlier: not trained
      timings.setdefault('reused', []).append(prefix + name)
    timings[f'train_{prefix}{name}_seconds'] = s.get('seconds', 0.0)
  return all(s['status'] in plan.TRAINED for s in status.values())


def _evaluate_group(
  out: str,
  runs: Sequence[str],
  configs: Mapping,
  optional_metrics: bool,
  timings: dict,
  key: str = '',
) -> tuple[dict, dict, dict]:
  """``(evals, sweeps, restorers)`` of the runs in ``out``: each on the whole test split; an
  iterative method first on :data:`SWEEP_ITEMS` items at every step count (``sweeps``), then
  at the count with the lowest LSD there. The restorers are loaded once, at that count, for
  the real recordings and the figure."""
  from restoration import methods as methods_lib
  from restoration.evaluate import evaluate, report

  prefix = f'{key}_' if key else ''
  restorers = load_restorers(out, runs)
  evals, sweeps = {}, {}
  for m in runs:
    t = time.time()
    wd, steps = os.path.join(out, m), None
    if len(methods_lib.get(configs[m].method).eval_steps(configs[m])) > 1:
      sweeps[m] = evaluate.evaluate_workdir(
        wd,
        config=configs[m],
        restorer=restorers[m],
        max_items=SWEEP_ITEMS,
        out_dir=os.path.join(wd, 'eval', 'steps'),
        optional_metrics=optional_metrics,
        perceptual_items=0,
      )
      steps = report.best_steps({m: sweeps[m]})[m]
    evals[m] = evaluate.evaluate_workdir(
      wd,
      config=configs[m],
      restorer=restorers[m],
      steps_list=None if steps is None else [steps],
      optional_metrics=optional_metrics,
    )
    timings[f'evaluate_{prefix}{m}_seconds'] = time.time() - t
  steps = report.best_steps(evals)
  return evals, sweeps, {m: r.with_steps(steps[m]) for m, r in restorers.items()}


def score_real_recordings(
  out: str,
  methods: Sequence[str],
  degradations: Sequence[str] = REAL_DEGRADATIONS,
  max_seconds: float = 8.0,
  steps: Mapping[str, int | None] | None = None,
  sources: Sequence | None = None,
  visqol_degradations: Sequence[str] = VISQOL_DEGRADATIONS,
  restorers: Mapping | None = None,
  folder: str | None = None,
  kinds: Sequence[str] = ('speech', 'music'),
  cutoff_from_codec: bool = False,
) -> dict | None:
  """Real speech and music (never trained on), through each codec setting of ``degradations``
  (``"codec:kbps"``): each method vs the input, at the models' rate and channels (stereo
  models get stereo clips). ``steps`` picks a diffusion step count per method (default: the
  config's), unless ``restorers`` gives the loaded ones; ``sources`` defaults to
  ``real_audio.REAL_SOURCES``, of ``kinds``. None, with a warning, when their packages are not
  installed: the program never installs them, ``make real-audio`` does. ``folder``: the clips
  exported there (``real_audio.export_clips``) instead, those it holds. The high band (LSD
  high, energy ratio) starts at a quarter of the rate, or with ``cutoff_from_codec`` at each
  clip's codec cut-off (``figures.codec_cutoff_hz``), the band a full-band model must fill.

  Perceptual metrics as in ``evaluate.PERCEPTUAL_BY_KIND``: PESQ-WB, STOI and DNSMOS on speech
  at every setting, ViSQOL on music at ``visqol_degradations`` only: it is several times slower
  than the others together, so every setting would add minutes to the demo. An output that
  differs from its input by less than :data:`SAME_AS_INPUT` anywhere (the band gate kept it) is
  the same 16-bit file: it gets the input's scores without computing them again."""
  from restoration import metrics
  from restoration.data import codecs
  from restoration.evaluate import evaluate, figures, harm, real_audio

  for spec in [*degradations, *visqol_degradations]:
    codecs.parse_degradation(spec)  # a bad spec fails before any model is loaded
  sources = real_audio.REAL_SOURCES if sources is None else sources
  sources = [s for s in sources if s.kind in kinds]
  if folder is not None:
    sources = real_audio.exported_sources(folder, sources)
    if not sources:
      log.warning('real recordings skipped: no exported clips in %s', folder)
      return None
  missing = [] if folder is not None else real_audio.missing_packages(sources)
  if missing:
    log.warning(
      'real recordings skipped: Debian packages %s are not installed (run `make real-audio` '
      'as root)',
      ' '.join(missing),
    )
    return None
  restorers = restorers or load_restorers(out, methods, steps)
  config = next(iter(restorers.values())).config
  sr, channels = int(config.data.sample_rate), int(config.data.channels)
  clips = real_audio.load_real_clips(
    sr, max_seconds=max_seconds, sources=sources, folder=folder, channels=channels
  )
  available = set(metrics.available_optional_metrics())
  perceptual = {
    kind: {
      'metrics': [n for n in evaluate.PERCEPTUAL_BY_KIND[kind] if n in available],
      'degradations': [d for d in degradations if kind == 'speech' or d in visqol_degradations],
      'seconds': 0.0,  # wall time of these metrics over every row
    }
    for kind in kinds
  }
  scores: dict = {}
  keys: dict = {}  # per group, each clip's key in the order of its scores
  reused = 0
  per_clip: dict = {}  # per kind and setting, per row: each clip's PER_CLIP scores
  for clip in clips:
    kind = clip['kind']
    for spec in degradations:
      degraded = codecs.degrade(clip['wave'], sr, *codecs.parse_degradation(spec))
      cutoff = None
      if cutoff_from_codec:
        clean_mono, degraded_mono = (
          x.reshape(len(x), -1).mean(1) for x in (clip['wave'], degraded)
        )
        cutoff = figures.codec_cutoff_hz(clean_mono, degraded_mono, sr)
      rows = {'input': degraded}
      rows.update({m: r.restore_array(degraded, sr) for m, r in restorers.items()})
      names = perceptual[kind]['metrics'] if spec in perceptual[kind]['degradations'] else []
      groups = (f'{kind} {spec}', kind, 'all')
      for group in groups:
        keys.setdefault(group, []).append(f'{clip["name"]} {spec}')

      def score(est: np.ndarray) -> dict:
        m = metrics.compute_all(clip['wave'], est, sr, optional=False, cutoff_hz=cutoff)
        t = time.perf_counter()
        m.update(metrics.perceptual(clip['wave'], est, sr, names))
        perceptual[kind]['seconds'] += time.perf_counter() - t
        return m

      input_scores = score(degraded)
      for name, est in rows.items():
        same = name == 'input' or np.max(np.abs(est - degraded)) < SAME_AS_INPUT
        reused += int(bool(same) and name != 'input')
        m = input_scores if same else score(est)
        for group in groups:
          scores.setdefault(group, {}).setdefault(name, []).append(m)
        per_clip.setdefault(groups[0], {}).setdefault(name, []).append({k: m[k] for k in PER_CLIP})
  result = {
    'clips': [
      {'name': c['name'], 'kind': c['kind'], 'seconds': len(c['wave']) / sr} for c in clips
    ],
    'sample_rate': sr,
    'channels': channels,
    'degradations': list(degradations),
    'high_band': "above each clip's codec cut-off" if cutoff_from_codec else f'above {sr / 4:g} Hz',
    'outputs_same_as_input': reused,
    'perceptual': perceptual,
    'scores': {g: {n: metrics.aggregate(v) for n, v in rows.items()} for g, rows in scores.items()},
    'per_clip': per_clip,
    # Per group and method, the clips it made worse than the input, from the scores above.
    'harm': {
      g: {m: harm.summarize(rows['input'], rows[m], keys[g]) for m in rows if m != 'input'}
      for g, rows in scores.items()
    },
  }
  with open(os.path.join(out, 'real_recordings.json'), 'w') as f:
    json.dump(result, f, indent=2, default=lambda x: None)
  return result


def load_restorers(
  out: str, methods: Sequence[str], steps: Mapping[str, int | None] | None = None
) -> dict:
  """``{method: Restorer}`` of the runs ``out/<method>`` (``steps[method]`` sampler steps),
  loaded once for evaluation, real recordings and the figure."""
  from restoration.inference import Restorer

  # Whole chunks only: the 16 real clips' varied lengths would compile 3 more shapes per method
  # to save a few seconds of compute.
  return {
    m: Restorer(os.path.join(out, m), steps=(steps or {}).get(m), tail_parts=1) for m in methods
  }


def write_figure_and_examples(
  out: str,
  methods: Sequence[str],
  degradation: str | None = None,
  steps: Mapping[str, int | None] | None = None,
  restorers: Mapping | None = None,
) -> str:
  """spectrograms.png, spectrograms.json (what it shows and why) and examples/<kind>_<panel>.wav:
  per kind of clip, the held-out clip the codec damaged most in the high band
  (``figures.most_damaged``) at ``degradation`` (default ``evaluate.damage_degradation``: the
  lowest-bitrate MP3), restored by every method (diffusion at ``steps[method]`` sampler steps,
  default the config's; or the loaded ``restorers``). Test clips first; validation clips, never
  trained on either, only fill a kind the test split lacks (the smoke test split is all music)."""
  from restoration.data import audio
  from restoration.data import builder as builder_lib
  from restoration.evaluate import evaluate, figures

  restorers = restorers or load_restorers(out, methods, steps)
  cfg = next(iter(restorers.values())).config
  sr = int(cfg.data.sample_rate)
  degs = list(cfg.data.degradations)
  degradation, rule = (
    evaluate.damage_degradation(degs) if degradation is None else (degradation, 'requested')
  )
  builder = builder_lib.get_builder(cfg.data)
  picks: dict = {}
  for split in ('test', 'validation'):
    wanted = [k for k in evaluate.source_kinds(cfg.data) if k not in picks]
    if not wanted:
      break
    source = builder.as_data_source(split)
    candidates = []
    for ex in (source[i] for i in range(len(source))):
      key = ex['key'].decode() if isinstance(ex['key'], bytes) else ex['key']
      kind = evaluate.item_kind(key, cfg.data)
      if kind in wanted:
        clean, degraded = read_item(ex, degs.index(degradation), channel=0)
        candidates.append(figures.Clip(key, kind, split, clean, degraded))
    picks.update(figures.most_damaged(candidates, sr))
  os.makedirs(os.path.join(out, 'examples'), exist_ok=True)
  rows, described = [], []
  for kind in (k for k in evaluate.source_kinds(cfg.data) if k in picks):
    clip, loss, count = picks[kind]
    panels = {'clean': clip.clean, f'degraded {degradation}': clip.degraded}
    panels.update({m: r.restore_array(clip.degraded, sr) for m, r in restorers.items()})
    for name, wave in panels.items():
      audio.save(os.path.join(out, 'examples', f'{kind}_{name.split(" ")[0]}.wav'), wave, sr)
    cutoff = figures.codec_cutoff_hz(clip.clean, clip.degraded, sr)
    rows.append((kind, panels, cutoff))
    described.append(
      {
        'kind': kind,
        'key': clip.key,
        'split': clip.split,
        'lsd_high': loss,
        'candidates': count,
        'cutoff_hz': cutoff,
      }
    )
  title = (
    f'{degradation} ({rule}); per kind, the clip with the highest input LSD-high:\n'
    + '\n'.join(
      f'{c["kind"]}: {c["split"]} clip {c["key"]} (LSD-high {c["lsd_high"]:.2f}, highest of '
      f'{c["candidates"]}), codec cut-off {c["cutoff_hz"] / 1000:.1f} kHz'
      for c in described
    )
  )
  path = os.path.join(out, 'spectrograms.png')
  grid = figures.damage_figure(rows, sr, path, title=title)
  info = {
    'degradation': degradation,
    'degradation_rule': rule,
    'clip_rule': 'per kind, the held-out clip with the highest LSD-high of degraded vs clean',
    'clips': described,
    'panels': grid,
  }
  with open(os.path.join(out, 'spectrograms.json'), 'w') as f:
    json.dump(info, f, indent=2)
  return path
