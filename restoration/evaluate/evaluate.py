"""Score a trained run: ``python -m restoration.evaluate --workdir=DIR [--data=DIR_OR_FILES]``.

Two sources of (clean, degraded) pairs, scored the same way:
- the test split of the run's own dataset (prepared if missing): every item and every
  configured degradation, each full clip restored in one pass (fixed batch, one compile per
  step count), as training's validation does;
- ``data``: the user's clean files (a directory, or files separated by commas), loaded at the
  model's rate and layout, cropped to their middle ``max_seconds``, degraded on the fly with
  each configured codec and restored by the chunked path of ``inference.Restorer``.

Iterative methods (diffusion) are scored at every step count of ``config.sampling.eval_steps``
(or ``steps_list``) to show the quality/speed trade-off; single-pass models once. Both the
restored output and the degraded input are scored against the clean clip with
``metrics.compute_all`` (stereo: per channel, averaged).

Perceptual metrics cost too much for every clip on CPU (ViSQOL about 0.3 s per 2 s clip), so
a fixed subset gets them: the first ``perceptual_items`` items of each kind at one degradation
(:func:`damage_degradation`: the lowest-bitrate MP3), PESQ-WB and STOI on speech, ViSQOL on
music, all three on items of unknown kind (user files, directory and TFDS sources).
``optional_metrics`` still means every optional metric on every clip.

Writes ``OUT/metrics.json`` (default OUT: ``DIR/eval``) and ``OUT/metrics.md``::

  {'workdir', 'method', 'checkpoint_step', 'params', 'sample_rate', 'data', 'num_clips',
   'audio_seconds', 'degradations', 'optional_metrics',
   'perceptual': None (disabled) | {'skipped': why} |
                 {'degradation', 'rule': why that one, 'per_kind', 'metrics': {kind: [metric]},
                  'items': [{'key', 'kind'}], 'seconds': wall seconds scoring the subset},
   'runs': [{'steps': int | None, 'network_calls': model passes per clip (per chunk for
             ``data``), 'real_time_factor': wall seconds per second of single-channel audio
             (compiled; a second call is timed),
             'metrics': {degradation | 'all': {'restored' | 'degraded':
                                               {metric: {'mean', 'std', 'n'}}}},
             'perceptual': None | {'restored' | 'degraded': {metric: {'mean', 'std', 'n'}}},
             'harm': {degradation | 'all': ``harm.summarize``: clips made worse than their
                      input, by which criteria, and whether restoring is recommended}}]}

The harm counts (:mod:`restoration.evaluate.harm`) judge the per-clip scores computed above,
the perceptual subset's joined to its clips. Undefined values (NaN) are written as null.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from restoration import metrics as metrics_lib
from restoration.data.spec import read_item
from restoration.errors import UserError
from restoration.evaluate import harm as harm_lib

log = logging.getLogger('restoration')

# Columns of metrics.md: (metric, header); optional ones appear when they were computed.
TABLE_COLUMNS = (
  ('lsd', 'LSD'),
  ('lsd_high', 'LSD-high'),
  ('si_sdr', 'SI-SDR'),
  ('mel_distance', 'mel dist.'),
  ('high_band_energy_ratio', 'HF energy'),
  ('spec_mse', 'spec MSE'),
  ('pesq_wb', 'PESQ'),
  ('stoi', 'STOI'),
  ('visqol', 'ViSQOL'),
  ('dnsmos_ovrl', 'DNSMOS'),
  ('dnsmos_sig', 'DNSMOS SIG'),
  ('dnsmos_bak', 'DNSMOS BAK'),
)
_DATA_PATHS = ('data_dir', 'audio_dir', 'tfds_data_dir')
PREFERRED_DEGRADATION = 'mp3:16'  # the demo's lowest MP3 bitrate: its cut-off is plain to see
# The perceptual metrics that suit each kind of clip; 'unknown' when the source has no kinds.
PERCEPTUAL_BY_KIND = {
  'speech': ('pesq_wb', 'stoi', *metrics_lib.DNSMOS),
  'music': ('visqol',),
  'unknown': ('pesq_wb', 'stoi', 'visqol', *metrics_lib.DNSMOS),
}


class EvaluateError(UserError, ValueError):
  """Bad evaluation input; the message names it."""


def damage_degradation(degradations: Sequence[str]) -> tuple[str, str]:
  """``(degradation, why)``: the one the perceptual subset and the figure use, the lowest-bitrate
  MP3 (``PREFERRED_DEGRADATION`` in the demo; smoke runs have mp3:24), else the lowest bitrate
  of any codec. ``why`` says which fallback applied, for the JSON and the report."""
  from restoration.data import codecs

  parsed = [(codecs.parse_degradation(d), d) for d in degradations]
  mp3 = [p for p in parsed if p[0][0] == 'mp3']
  chosen = min(mp3 or parsed, key=lambda p: p[0][1])[1]
  if chosen == PREFERRED_DEGRADATION:
    return chosen, 'the lowest-bitrate MP3 configured'
  if mp3:
    return chosen, f'the lowest-bitrate MP3 configured ({PREFERRED_DEGRADATION} is not)'
  return chosen, 'the lowest bitrate configured (no MP3 is)'


def source_kinds(data_cfg) -> tuple[str, ...]:
  """The kinds of clip a source holds: the synthetic corpus has speech and music."""
  return ('speech', 'music') if data_cfg.source == 'synthetic' else ('unknown',)


def item_kind(key: str, data_cfg) -> str:
  """'speech' or 'music' for a synthetic item (``synthesis.material`` with the seed the builder
  synthesised it with), else 'unknown': files and TFDS examples carry no kind."""
  from restoration.data import synthesis

  if data_cfg.source != 'synthetic':
    return 'unknown'
  return synthesis.material(int(key.rsplit('/', 1)[1]), int(data_cfg.shuffle_seed))


class _Perceptual:
  """Accumulates the perceptual subset: the first ``per_kind`` items of each kind offered, each
  scored (degraded and every run's output) with the metrics of ``PERCEPTUAL_BY_KIND[kind]``;
  ``clips`` holds each item's index among the clips scored at ``degradation``."""

  def __init__(self, per_kind: int, degradation: str, kind_of: Callable[[str], str], runs: int):
    self.per_kind, self.degradation, self.kind_of = per_kind, degradation, kind_of
    self.items: list[dict] = []
    self.clips: list[int] = []
    self.degraded: list[dict] = []
    self.restored: list[list[dict]] = [[] for _ in range(runs)]
    self.seconds = 0.0

  def offer(
    self,
    key: str,
    clip: int,
    clean: np.ndarray,
    degraded: np.ndarray,
    outputs: Sequence[np.ndarray],
    sr: int,
  ) -> None:
    kind = self.kind_of(key)
    if sum(it['kind'] == kind for it in self.items) >= self.per_kind:
      return
    start = time.perf_counter()
    names = PERCEPTUAL_BY_KIND[kind]
    self.items.append({'key': key, 'kind': kind})
    self.clips.append(clip)
    self.degraded.append(metrics_lib.perceptual(_squeeze(clean), _squeeze(degraded), sr, names))
    for scores, y in zip(self.restored, outputs):
      scores.append(metrics_lib.perceptual(_squeeze(clean), _squeeze(y), sr, names))
    self.seconds += time.perf_counter() - start

  def describe(self, rule: str) -> dict:
    kinds = {it['kind'] for it in self.items}
    return {
      'degradation': self.degradation,
      'rule': rule,
      'per_kind': self.per_kind,
      'metrics': {k: list(v) for k, v in PERCEPTUAL_BY_KIND.items() if k in kinds},
      'items': self.items,
      'seconds': self.seconds,
    }

  def run_scores(self, i: int) -> dict:
    return {
      'restored': metrics_lib.aggregate(self.restored[i]),
      'degraded': metrics_lib.aggregate(self.degraded),
    }

  def join(self, i: int, degraded: list[dict], restored: list[dict]) -> tuple[list, list]:
    """The clip scores at :attr:`degradation` with the subset's added to its clips (run ``i``)."""
    degraded, restored = list(degraded), list(restored)
    for j, clip in enumerate(self.clips):
      degraded[clip] = {**degraded[clip], **self.degraded[j]}
      restored[clip] = {**restored[clip], **self.restored[i][j]}
    return degraded, restored


def _real_time_factor(fn: Callable[[], Any], channel_seconds: float) -> float:
  """Wall seconds per second of audio of ``fn``, timed on a second call (compile excluded)."""
  fn()
  start = time.perf_counter()
  fn()
  return (time.perf_counter() - start) / channel_seconds


def _fold(clips: np.ndarray) -> np.ndarray:
  """``[N, S, C]`` -> ``[N * C, S]``: each channel is restored on its own."""
  return np.moveaxis(clips, 2, 1).reshape(-1, clips.shape[1])


def _unfold(waves: np.ndarray, channels: int) -> np.ndarray:
  return np.moveaxis(waves.reshape(-1, channels, waves.shape[-1]), 1, 2)


def _squeeze(x: np.ndarray) -> np.ndarray:
  return x[:, 0] if x.shape[1] == 1 else x


def _test_split(
  config, max_items: int | None
) -> tuple[str, Callable[[int, int], Iterator[tuple[np.ndarray, np.ndarray]]], int, float]:
  """``(description, pairs, count, clip seconds)`` of the test split, where
  ``pairs(degradation index, batch)`` yields (keys, clean, degraded ``[n, S, C]``) batches read
  on demand, so memory stays flat however large the split."""
  from restoration.data import builder as builder_lib

  builder = builder_lib.prepare(config.data)
  source = builder.as_data_source('test')
  count = len(source) if max_items is None else min(len(source), max_items)
  if count == 0:
    raise EvaluateError(f'the test split of {builder.builder_config.name} is empty')

  def pairs(d: int, batch: int):
    for start in range(0, count, batch):
      items = [source[i] for i in range(start, min(count, start + batch))]
      clean, degraded = (np.stack(waves) for waves in zip(*(read_item(it, d) for it in items)))
      keys = [k.decode() if isinstance(k, bytes) else k for k in (it['key'] for it in items)]
      yield keys, clean, degraded

  return (
    f'test split of {builder.builder_config.name} in {config.data.data_dir}',
    pairs,
    count,
    float(config.data.clip_seconds),
  )


def _user_files(data: str | Sequence[str]) -> list[str]:
  from restoration.data import sources

  if isinstance(data, str) and os.path.isdir(data):
    files = [os.fspath(p) for p in sources.list_audio_files(data)]
    if not files:
      raise EvaluateError(
        f'data={data!r}: no audio files ({", ".join(sources.AUDIO_EXTENSIONS)}) under it'
      )
    return files
  files = [f.strip() for f in data.split(',')] if isinstance(data, str) else list(data)
  files = [f for f in files if f]
  if not files:
    raise EvaluateError(f'data={data!r}: expected a directory or comma-separated audio files')
  return files


def _load_clean(files: list[str], config, max_seconds: float) -> list[np.ndarray]:
  """Each file at the model's rate and channel count, ``[S, C]``, its middle ``max_seconds``."""
  from restoration.data import audio

  sr, keep = int(config.data.sample_rate), int(round(max_seconds * config.data.sample_rate))
  clips, above = [], 0
  for path in files:
    wave, rate = audio.load(path, channels=int(config.data.channels))
    wave, above = audio.resample(wave, rate, sr), above + (rate > sr)
    wave = wave.reshape(wave.shape[0], -1)
    start = max(0, (wave.shape[0] - keep) // 2)
    wave = wave[start : start + keep]
    if not np.any(wave):
      raise EvaluateError(f'{path}: silent; every metric is relative to the clean signal')
    clips.append(wave)
  if above:  # said once: restoring such a file keeps its band above, scoring cannot
    log.warning(
      'the model is band-limited to %g Hz (it runs at %d Hz): %d of the --data files have a '
      'higher rate and are scored resampled to it, without the band above (restore passes that '
      'band through unchanged)',
      sr / 2,
      sr,
      above,
    )
  return clips


def _score(clean: np.ndarray, est: np.ndarray, sr: int, params, optional: bool) -> dict:
  return metrics_lib.compute_all(
    _squeeze(clean), _squeeze(est), sr, params=params, optional=optional
  )


def _harm(
  keys: dict[str, list[str]],
  degraded: dict[str, list[dict]],
  restored: dict[str, list[dict]],
  perceptual: _Perceptual | None,
  i: int,
) -> dict:
  """Run ``i``'s harm per degradation, from the clip scores already computed."""
  degraded, restored = dict(degraded), dict(restored)
  if perceptual:
    d = perceptual.degradation
    degraded[d], restored[d] = perceptual.join(i, degraded[d], restored[d])
  return harm_lib.by_degradation(degraded, restored, keys)


def _aggregate(scores: dict[str, dict[str, list]]) -> dict:
  """{degradation: {kind: [clip scores]}} -> aggregated, plus 'all' over degradations."""
  out = {d: {k: metrics_lib.aggregate(v) for k, v in kinds.items()} for d, kinds in scores.items()}
  kinds = next(iter(scores.values())).keys()
  out['all'] = {k: metrics_lib.aggregate([s for d in scores.values() for s in d[k]]) for k in kinds}
  return out


def evaluate_workdir(
  workdir: str,
  *,
  config=None,
  data: str | Sequence[str] | None = None,
  checkpoint: str | int = 'best',
  steps_list: Sequence[int] | None = None,
  max_items: int | None = None,
  out_dir: str | None = None,
  optional_metrics: bool = True,
  max_seconds: float = 30.0,
  batch_size: int = 16,
  perceptual_items: int = 8,
  restorer=None,
) -> dict:
  """Scores ``workdir``'s ``checkpoint``; writes metrics.json and metrics.md; returns the dict.

  ``config``, when given, supplies the data paths (``data.data_dir``, ``audio_dir``,
  ``tfds_data_dir``) and ``sampling.eval_steps``; the model and everything else come from the
  config saved with the checkpoint. ``max_items`` caps test items or files; ``batch_size``
  is the number of single-channel clips per compiled call on the test split.
  ``perceptual_items``: items of each kind in the perceptual subset (0 disables it).
  ``restorer``: ``workdir``'s :class:`restoration.inference.Restorer`, already loaded (then
  ``checkpoint`` is the one it loaded), so that several scorings share one load.
  """
  from restoration import inference, methods, spectral
  from restoration import state as state_lib
  from restoration.data import codecs

  if max_items is not None and max_items < 1:
    raise EvaluateError(f'max_items={max_items!r}: expected a positive count')
  if perceptual_items < 0:
    raise EvaluateError(f'perceptual_items={perceptual_items!r}: expected a count >= 0')
  restorer = restorer or inference.Restorer(workdir, checkpoint=checkpoint)
  cfg = copy.deepcopy(restorer.config)  # the data paths below are this scoring's only
  if config is not None:
    for key in _DATA_PATHS:
      cfg.data[key] = config.data[key]
    cfg.sampling.eval_steps = tuple(config.sampling.eval_steps)
  iterative = methods.get(cfg.method).iterative
  steps_list = [int(s) for s in steps_list] if steps_list and iterative else None
  steps_list = steps_list or methods.get(cfg.method).eval_steps(cfg)
  sr, channels = restorer.sample_rate, int(cfg.data.channels)
  p = spectral.SpectralParams.from_config(cfg.spectral)
  degradations = list(cfg.data.degradations)
  runs = [restorer.with_steps(s) for s in steps_list]
  degraded_scores = {d: [] for d in degradations}
  keys_of = {d: [] for d in degradations}  # each clip's key, in the order of the scores
  restored_scores = [{d: [] for d in degradations} for _ in runs]
  rtf = [math.nan] * len(runs)
  degradation, rule = damage_degradation(degradations)
  missing = [
    n for n in PERCEPTUAL_BY_KIND['unknown'] if n not in metrics_lib.available_optional_metrics()
  ]
  perceptual = (
    _Perceptual(
      perceptual_items,
      degradation,
      (lambda key: item_kind(key, cfg.data)) if data is None else (lambda key: 'unknown'),
      len(runs),
    )
    if perceptual_items and not missing
    else None
  )
  skipped = (
    {'skipped': f'{", ".join(missing)}: pip install .[metrics]'}
    if perceptual_items and missing
    else None
  )

  if data is None:
    description, pairs, count, clip_seconds = _test_split(cfg, max_items)
    audio_seconds = count * clip_seconds
    items_per_call = max(1, min(batch_size, count * channels) // channels)
    batch = items_per_call * channels  # one compiled shape; the last call is zero-padded
    calls = [0] * len(runs)
    for d, name in enumerate(degradations):
      for keys, clean, degraded in pairs(d, items_per_call):
        waves = _fold(degraded)
        padded = np.pad(waves, ((0, batch - waves.shape[0]), (0, 0)))
        first = len(degraded_scores[name])
        keys_of[name] += keys
        degraded_scores[name] += [
          _score(c, x, sr, p, optional_metrics) for c, x in zip(clean, degraded)
        ]
        outputs = []
        for i, r in enumerate(runs):
          start = time.perf_counter()
          restored = r.restore_waves(padded)
          if calls[i] == 1:  # the second call runs compiled: the model's speed
            rtf[i] = (time.perf_counter() - start) / (batch * waves.shape[1] / sr)
          calls[i] += 1
          outputs.append(_unfold(restored[: waves.shape[0]], channels))
          restored_scores[i][name] += [
            _score(c, y, sr, p, optional_metrics) for c, y in zip(clean, outputs[i])
          ]
        if perceptual and name == degradation:
          for j, key in enumerate(keys):
            perceptual.offer(key, first + j, clean[j], degraded[j], [o[j] for o in outputs], sr)
    for i, r in enumerate(runs):  # one call in all (a tiny split): time a compiled one
      if math.isnan(rtf[i]):
        rtf[i] = _real_time_factor(lambda: r.restore_waves(padded), batch * waves.shape[1] / sr)
  else:
    files = _user_files(data)[:max_items]
    description = files
    cleans = _load_clean(files, cfg, max_seconds)
    audio_seconds = sum(c.shape[0] for c in cleans) / sr
    for name in degradations:
      codec, kbps = codecs.parse_degradation(name)
      for key, clean in zip(files, cleans):
        degraded = codecs.degrade(clean, sr, codec, kbps)
        keys_of[name].append(key)
        degraded_scores[name].append(_score(clean, degraded, sr, p, optional_metrics))
        outputs = []
        for i, r in enumerate(runs):
          if math.isnan(rtf[i]):
            rtf[i] = _real_time_factor(lambda: r.restore_array(degraded, sr), degraded.size / sr)
          outputs.append(r.restore_array(degraded, sr))
          restored_scores[i][name].append(_score(clean, outputs[i], sr, p, optional_metrics))
        if perceptual and name == degradation:
          perceptual.offer(key, len(keys_of[name]) - 1, clean, degraded, outputs, sr)

  result = {
    'workdir': os.fspath(workdir),
    'method': cfg.method,
    'checkpoint_step': int(restorer.checkpoint_step),
    'params': state_lib.count_scalars(restorer.params),
    'sample_rate': sr,
    'data': description,
    'num_clips': len(next(iter(degraded_scores.values()))),
    'audio_seconds': audio_seconds,
    'degradations': degradations,
    'optional_metrics': list(metrics_lib.available_optional_metrics() if optional_metrics else ()),
    'perceptual': perceptual.describe(rule) if perceptual else skipped,
    'runs': [
      {
        'steps': r.steps if iterative else None,
        'network_calls': r.network_calls,
        'real_time_factor': rtf[i],
        'metrics': _aggregate(
          {
            d: {'restored': restored_scores[i][d], 'degraded': degraded_scores[d]}
            for d in degradations
          }
        ),
        'perceptual': perceptual.run_scores(i) if perceptual else None,
        'harm': _harm(keys_of, degraded_scores, restored_scores[i], perceptual, i),
      }
      for i, r in enumerate(runs)
    ],
  }
  write(result, out_dir or os.path.join(workdir, 'eval'))
  return result


def finite(x: Any) -> Any:
  """NaN and inf -> None, so the file is strict JSON."""
  if isinstance(x, dict):
    return {k: finite(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [finite(v) for v in x]
  if isinstance(x, float) and not math.isfinite(x):
    return None
  return x


def markdown(result: dict) -> str:
  """A readable table: one row per degradation (and step count), cells 'restored (input)'."""
  present = set()
  for run in result['runs']:
    for kinds in run['metrics'].values():
      present |= set(kinds['restored'])
  columns = [(k, h) for k, h in TABLE_COLUMNS if k in present]

  data = result['data']
  data = data if isinstance(data, str) else f'{len(data)} files'
  lines = [
    f'# Evaluation: {result["workdir"]}',
    '',
    f'{result["method"]}, checkpoint step {result["checkpoint_step"]}, '
    f'{result["params"]:,} parameters; {data}: {result["num_clips"]} clips '
    f'({result["audio_seconds"]:.1f} s) x {len(result["degradations"])} degradations.',
    '',
    'Cells: restored (degraded input), means over clips. Steps: sampler steps; NFE: network '
    'calls per clip; RTF: wall seconds per second of audio (compiled).',
    '',
    '| degradation | steps | NFE | RTF | ' + ' | '.join(h for _, h in columns) + ' |',
    '|' + '---|' * (4 + len(columns)),
  ]
  for run in result['runs']:
    steps = '-' if run['steps'] is None else str(run['steps'])
    for name, kinds in run['metrics'].items():
      lines.append(
        f'| {name} | {steps} | {run["network_calls"]} | '
        f'{run["real_time_factor"]:.3g} | ' + ' | '.join(_cell(kinds, k) for k, _ in columns) + ' |'
      )
  return '\n'.join(lines + _perceptual_lines(result) + _harm_lines(result)) + '\n'


def _cell(kinds: dict, key: str) -> str:
  return _pair(*(kinds[kind].get(key, {}).get('mean') for kind in ('restored', 'degraded')))


def _pair(restored: float | None, degraded: float | None) -> str:
  """'restored (degraded input)', '-' for an undefined value."""
  return '{} ({})'.format(
    *('-' if v is None or not math.isfinite(v) else f'{v:.3g}' for v in (restored, degraded))
  )


def _perceptual_lines(result: dict) -> list[str]:
  """The perceptual subset's table (one row per step count), or why it was skipped."""
  info = result.get('perceptual')
  if not info:
    return []
  if 'skipped' in info:
    return ['', f'Perceptual metrics skipped: {info["skipped"]}.']
  headers = dict(TABLE_COLUMNS)
  names = [
    n for n in PERCEPTUAL_BY_KIND['unknown'] if any(n in m for m in info['metrics'].values())
  ]
  counts = ', '.join(
    f'{sum(it["kind"] == k for it in info["items"])} {k} ({", ".join(headers[n] for n in m)})'
    for k, m in info['metrics'].items()
  )
  lines = [
    '',
    f'Perceptual subset at {info["degradation"]} ({info["rule"]}): {counts}; scored in '
    f'{info["seconds"]:.1f} s.',
    '',
    '| steps | ' + ' | '.join(headers[n] for n in names) + ' |',
    '|' + '---|' * (1 + len(names)),
  ]
  for run in result['runs']:
    steps = '-' if run['steps'] is None else str(run['steps'])
    lines.append(f'| {steps} | ' + ' | '.join(_cell(run['perceptual'], n) for n in names) + ' |')
  return lines


def _harm_lines(result: dict) -> list[str]:
  """The harm table: per degradation (and step count), the clips restoring made worse, which
  criteria fired, and whether restoring is recommended there."""
  runs = [r for r in result['runs'] if r.get('harm')]
  if not runs:
    return []
  lines = [
    '',
    'Harm: clips whose restored output is worse than their degraded input (which ones: '
    "each run's `harm` in metrics.json).",
    '',
    '| degradation | steps | harmed clips | criteria fired | LSD restored (input) | restoring |',
    '|---|---|---|---|---|---|',
  ]
  for run in runs:
    steps = '-' if run['steps'] is None else str(run['steps'])
    for name, s in run['harm'].items():
      lines.append(
        f'| {name} | {steps} | {harm_lib.count_text(s)} | {harm_lib.criteria_text(s)} | '
        f'{_pair(s["lsd"]["restored"], s["lsd"]["input"])} | {harm_lib.verdict(s)} |'
      )
  return lines + ['', harm_lib.rule_text()]


def write(result: dict, out_dir: str) -> None:
  """metrics.json and metrics.md in ``out_dir``, each replaced whole (never half written)."""
  os.makedirs(out_dir, exist_ok=True)
  result = finite(result)
  for name, text in (
    ('metrics.json', json.dumps(result, indent=2) + '\n'),
    ('metrics.md', markdown(result)),
  ):
    path = os.path.join(out_dir, name)
    with open(path + '.part', 'w') as f:
      f.write(text)
    os.replace(path + '.part', path)
  log.info('wrote %s', os.path.join(out_dir, 'metrics.json'))
