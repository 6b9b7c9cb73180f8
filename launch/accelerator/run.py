"""One call on an accelerator: prepare the data, train four methods for an equal wall budget each,
evaluate them on the test split and on real recordings, and write ``OUT/accelerator.json`` and
``OUT/accelerator.md``.

On a host with JAX, Flax, Optax and Orbax but no TensorFlow (the lent H200: python3 3.12), from
the repository root, with the wheels of ``launch/accelerator/fetch_wheels.sh`` beside this file
and the real clips exported to a folder (``python -m restoration.evaluate.real_audio
--export=launch/accelerator/real`` where their Debian packages are installed)::

  python3 -m pip install -q --no-index --no-deps --target /tmp/site launch/accelerator/wheels/*.whl
  PYTHONPATH=/tmp/site:. python3 launch/accelerator/run.py --out=$OUT \\
      --real_dir=launch/accelerator/real --workdir=/tmp/accelerator

Phases, in one process:
1. the pairs dataset at ``--size`` with fewer items (``--num_train``...; the codec round trips
   run on every core);
2. the input pipeline's rate (``benchmark.bench_input``);
3. each method's train step in ``--compute_dtype``, compiled and timed alone on synthetic
   batches (``benchmark.bench_train``: compile time, FLOPs, step-only rate and MFU); JAX's
   persistent cache keeps the programs, so training loads them instead of compiling again, and
   the budget is planned on measured compile times;
4. each method trained until ``train.max_train_seconds``, the same for every method: what
   ``--budget_s`` leaves after phases 1-3, ``--overhead_s`` per method (setup, validation,
   saving) and ``--evaluate_s``, split equally. The predictive bridge reads the regression run as
   its frozen predictor (``train.init_from``), so regression trains first;
5. each run scored on the test split (``evaluate.evaluate_workdir``; an iterative method at its
   ``sampling.steps``) and on the real clips (``compare.score_real_recordings``).

Speed is the training loop's own rate (its input pipeline included); MFU is its rate x the
step's FLOPs over ``benchmark.device_peak_tflops``; input/step is the pipeline's examples/s over
the step-only rate's, as the benchmark reports it. Harm counts come from evaluate's
metrics.json where its harm rule wrote them. One method's failure is recorded and the others
go on; the JSON is rewritten after every phase, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
if TYPE_CHECKING:
  from restoration import records

METHODS = ('regression', 'projected_gan', 'predictive_bridge', 'vocoder')
# Modules the run imports beyond JAX and its stack: on the lent host they come from the wheels.
NEEDS = (
  'tensorflow_datasets',
  'array_record',
  'grain',
  'ml_collections',
  'librosa',
  'soundfile',
  'soxr',
  'lameenc',
)
QUALITY = ('lsd', 'lsd_high', 'si_sdr', 'mel_distance')  # columns of the table, evaluate's names

_OUT = flags.DEFINE_string('out', None, 'Folder for accelerator.json and .md.', required=True)
_WORKDIR = flags.DEFINE_string(
  'workdir', 'runs/accelerator', 'Runs, dataset and compilation cache (not under --out).'
)
_SIZE = flags.DEFINE_string('size', 'base', 'Config size (and presets).')
_METHODS = flags.DEFINE_list('methods', list(METHODS), 'Methods, each a configs/<method>.py.')
_DTYPE = flags.DEFINE_enum(
  'compute_dtype', 'bfloat16', ['bfloat16', 'float32'], 'train.compute_dtype.'
)
_BUDGET = flags.DEFINE_float('budget_s', 510.0, 'Wall seconds for everything.')
_OVERHEAD = flags.DEFINE_float(
  'overhead_s',
  20.0,
  'Seconds per method beyond its compile and training (setup, validation, save).',
)
_EVALUATE = flags.DEFINE_float('evaluate_s', 120.0, 'Seconds kept for every evaluation.')
_MIN_TRAIN = flags.DEFINE_float('min_train_s', 5.0, 'Training seconds per method at least.')
_NUM_TRAIN = flags.DEFINE_integer('num_train', 1024, 'Training items to prepare.')
_NUM_VALIDATION = flags.DEFINE_integer('num_validation', 32, 'Validation items to prepare.')
_NUM_TEST = flags.DEFINE_integer('num_test', 32, 'Test items to prepare (and evaluate on).')
_MAX_STEPS = flags.DEFINE_integer(
  'max_steps', 200_000, 'train.num_steps (the schedule); the wall budget ends training first.'
)
_DATA_WORKERS = flags.DEFINE_integer('data_workers', 0, 'data.workers (Grain processes).')
_INPUT_STEPS = flags.DEFINE_integer('input_steps', 20, 'Batches timed for the input rate.')
_BENCH_STEPS = flags.DEFINE_integer('bench_steps', 10, 'Steps timed for the step-only rate.')
_REAL_DIR = flags.DEFINE_string(
  'real_dir', None, 'Exported real clips (real_audio --export); default: the Debian packages.'
)


def check_imports(names: Sequence[str] = NEEDS) -> None:
  """Fails at once, in one line, if a needed module is missing (not after preparing data)."""
  from restoration.errors import UserError

  for name in names:
    try:
      importlib.import_module(name)
    except ImportError as e:
      raise UserError(
        f'{name} does not import ({e}); install launch/accelerator/wheels into a folder on '
        "PYTHONPATH (this script's docstring has the line)"
      ) from None


def train_seconds_each(
  budget_s: float, elapsed_s: float, methods: int, overhead_s: float, evaluate_s: float
) -> float:
  """Each method's training seconds: what the budget leaves after ``elapsed_s``, the methods'
  overheads and the evaluation, split equally (may be <= 0 when nothing is left)."""
  return (budget_s - elapsed_s - methods * overhead_s - evaluate_s) / methods


def _means(block: Mapping, names: Sequence[str]) -> dict:
  """``{metric: {'restored', 'input'}}`` means from an evaluate/real score block."""
  restored, degraded = block.get('restored', {}), block.get('degraded', block.get('input', {}))
  return {
    n: {'restored': restored.get(n, {}).get('mean'), 'input': degraded.get(n, {}).get('mean')}
    for n in names
    if n in restored
  }


def step_only(bench: Mapping, input_examples_per_s: float) -> dict:
  """What ``benchmark.bench_train`` measured of a method's step alone."""
  return {
    'compile_seconds': bench['train_compile_seconds'],
    'flops_per_step': bench['train_flops_per_step'],
    'step_only_steps_per_s': bench['train_steps_per_s'],
    'step_only_mfu': bench['train_mfu'],
    'temp_mb': bench['train_temp_mb'],
    'params': bench['params'],
    'input_over_step': input_examples_per_s / bench['train_examples_per_s'],
  }


def speed(config, segment: records.Segment, flops: float | None, peak: float | None) -> dict:
  """Speed numbers of one training run from its run record (the loop's own rate)."""
  rate = segment.last.get('steps_per_second', math.nan)
  batch = config.train.global_batch
  tflops = None if flops is None else flops * rate / 1e12
  return {
    'steps': segment.end_step - segment.start_step,
    'steps_per_s': rate,
    'audio_seconds_per_s': rate * batch * config.data.crop_seconds,
    'tflops_per_s': tflops,
    'mfu': None if tflops is None or not peak else tflops / peak,
    'first_step_seconds': segment.compile_seconds,  # from the cache: a load, no compile
    'train_wall_seconds': segment.wall_seconds,
    'out_of_time': segment.out_of_time,
  }


def quality(result: Mapping) -> dict:
  """The one scored run of an ``evaluate_workdir`` result: means over every clip, the whole
  metrics block, and the harm counts where evaluate's harm rule wrote them (else None)."""
  [run] = result['runs']
  harm = run.get('harm')
  return {
    'eval_steps': run['steps'],
    'real_time_factor': run['real_time_factor'],
    'quality': _means(run['metrics']['all'], QUALITY),
    'metrics': run['metrics'],
    'harm': None
    if harm is None
    else {d: {k: s.get(k) for k in ('clips', 'harmed', 'share')} for d, s in harm.items()},
  }


def failure(error: Exception) -> dict:
  """A failed phase's record (its traceback printed)."""
  traceback.print_exc()
  text = str(error).splitlines()[0][:200] if str(error) else ''
  return {'error': f'{type(error).__name__}: {text}'}


def _cell(pair: Mapping | None, fmt: str = '{:.3g}') -> str:
  if not pair:
    return '–'
  show = lambda v: '–' if v is None or not math.isfinite(v) else fmt.format(v)
  return f'{show(pair["restored"])} ({show(pair["input"])})'


def harm_cell(harm: Mapping | None) -> str:
  if not harm:
    return 'no harm rule'
  a = harm['all']
  return f'{a["harmed"]}/{a["clips"]} ({a["share"]:.0%})' if a.get('clips') else '–'


def markdown(summary: Mapping) -> str:
  """The table of ``accelerator.json``: one row per method, then the phases' wall times."""
  show = lambda v, fmt: '–' if v is None or not math.isfinite(v) else fmt.format(v)
  d, b = summary['device'], summary['budget']
  notes = [
    f'{n}: evaluation failed: {m["evaluate_error"]}'
    for n, m in summary['methods'].items()
    if 'evaluate_error' in m
  ]
  if 'error' in summary['real']:
    notes.append(f'real recordings failed: {summary["real"]["error"]}')
  elif 'skipped' in summary['real']:
    notes.append(f'real recordings skipped: {summary["real"]["skipped"]}')
  lines = [
    '# One call on an accelerator',
    '',
    f'{d["kind"]} ({d["backend"]}, {d["devices"]} device(s), {d["host_cpus"]} host CPUs); '
    f'{summary["size"]} size, {summary["compute_dtype"]}, batch {summary["global_batch"]} x '
    f'{summary["crop_seconds"]:g} s; {show(b["train_seconds_each"], "{:.0f}")} s of training '
    f'per method; budget {b["budget_s"]:.0f} s, used {summary["wall_seconds"]:.0f} s.',
    '',
    'Quality cells: restored (degraded input), means over the test split '
    f'({summary["data"]["num_test"]} items x {len(summary["data"]["degradations"])} '
    'degradations) and, for "real LSD", over the real clips at '
    f'{", ".join(summary["real"].get("degradations", []))}. '
    "Steps/s, audio s/s and MFU: the training loop's own rate; step alone: the compiled step on "
    'synthetic batches. Input/step: examples/s the input pipeline delivers over those the step '
    'alone consumes.',
    '',
    '| method | steps | steps/s | audio s/s | GFLOP/step | MFU | step alone steps/s | '
    'input/step | compile s | '
    + ' | '.join(summary['quality_headers'])
    + ' | real LSD | harmed clips |',
    '|' + '---|' * (11 + len(summary['quality_headers'])),
  ]
  for name, m in summary['methods'].items():
    if 'error' in m:
      lines.append(f'| {name} | failed: {m["error"]} |')
      continue
    flops = m.get('flops_per_step')
    cells = [
      show(m.get('steps'), '{:d}'),
      show(m.get('steps_per_s'), '{:.3g}'),
      show(m.get('audio_seconds_per_s'), '{:,.0f}'),
      show(None if flops is None else flops / 1e9, '{:.4g}'),
      show(m.get('mfu'), '{:.1%}'),
      show(m.get('step_only_steps_per_s'), '{:.3g}'),
      show(m.get('input_over_step'), '{:.3g}'),
      show(m.get('compile_seconds'), '{:.0f}'),
      *(_cell(m.get('quality', {}).get(k)) for k in QUALITY),
      _cell((m.get('real') or {}).get('lsd')),
      harm_cell(m.get('harm')),
    ]
    lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  lines += [''] + notes + [''] * bool(notes) + ['| phase | seconds |', '|---|---|']
  lines += [f'| {k} | {v:.1f} |' for k, v in summary['phases'].items()]
  lines.append(f'| total | {summary["wall_seconds"]:.1f} |')
  return '\n'.join(lines) + '\n'


def write(out: Path, summary: dict) -> None:
  out.mkdir(parents=True, exist_ok=True)
  from restoration.evaluate.evaluate import finite

  (out / 'accelerator.json').write_text(json.dumps(finite(summary), indent=1) + '\n')
  (out / 'accelerator.md').write_text(markdown(summary))


def run(args: Mapping) -> dict:
  """The phases (module docstring); ``args`` holds the flags' values."""
  import jax

  import restoration
  from restoration import benchmark, compare, records
  from restoration import methods as methods_lib
  from restoration.config import load_config
  from restoration.data import builder as builder_lib
  from restoration.data import pipeline
  from restoration.errors import ConfigError
  from restoration.evaluate import evaluate
  from restoration.train import loop

  start = time.perf_counter()
  out, work = Path(args['out']), Path(args['workdir'])
  names = list(args['methods'])
  for m in names:
    source = methods_lib.get(m).starts_from
    if source and (source not in names or names.index(source) > names.index(m)):
      raise ConfigError(f'--methods: {m} starts from {source}, which must come before it')
  restoration.use_compilation_cache(str(work / 'jax_cache'))
  configs = {}
  for m in names:
    c = load_config(m, args['size'])
    c.data.data_dir = str(work / 'data')
    c.data.num_train, c.data.num_validation = args['num_train'], args['num_validation']
    c.data.num_test, c.data.workers = args['num_test'], args['data_workers']
    c.train.compute_dtype = args['compute_dtype']
    c.train.num_steps = args['max_steps']
    c.train.eval_every = c.train.checkpoint_every = c.train.num_steps  # the last step only
    c.train.eval_batches = 1
    source = methods_lib.get(m).starts_from
    if source:
      c.train.init_from = str(work / source)
    configs[m] = c
  first = configs[names[0]]
  device = jax.devices()[0]
  peak = benchmark.device_peak_tflops(device.device_kind, args['compute_dtype'])
  summary: dict = {
    'device': {
      'kind': device.device_kind,
      'backend': jax.default_backend(),
      'devices': jax.device_count(),
      'host_cpus': os.cpu_count(),
      'peak_tflops': peak,
    },
    'size': args['size'],
    'compute_dtype': args['compute_dtype'],
    'global_batch': first.train.global_batch,
    'crop_seconds': first.data.crop_seconds,
    'data': {
      'num_train': first.data.num_train,
      'num_validation': first.data.num_validation,
      'num_test': first.data.num_test,
      'clip_seconds': first.data.clip_seconds,
      'degradations': list(first.data.degradations),
      'loader': pipeline.loader(first),
      'spectra_on': pipeline.spectra_on(first),
    },
    'budget': {
      'budget_s': args['budget_s'],
      'overhead_s': args['overhead_s'],
      'evaluate_s': args['evaluate_s'],
      'train_seconds_each': None,
    },
    'quality_headers': [dict(evaluate.TABLE_COLUMNS)[k] for k in QUALITY],
    'phases': {},
    'wall_seconds': 0.0,
    'methods': {},
    'real': {},
  }
  phases = summary['phases']

  def phase(name: str, t: float) -> None:
    phases[name] = time.perf_counter() - t
    summary['wall_seconds'] = time.perf_counter() - start
    write(out, summary)
    print(f'[{summary["wall_seconds"]:.0f} s] {name}: {phases[name]:.1f} s', flush=True)

  t = time.perf_counter()
  builder_lib.prepare(first.data)
  phase('prepare', t)

  t = time.perf_counter()
  summary['input'] = benchmark.bench_input(first, args['input_steps'])
  phase('input', t)

  done = []  # compiled, then trained: what the next phase takes
  for m in names:
    t = time.perf_counter()
    try:
      bench = benchmark.bench_train(configs[m], args['bench_steps'])
      summary['methods'][m] = step_only(bench, summary['input']['input_examples_per_s'])
      done.append(m)
    except Exception as e:  # one failed method must not cost the lease the others
      summary['methods'][m] = failure(e)
    phase(f'compile {m}', t)

  each = train_seconds_each(
    args['budget_s'],
    time.perf_counter() - start,
    len(done),
    args['overhead_s'],
    args['evaluate_s'],
  )
  summary['budget']['train_seconds_each'] = each = max(each, args['min_train_s'])
  print(f'training each method for {each:.1f} s', flush=True)
  compiled, done = done, []
  for m in compiled:
    t = time.perf_counter()
    c = configs[m]
    c.train.max_train_seconds = each
    source = methods_lib.get(m).starts_from
    r = summary['methods'][m]
    try:
      if source and source not in done:
        raise RuntimeError(f'needs the {source} run, which failed')
      loop.train_and_evaluate(c, str(work / m))
      segment = records.read(work / m)[-1]
      r.update(speed(c, segment, r['flops_per_step'], peak), starts_from=source or None)
      done.append(m)
    except Exception as e:
      summary['methods'][m] = failure(e)
    phase(f'train {m}', t)

  steps = {}
  for m in done:
    t = time.perf_counter()
    c = configs[m]
    iterative = methods_lib.get(m).iterative
    steps[m] = int(c.sampling.steps) if iterative else None
    try:
      result = evaluate.evaluate_workdir(
        str(work / m),
        config=c,
        steps_list=None if steps[m] is None else [steps[m]],
        optional_metrics=False,
        perceptual_items=0,
      )
      summary['methods'][m].update(quality(result))
    except Exception as e:
      summary['methods'][m]['evaluate_error'] = failure(e)['error']
    phase(f'evaluate {m}', t)

  t = time.perf_counter()
  try:
    from restoration.data import audio

    # AAC needs an ffmpeg binary, which a bare accelerator image may lack.
    aac = audio.find_ffmpeg() is not None
    degradations = [d for d in compare.REAL_DEGRADATIONS if aac or not d.startswith('aac')]
    real = compare.score_real_recordings(
      str(work), done, degradations, steps=steps, folder=args['real_dir']
    )
  except Exception as e:
    real, summary['real'] = None, failure(e)
  if real is None and 'error' not in summary['real']:
    summary['real'] = {'skipped': 'no real clips here (--real_dir, or the Debian packages)'}
  elif real is not None:
    summary['real'] = {
      'source': args['real_dir'] or 'Debian packages',
      'clips': len(real['clips']),
      'degradations': real['degradations'],
    }
    for m in done:
      block = {'restored': real['scores']['all'][m], 'input': real['scores']['all']['input']}
      summary['methods'][m]['real'] = _means(block, QUALITY)
  phase('real recordings', t)
  return summary


def main(argv) -> None:
  del argv
  logging.getLogger('restoration').setLevel(logging.INFO)
  from absl import logging as absl_logging

  absl_logging.set_verbosity(absl_logging.ERROR)  # orbax and TFDS notes
  from restoration.errors import UserError, exit_with

  holders = (_OUT, _WORKDIR, _SIZE, _METHODS, _DTYPE, _BUDGET, _OVERHEAD, _EVALUATE, _MIN_TRAIN)
  holders += (_NUM_TRAIN, _NUM_VALIDATION, _NUM_TEST, _MAX_STEPS, _DATA_WORKERS, _INPUT_STEPS)
  holders += (_BENCH_STEPS, _REAL_DIR)
  try:
    check_imports()
    summary = run({h.name: h.value for h in holders})
  except UserError as e:
    exit_with('accelerator', e)
  print(markdown(summary), end='', flush=True)


if __name__ == '__main__':
  from restoration.cli import flags_parser

  app.run(main, flags_parser=flags_parser('accelerator'))
