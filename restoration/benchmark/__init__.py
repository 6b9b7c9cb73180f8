"""Speed numbers, measured (the CLI is ``python -m restoration.benchmark``, see ``__main__``).

Sections (``--sections``): ``input`` (examples/s of the host pipeline alone, and examples/s
and spectrogram frames/s it delivers to the devices, after warm-up; tf.data and Grain; how fast
the synthetic corpus is made), ``train`` (compile time, steps/s, examples/s and
audio seconds/s of the compiled step on synthetic batches of the real shape, its FLOPs from
XLA's cost analysis and memory from its buffer assignment, the model FLOP utilisation against
the device's peak at ``train.compute_dtype``, peak host memory; with ``--profile=DIR`` a
``jax.profiler`` trace of a few steps), ``flops`` (forward GFLOP per second of audio of each
network, from XLA's cost analysis), ``restore`` (for each trained ``--workdirs`` run: the
real-time factor of ``restore`` on a file, every step count of an iterative method's
``sampling.eval_steps``; and the peak memory of the ``restore`` CLI on a 1-minute and a long
file), ``folder`` (for each ``--workdirs`` run: files/s and audio seconds/s of one in-process
folder restore of 50 short files, against separate ``restore`` CLI calls, a few of them timed
and scaled). Speed targets are checked here, not in unit tests.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

# Dense (no 2:4 sparsity) peak TFLOP/s of one device: (device_kind substring, bfloat16, float32),
# first match on the lower-cased ``jax.devices()[0].device_kind``; None: unknown, MFU not shown.
# The float32 column is what JAX's default precision runs float32 dots and convolutions at: TF32
# tensor cores on NVIDIA Ampere and Hopper, one bfloat16 pass on TPU; the vector-unit FP32 peak
# is in each comment.
DEVICE_PEAK_TFLOPS: tuple[tuple[str, float | None, float | None], ...] = (
  ('h200 nvl', 835.5, 417.5),  # NVIDIA H200 NVL datasheet (FP32 60)
  ('h200', 989.4, 494.7),  # NVIDIA H200 SXM datasheet (FP32 66.9): H100 SXM's compute
  ('h100 pcie', 756.0, 378.0),  # NVIDIA H100 PCIe datasheet (FP32 51.2)
  ('h100', 989.4, 494.7),  # NVIDIA H100 SXM datasheet (FP32 66.9)
  ('a100', 312.0, 156.0),  # NVIDIA A100 datasheet, SXM and PCIe (FP32 19.5)
  ('tpu v4', 275.0, 275.0),  # Cloud TPU v4 docs: bf16 per chip
  ('tpu v5 lite', 197.0, 197.0),  # Cloud TPU v5e docs (v5e's device_kind is 'TPU v5 lite')
  ('tpu v5e', 197.0, 197.0),
  ('tpu v5', 459.0, 459.0),  # Cloud TPU v5p docs (device_kind 'TPU v5' or 'TPU v5p')
  ('tpu v6 lite', 918.0, 918.0),  # Cloud TPU v6e (Trillium) docs
  ('cpu', None, None),  # a host CPU: no published peak (the demo's 2 cores: ~0.09 fp32)
)
PROFILE_STEPS = 3  # train steps traced by --profile


def device_peak_tflops(device_kind: str, dtype: str) -> float | None:
  """Dense peak TFLOP/s of one ``device_kind`` device computing in ``dtype`` ('bfloat16' or
  'float32'), from :data:`DEVICE_PEAK_TFLOPS`; None for a CPU or an unlisted device."""
  kind = device_kind.lower()
  for name, bf16, fp32 in DEVICE_PEAK_TFLOPS:
    if name in kind:
      return bf16 if dtype == 'bfloat16' else fp32
  return None


def peak_host_memory_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_input(config, steps: int) -> dict:
  """Examples/s of this host's pipeline alone (numpy batches, with spectrograms only when
  ``config.data.spectra_on`` puts them on the host) and of the global batches delivered to the
  devices (arrays on the mesh, spectrograms included), each after a 3-batch warm-up; for the
  config's loader and, where TensorFlow imports, for the other (``input_by_loader``)."""
  from restoration.data import builder as builder_lib
  from restoration.data import pipeline
  from restoration.train import sharding

  b = builder_lib.prepare(config.data)
  mesh = sharding.make_mesh(config.parallel.model_axis)
  main = pipeline.loader(config)
  by_loader = {}
  for name in [main] + [other for other in ('tfdata', 'grain') if other != main]:
    if name == 'tfdata' and not pipeline.tensorflow_available():
      continue
    c = config.copy_and_resolve_references()
    c.data.loader = name
    where = pipeline.spectra_on(c)
    rates = {}
    for kind, it in (
      ('host', pipeline.local_batches(b, c, spectra=where == 'host')),
      ('delivered', pipeline.global_batches(b, c, sharding.batch_sharding(mesh))),
    ):
      for _ in range(3):
        batch = next(it)
      jax.block_until_ready(batch)
      start = time.perf_counter()
      for _ in range(steps):
        batch = next(it)
      jax.block_until_ready(batch)
      rates[kind] = steps * batch['clean_wave'].shape[0] / (time.perf_counter() - start)
    by_loader[name] = {
      'spectra_on': where,
      'host_examples_per_s': rates['host'],
      'examples_per_s': rates['delivered'],
    }
    print(
      f'input ({name}, spectra on the {where}): {rates["host"]:.0f} examples/s from the host '
      f'pipeline, {rates["delivered"]:.0f} delivered to the devices',
      flush=True,
    )
  r = by_loader[main]
  frames = batch['clean'].shape[1]
  out = {
    'input_loader': main,
    'input_spectra_on': r['spectra_on'],
    'input_host_examples_per_s': r['host_examples_per_s'],
    'input_examples_per_s': r['examples_per_s'],
    'input_frames_per_s': r['examples_per_s'] * frames,
    'input_audio_seconds_per_s': r['examples_per_s'] * config.data.crop_seconds,
    'input_by_loader': by_loader,
  }
  if config.data.source == 'synthetic':
    out['input_synthesis_x_real_time'] = bench_synthesis(config.data.sample_rate)
  return out


def bench_synthesis(sample_rate: int, items: int = 16) -> float:
  """How many times real time (CPU time) the procedural corpus is made: data preparation's cost
  for ``data.source='synthetic'`` (vectorised; a per-sample Python loop would take seconds)."""
  from restoration.data import synthesis

  start = time.process_time()
  for i in range(items):
    synthesis.synthesize(i, seed=0, sample_rate=sample_rate, seconds=1.0)
  rate = items / (time.process_time() - start)
  print(f'input (synthetic corpus): made at {rate:.0f}x real time (CPU time)', flush=True)
  return rate


def synthetic_batch(config, seed: int = 0) -> dict:
  """A batch of the pipeline's shapes (random content) for timing the step alone."""
  from restoration import spectral
  from restoration.spectral import SpectralParams

  p = SpectralParams.from_config(config.spectral)
  n = int(round(config.data.crop_seconds * config.data.sample_rate))
  rng = np.random.default_rng(seed)
  clean = (0.1 * rng.standard_normal((config.train.global_batch, n))).astype(np.float32)
  degraded = (clean + 0.01 * rng.standard_normal(clean.shape)).astype(np.float32)
  return {
    'clean_wave': clean,
    'degraded_wave': degraded,
    'clean': np.asarray(spectral.analysis(clean, p)),
    'degraded': np.asarray(spectral.analysis(degraded, p)),
    'degradation': np.zeros((config.train.global_batch,), np.int32),
  }


def train_step_flops(config) -> float:
  """One device's share of XLA's FLOP count of ``config``'s train step: the step lowered for
  the CPU (``models.unet.cpu_flops``) on the abstract state and a batch of the real shape, so
  that MFU = this x steps/s / the device's peak, whatever ran the steps."""
  from restoration import methods
  from restoration import state as state_lib
  from restoration.models.unet import cpu_flops

  step = methods.get(config.method).step(config, state_lib.networks(config))
  state = state_lib.abstract_state(config, None)
  batch = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), synthetic_batch(config))
  flops = cpu_flops(lambda s, b, r: step(s, b, r, axis_name=None), state, batch, jax.random.key(0))
  return flops / jax.device_count()  # the global step's count, shared by the data axis


def trace_top_ops(trace_dir: str, steps: int = PROFILE_STEPS, top: int = 25) -> dict:
  """The device time per step of a ``jax.profiler`` trace in ``trace_dir`` (its Perfetto
  JSON), by XLA op: ``{'device_ms_per_step', 'ops': [{'op', 'kernel', 'ms_per_step', 'share',
  'calls_per_step'}, ...]}``, the ``top`` costliest first.

  On a GPU the events are the kernels of the device's streams (an op may launch several); on a
  CPU, the XLA thunks of the host's threads. Shares are of the summed device time, which is
  the wall time of the step where one stream is busy throughout.
  """
  paths = sorted(glob.glob(os.path.join(trace_dir, '**', 'perfetto_trace.json.gz'), recursive=True))
  if not paths:
    raise FileNotFoundError(f'{trace_dir}: no perfetto_trace.json.gz (not a jax.profiler trace)')
  with gzip.open(paths[-1], 'rt') as f:
    events = json.load(f)['traceEvents']
  process = {
    e['pid']: e['args']['name']
    for e in events
    if e.get('ph') == 'M' and e.get('name') == 'process_name'
  }
  device = {pid for pid, name in process.items() if name.startswith('/device:')}
  timed = [
    e
    for e in events
    if e.get('ph') == 'X' and (e['pid'] in device if device else 'hlo_op' in e.get('args', {}))
  ]
  ms, calls, kernel = collections.Counter(), collections.Counter(), {}
  for e in timed:
    op = e.get('args', {}).get('hlo_op', e['name'])
    ms[op] += e['dur'] / 1e3 / steps
    calls[op] += 1 / steps
    kernel.setdefault(op, e['name'])
  total = sum(ms.values())
  return {
    'device_ms_per_step': total,
    'ops': [
      {
        'op': op,
        'kernel': kernel[op][:120],
        'ms_per_step': t,
        'share': t / total,
        'calls_per_step': calls[op],
      }
      for op, t in ms.most_common(top)
    ],
  }


def bench_train(config, steps: int, profile_dir: str | None = None) -> dict:
  """Compile time, speed and utilisation of the train step; ``profile_dir``: also trace
  ``PROFILE_STEPS`` more steps there (TensorBoard's profile plugin or Perfetto read it), write
  the compiled program's optimised HLO beside it (``step.hlo.txt.gz``, to read an op's name
  in) and report its costliest ops (:func:`trace_top_ops`) as ``train_profile``.

  FLOPs per step are :func:`train_step_flops`, so MFU = FLOPs per step x steps/s / the
  device's peak; under the jit backend only (the pmap step is a Python wrapper).
  """
  from restoration import methods
  from restoration import state as state_lib
  from restoration.train import sharding

  mesh = sharding.make_mesh(config.parallel.model_axis)
  nets, state, shardings = state_lib.create(
    config, sharding_fn=lambda a: sharding.param_sharding(mesh, a)
  )
  step = sharding.compile_step(
    methods.get(config.method).step(config, nets), mesh, shardings, config.parallel.backend
  )
  batch = synthetic_batch(config)
  if config.parallel.backend == 'jit':
    batch = {k: jax.device_put(v, sharding.batch_sharding(mesh)) for k, v in batch.items()}
  state = step.to_step(state)
  flops = train_step_flops(config) if config.parallel.backend == 'jit' else None
  start = time.perf_counter()  # compile time: the FLOP count's lowering is not part of it
  memory = None
  run = step.run
  if config.parallel.backend == 'jit':
    run = run.lower(state, batch, jax.random.key(0)).compile()
    memory = run.memory_analysis()
  state, m = run(state, batch, jax.random.key(0))
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  for i in range(steps):
    state, m = run(state, batch, jax.random.key(i))
  jax.block_until_ready(m)
  dt = time.perf_counter() - start
  profile = None
  if profile_dir:
    with jax.profiler.trace(profile_dir, create_perfetto_trace=True):
      for i in range(PROFILE_STEPS):
        state, m = run(state, batch, jax.random.key(steps + i))
      jax.block_until_ready(m)
    profile = trace_top_ops(profile_dir)
    if config.parallel.backend == 'jit':
      with gzip.open(os.path.join(profile_dir, 'step.hlo.txt.gz'), 'wt') as f:
        f.write(run.as_text())
  dtype = methods.compute_dtype(config).name
  peak = device_peak_tflops(jax.devices()[0].device_kind, dtype)
  tflops = None if flops is None else flops * steps / dt / 1e12
  return {
    'train_compile_seconds': compile_s,
    'train_steps_per_s': steps / dt,
    'train_examples_per_s': steps * config.train.global_batch / dt,
    'train_audio_seconds_per_s': steps * config.train.global_batch * config.data.crop_seconds / dt,
    'compute_dtype': dtype,
    'train_flops_per_step': flops,
    'train_tflops_per_s': tflops,
    'device_peak_tflops': peak,
    'train_mfu': None if tflops is None or peak is None else tflops / peak,
    # XLA's buffer assignment for one device: the step's arguments (state + batch) and the
    # temporaries (activations kept for the backward pass): what model.remat and the batch
    # per device trade. On a CPU it is the CPU compiler's schedule, not a GPU's.
    'train_argument_mb': None if memory is None else memory.argument_size_in_bytes / 1e6,
    'train_temp_mb': None if memory is None else memory.temp_size_in_bytes / 1e6,
    'params': {
      k: state_lib.count_scalars(v)
      for k, v in jax.device_get(step.from_step(state)['params']).items()
    },
    'peak_host_memory_mb': peak_host_memory_mb(),
    **({'train_profile': profile} if profile else {}),
  }


MUSIC_RATE = 44100  # the folder section's second pass: a music collection's files, stereo
TEST_SIGNAL_BAND = 0.6  # of Nyquist: where MP3 at 16-24 kbps cuts 16 kHz audio


def write_test_signal(
  path: str, seconds: float, sr: int = 16000, block_seconds: int = 30, channels: int = 1
) -> None:
  """A procedural WAV (tone + noise per channel) written block by block: no whole copy in
  memory. The noise is low-passed at :data:`TEST_SIGNAL_BAND` of Nyquist, as a low-bitrate
  codec leaves it, so that the band gate hands every chunk to the model: the figures time the
  model, not the gate's shortcut."""
  import soundfile as sf
  from scipy import signal

  rng = np.random.default_rng(0)
  sos = signal.ellip(8, 0.1, 80, TEST_SIGNAL_BAND, output='sos')
  state = np.zeros((sos.shape[0], 2, channels))
  total, block = int(round(seconds * sr)), block_seconds * sr
  with sf.SoundFile(path, 'w', samplerate=sr, channels=channels, subtype='PCM_16') as f:
    for start in range(0, total, block):
      n = min(block, total - start)
      t = ((np.arange(n) + start) / sr)[:, None]
      noise, state = signal.sosfilt(sos, rng.standard_normal((n, channels)), axis=0, zi=state)
      f.write(0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * noise)


# Runs the restore CLI, then prints its peak RSS (VmHWM: the process image after exec; a parent's
# getrusage would also count the forked copy of the parent) as the last line of stderr.
PEAK_RSS_WRAPPER = (
  '-c',
  'import runpy, sys\n'
  'try:\n'
  "  runpy.run_module('restoration.restore', run_name='__main__', "
  'alter_sys=True)\n'
  'finally:\n'
  "  print(next(l for l in open('/proc/self/status') "
  "if l.startswith('VmHWM')), file=sys.stderr)\n",
)


def peak_rss_mb(stderr: str) -> float:
  """The wrapper's last stderr line 'VmHWM: N kB' in MB."""
  return int(stderr.strip().splitlines()[-1].split()[1]) / 1024


def bench_restore(workdirs: list[str], seconds: int = 20, long_minutes: int = 10) -> dict:
  """Real-time factor (wall / audio seconds, compile excluded) of each run's restore on a
  ``seconds`` file, per sampler step count; peak RSS of the restore CLI (first run) on a
  1-minute and a ``long_minutes`` file, which the chunked stream keeps about equal."""
  from restoration import methods
  from restoration.inference import Restorer

  out: dict = {'restore_real_time_factor': {}}
  with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, 'in.wav')
    write_test_signal(src, seconds)
    for wd in workdirs:
      restorer = Restorer(wd)
      name = f'{restorer.config.method}:{os.path.basename(os.path.normpath(wd))}'
      iterative = methods.get(restorer.config.method).iterative
      for steps in methods.get(restorer.config.method).eval_steps(restorer.config):
        r = restorer.with_steps(steps)
        r.restore_file(src, os.path.join(tmp, 'out.wav'), progress=False)  # compile
        stats = r.restore_file(src, os.path.join(tmp, 'out.wav'), progress=False)
        key = f'{name} steps={steps}' if iterative else name
        out['restore_real_time_factor'][key] = stats['real_time_factor']
        print(f'restore {key}: real-time factor {stats["real_time_factor"]:.4f}', flush=True)
    if workdirs:
      peak = {}
      for minutes in (1, long_minutes):
        path = os.path.join(tmp, f'{minutes}min.wav')
        write_test_signal(path, 60 * minutes)
        p = subprocess.Popen(
          [
            sys.executable,
            *PEAK_RSS_WRAPPER,
            f'--workdir={workdirs[0]}',
            path,
            os.path.join(tmp, f'{minutes}min_out.wav'),
          ],
          stdout=subprocess.PIPE,
          stderr=subprocess.PIPE,
          text=True,
        )
        _, err = p.communicate()
        if p.returncode:
          raise RuntimeError(f'restore of a {minutes}-minute file failed: {err.strip()[-500:]}')
        peak[f'{minutes}min'] = peak_rss_mb(err)
        os.remove(path)
      out['restore_peak_rss_mb'] = peak
      out['restore_peak_rss_workdir'] = workdirs[0]
  return out


def bench_folder(
  workdirs: list[str], files: int = 50, seconds: int = 3, cli_calls: int = 5
) -> dict:
  """Files/s and audio seconds/s of restoring a folder of ``files`` files of ``seconds`` each in
  one process (``Restorer.restore_tree``: one load and compile, timed apart; one file at a time and
  ``default_workers`` at once), against one ``restore`` CLI call per file (each loads and compiles;
  ``cli_calls`` are timed and scaled to ``files``, to keep the section affordable); and, in
  process, the same folder as 44.1 kHz stereo files (what a music collection holds: resampled to
  the model's rate and back, the band above it passed through, each channel restored)."""
  from restoration.inference import Restorer
  from restoration.streaming import default_workers

  out: dict = {
    'folder_files': files,
    'folder_file_seconds': seconds,
    'folder_cli_calls_timed': cli_calls,
    'folder': {},
  }
  with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, 'in')
    os.makedirs(src)
    inputs = [os.path.join(src, f'{i:03d}.wav') for i in range(files)]
    for path in inputs:
      write_test_signal(path, seconds)
    music = os.path.join(tmp, 'music')
    os.makedirs(music)
    for i in range(files):
      write_test_signal(os.path.join(music, f'{i:03d}.wav'), seconds, MUSIC_RATE, channels=2)
    for k, wd in enumerate(workdirs):
      start = time.perf_counter()
      restorer = Restorer(wd)
      restorer.restore_file(inputs[0], os.path.join(tmp, 'warm-up.wav'), progress=False)
      load = time.perf_counter() - start
      serial = restorer.restore_tree(src, os.path.join(tmp, f'one{k}'), progress=False, workers=1)
      result = restorer.restore_tree(src, os.path.join(tmp, f'tree{k}'), progress=False)
      if len(result.restored) != files or len(serial.restored) != files:
        raise RuntimeError(f'folder restore of {wd} failed: {result.failed or serial.failed}')
      start = time.perf_counter()
      for i, path in enumerate(inputs[:cli_calls]):
        p = subprocess.run(
          [sys.executable, '-m', 'restoration.restore', f'--workdir={wd}', path]
          + [os.path.join(tmp, f'cli{k}_{i}.wav')],
          capture_output=True,
          text=True,
        )
        if p.returncode:
          raise RuntimeError(f'restore CLI on {wd} failed: {p.stderr.strip()[-500:]}')
      per_call = (time.perf_counter() - start) / cli_calls
      restorer.restore_file(
        os.path.join(music, '000.wav'), os.path.join(tmp, 'warm-up-music.wav'), progress=False
      )  # compiles the stereo shapes
      stereo = restorer.restore_tree(music, os.path.join(tmp, f'music{k}'), progress=False)
      if len(stereo.restored) != files:
        raise RuntimeError(f'44.1 kHz stereo folder restore of {wd} failed: {stereo.failed}')
      tree = result.wall_seconds
      name = f'{restorer.config.method}:{os.path.basename(os.path.normpath(wd))}'
      out['folder'][name] = r = {
        'in_process_files_per_s': files / tree,
        'in_process_audio_seconds_per_s': result.audio_seconds / tree,
        'in_process_workers': default_workers(),
        'one_at_a_time_audio_seconds_per_s': serial.audio_seconds / serial.wall_seconds,
        'in_process_load_compile_seconds': load,
        'in_process_total_seconds': load + tree,
        'separate_calls_files_per_s': 1 / per_call,
        'separate_calls_audio_seconds_per_s': seconds / per_call,
        'separate_calls_total_seconds': per_call * files,
        'music_audio_seconds_per_s': stereo.audio_seconds / stereo.wall_seconds,
      }
      print(
        f'folder {name}: {files} files x {seconds} s in process: {r["in_process_files_per_s"]:.1f} '
        f'files/s, {r["in_process_audio_seconds_per_s"]:.0f} audio s/s with '
        f'{r["in_process_workers"]} workers ({r["one_at_a_time_audio_seconds_per_s"]:.0f} one '
        f'file at a time; after {load:.1f} s load '
        f'+ compile; {load + tree:.1f} s in all); separate CLI calls: '
        f'{r["separate_calls_files_per_s"]:.2f} files/s, '
        f'{r["separate_calls_audio_seconds_per_s"]:.2f} audio s/s ({cli_calls} calls timed, '
        f'scaled to {files}: {per_call * files:.0f} s); {MUSIC_RATE / 1000:g} kHz stereo: '
        f'{r["music_audio_seconds_per_s"]:.0f} audio s/s ({r["in_process_audio_seconds_per_s"]:.0f} '
        f'for the 16 kHz mono files; model at {restorer.sample_rate / 1000:g} kHz)',
        flush=True,
      )
  return out


def train_line(results: dict) -> str:
  """The train section in one printed line: speed, FLOPs, MFU ('–' where the device's peak or
  the FLOP count is unknown) and, when the input section ran too, the input/train ratio."""
  r = results
  show = lambda v, fmt: '–' if v is None else fmt.format(v)
  flops = r['train_flops_per_step']
  line = (
    f'train ({r["compute_dtype"]}, {r["device_kind"]}): {r["train_steps_per_s"]:.3g} steps/s, '
    f'{r["train_audio_seconds_per_s"]:.3g} audio s/s, '
    f'{show(None if flops is None else flops / 1e9, "{:.4g}")} GFLOP/step per device, '
    f'{show(r["train_tflops_per_s"], "{:.3g}")} TFLOP/s of '
    f'{show(r["device_peak_tflops"], "{:g}")} peak, MFU {show(r["train_mfu"], "{:.1%}")}, '
    f'{show(r["train_temp_mb"], "{:.0f}")} MB temporaries per device'
  )
  if 'input_over_train_ratio' in r:
    line += f'; input/train ratio {r["input_over_train_ratio"]:.3g}'
  return line


def run(
  config,
  sections,
  steps: int,
  workdirs: list[str] = (),
  long_minutes: int = 10,
  profile_dir: str | None = None,
) -> dict:
  results = {
    'devices': jax.device_count(),
    'backend': jax.default_backend(),
    'device_kind': jax.devices()[0].device_kind,
    'host_cpus': os.cpu_count(),
  }
  if 'restore' in sections and workdirs:
    results.update(bench_restore(list(workdirs), long_minutes=long_minutes))
  if 'folder' in sections and workdirs:
    results.update(bench_folder(list(workdirs)))
  if config is None:
    return results
  results.update(method=config.method, size=config.size)
  if 'flops' in sections:
    from restoration import methods

    gflops = methods.forward_gflops_per_audio_second(config)
    results.update({f'{name}_gflops_per_audio_second': v for name, v in gflops.items()})
  if 'input' in sections:
    results.update(bench_input(config, steps))
  if 'train' in sections:
    results.update(bench_train(config, steps, profile_dir))
    if 'input' in sections:
      results['input_over_train_ratio'] = (
        results['input_examples_per_s'] / results['train_examples_per_s']
      )
    print(train_line(results), flush=True)
  return results
