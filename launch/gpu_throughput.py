"""Accelerator throughput in one call: the benchmark's train section for every method in float32
and bfloat16, in one process, with traces of the steps worth profiling.

  python launch/gpu_throughput.py --out=OUT [--size=base] [--steps=20] [--budget_s=480]
      [--methods=regression,gan,...] [--dtypes=bfloat16,float32]
      [--profile=regression:bfloat16,gan:bfloat16] [--extra=METHOD:DTYPE:field=value;...]

Each measurement is one ``restoration.benchmark`` train section (steps/s, audio s/s, FLOPs per
step, TFLOP/s, MFU, XLA's temporary bytes); ``--extra`` adds runs with config overrides (e.g.
``regression:bfloat16:train.global_batch=128``). Runs go bf16 first, then fp32, then the
extras; none starts after ``--budget_s`` seconds, so a lease's command limit yields what it
measured. ``OUT/results.json`` (every run, the profiles' costliest ops included) and
``OUT/summary.md`` (a table) are rewritten after each run; traces and the optimised HLO of the
profiled steps go to ``--trace_dir`` (default ``OUT/trace``). It imports JAX, Flax, Optax,
Orbax, absl and ml-collections only: no TensorFlow, codecs or data.
"""

from __future__ import annotations

import ast
import json
import sys
import time
import traceback
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ('regression', 'gan', 'wgan', 'projected_gan', 'predictive_bridge', 'vocoder')

_OUT = flags.DEFINE_string('out', None, 'Folder for results.json and summary.md.', required=True)
_SIZE = flags.DEFINE_string('size', 'base', 'Config size (and presets) after the colon.')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps per run (after compile and one step).')
_METHODS = flags.DEFINE_list('methods', list(METHODS), 'Methods (configs/<method>.py).')
_DTYPES = flags.DEFINE_list('dtypes', ['bfloat16', 'float32'], 'train.compute_dtype values.')
_PROFILE = flags.DEFINE_list(
  'profile', ['regression:bfloat16', 'gan:bfloat16'], 'METHOD:DTYPE runs to trace.'
)
_EXTRA = flags.DEFINE_multi_string(
  'extra', [], "More runs: 'METHOD:DTYPE:field=value;field=value' (after the plain ones)."
)
_BUDGET = flags.DEFINE_float('budget_s', 480.0, 'Start no run after this many seconds.')
_TRACE_DIR = flags.DEFINE_string('trace_dir', None, 'Traces (default OUT/trace).')


def parse_runs(
  methods: list[str], dtypes: list[str], extra: list[str]
) -> list[tuple[str, str, dict]]:
  """``(method, dtype, overrides)`` in the order they run: each dtype over every method, then
  the extras."""
  runs = [(m, d, {}) for d in dtypes for m in methods]
  for spec in extra:
    parts = spec.split(':', 2)
    if len(parts) != 3:
      raise app.UsageError(f'--extra={spec!r}: expected METHOD:DTYPE:field=value[;field=value]')
    method, dtype, fields = parts
    overrides = {}
    for item in filter(None, fields.split(';')):
      field, sep, value = item.partition('=')
      if not sep:
        raise app.UsageError(f'--extra={spec!r}: {item!r} is not field=value')
      try:
        overrides[field] = ast.literal_eval(value)
      except (ValueError, SyntaxError):
        overrides[field] = value  # a plain string
    runs.append((method, dtype, overrides))
  return runs


def label(method: str, dtype: str, overrides: dict) -> str:
  return ' '.join([f'{method}:{dtype}', *(f'{k}={v}' for k, v in overrides.items())])


def summary_table(results: dict[str, dict]) -> str:
  """One markdown row per run; failed runs say so."""
  show = lambda v, fmt: '–' if v is None else fmt.format(v)
  rows = [
    '| run | steps/s | audio s/s | GFLOP/step | TFLOP/s | MFU | temp MB | compile s |',
    '|---|---|---|---|---|---|---|---|',
  ]
  for name, r in results.items():
    if 'error' in r:
      rows.append(f'| {name} | failed: {r["error"]} |||||||')
      continue
    flops = r['train_flops_per_step']
    rows.append(
      f'| {name} | {r["train_steps_per_s"]:.3g} | {r["train_audio_seconds_per_s"]:.4g} | '
      f'{show(None if flops is None else flops / 1e9, "{:.4g}")} | '
      f'{show(r["train_tflops_per_s"], "{:.3g}")} | {show(r["train_mfu"], "{:.1%}")} | '
      f'{show(r["train_temp_mb"], "{:.0f}")} | {r["train_compile_seconds"]:.0f} |'
    )
  return '\n'.join(rows) + '\n'


def top_ops_text(name: str, profile: dict, n: int = 12) -> str:
  lines = [f'{name}: {profile["device_ms_per_step"]:.2f} ms device time per step']
  for op in profile['ops'][:n]:
    lines.append(
      f'  {op["share"]:6.1%} {op["ms_per_step"]:8.3f} ms x{op["calls_per_step"]:.0f} '
      f'{op["op"]}  [{op["kernel"][:70]}]'
    )
  return '\n'.join(lines)


def main(argv) -> None:
  del argv
  import jax

  from restoration import benchmark
  from restoration.config import load_config, set_field

  start = time.perf_counter()
  out = Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  trace_root = Path(_TRACE_DIR.value or out / 'trace')
  profiled = set(_PROFILE.value)
  print(f'devices: {jax.devices()}', flush=True)
  results: dict[str, dict] = {}
  for method, dtype, overrides in parse_runs(_METHODS.value, _DTYPES.value, _EXTRA.value):
    name = label(method, dtype, overrides)
    if time.perf_counter() - start > _BUDGET.value:
      print(f'{name}: not run (past --budget_s={_BUDGET.value:g})', flush=True)
      continue
    trace = None
    if f'{method}:{dtype}' in profiled and not overrides:
      trace = str(trace_root / f'{method}-{dtype}')
    try:
      config = load_config(method, _SIZE.value)
      set_field(config, 'train.compute_dtype', dtype)
      for field, value in overrides.items():
        set_field(config, field, value)
      r = benchmark.run(config, {'train'}, _STEPS.value, profile_dir=trace)
    except Exception as e:  # One failed run must not cost the lease the others.
      traceback.print_exc()
      r = {'error': f'{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ""}'}
    results[name] = r
    if 'train_profile' in r:
      print(top_ops_text(name, r['train_profile']), flush=True)
    (out / 'results.json').write_text(json.dumps(results, indent=1) + '\n')
    (out / 'summary.md').write_text(summary_table(results))
    print(f'[{time.perf_counter() - start:.0f} s] {name} done', flush=True)
  print(summary_table(results), flush=True)


if __name__ == '__main__':
  from restoration.cli import flags_parser

  app.run(main, flags_parser=flags_parser('gpu_throughput'))
