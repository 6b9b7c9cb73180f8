"""Speed numbers for a config: ``python -m restoration.benchmark --config=... --json=OUT``.

Sections (``--sections``): ``input`` (pipeline examples/s and spectrogram frames/s after
warm-up), ``train`` (compile time, steps/s and examples/s of the compiled step on synthetic
batches of the real shape, peak host memory), ``flops`` (forward GFLOP per second of audio of
each network, from XLA's cost analysis). Speed targets are checked here, not in unit tests.
"""
from __future__ import annotations

import json
import resource
import time

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'configs/<method>.py:<size>')
_JSON = flags.DEFINE_string('json', None, 'Write the numbers to this JSON file.')
_SECTIONS = flags.DEFINE_list('sections', ['input', 'train', 'flops'], 'What to measure.')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed batches/steps per section (after warm-up).')


def peak_host_memory_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_input(config, steps: int) -> dict:
  from restoration.data import builder as builder_lib, pipeline
  b = builder_lib.prepare(config.data)
  it = pipeline.local_batches(b, config)
  for _ in range(3):
    batch = next(it)
  start = time.perf_counter()
  for _ in range(steps):
    batch = next(it)
  dt = time.perf_counter() - start
  examples = steps * batch['clean'].shape[0]
  return {'input_examples_per_s': examples / dt,
          'input_frames_per_s': examples * batch['clean'].shape[1] / dt,
          'input_audio_seconds_per_s': examples * config.data.crop_seconds / dt}


def synthetic_batch(config, seed: int = 0) -> dict:
  """A batch of the pipeline's shapes (random content) for timing the step alone."""
  from restoration import spectral
  from restoration.spectral import SpectralParams
  p = SpectralParams.from_config(config.spectral)
  n = int(round(config.data.crop_seconds * config.data.sample_rate))
  rng = np.random.default_rng(seed)
  clean = (0.1 * rng.standard_normal((config.train.global_batch, n))).astype(np.float32)
  degraded = (clean + 0.01 * rng.standard_normal(clean.shape)).astype(np.float32)
  return {'clean_wave': clean, 'degraded_wave': degraded,
          'clean': np.asarray(spectral.analysis(clean, p)),
          'degraded': np.asarray(spectral.analysis(degraded, p)),
          'degradation': np.zeros((config.train.global_batch,), np.int32)}


def bench_train(config, steps: int) -> dict:
  from restoration.train import sharding, state as state_lib, steps as steps_lib
  mesh = sharding.make_mesh(config.parallel.model_axis)
  nets, state, shardings = state_lib.create(
      config, sharding_fn=lambda a: sharding.param_sharding(mesh, a))
  step = sharding.compile_step(steps_lib.make_step(config, nets), mesh, shardings,
                               config.parallel.backend)
  batch = synthetic_batch(config)
  if config.parallel.backend == 'pmap':
    state = sharding.to_pmap_state(state, mesh)
  else:
    batch = {k: jax.device_put(v, sharding.batch_sharding(mesh)) for k, v in batch.items()}
  start = time.perf_counter()
  state, m = step(state, batch, jax.random.key(0))
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  for i in range(steps):
    state, m = step(state, batch, jax.random.key(i))
  jax.block_until_ready(m)
  dt = time.perf_counter() - start
  return {'train_compile_seconds': compile_s, 'train_steps_per_s': steps / dt,
          'train_examples_per_s': steps * config.train.global_batch / dt,
          'params': {k: state_lib.count_params(v) for k, v in
                     jax.device_get(sharding.from_pmap_state(state)['params']
                                    if config.parallel.backend == 'pmap'
                                    else state['params']).items()},
          'peak_host_memory_mb': peak_host_memory_mb()}


def forward_gflops_per_audio_second(config) -> dict:
  """XLA FLOPs of each network's forward pass on one second of audio."""
  from flax import nnx
  import jax.numpy as jnp
  from restoration.models.unet import forward_flops
  from restoration.spectral import SpectralParams
  from restoration.train import state as state_lib
  p = SpectralParams.from_config(config.spectral)
  sr = config.data.sample_rate
  modules = state_lib.build_modules(config, nnx.Rngs(0))
  x = jnp.zeros((1, p.n_frames(sr), p.n_freq, 2))
  out = {}
  for name, module in modules.items():
    if name == 'denoiser':
      flops = forward_flops(module, x, cond=x, noise_level=jnp.zeros((1,)))
    elif name == 'critic' and config.critic.kind != 'projected':
      flops = forward_flops(module, jnp.zeros((1, sr)))
    else:
      flops = forward_flops(module, x)
    out[f'{name}_gflops_per_audio_second'] = flops / 1e9
  return out


def run(config, sections, steps: int) -> dict:
  results = {'method': config.method, 'size': config.size, 'devices': jax.device_count(),
             'backend': jax.default_backend(), 'device_kind': jax.devices()[0].device_kind}
  if 'flops' in sections:
    results.update(forward_gflops_per_audio_second(config))
  if 'input' in sections:
    results.update(bench_input(config, steps))
  if 'train' in sections:
    results.update(bench_train(config, steps))
  if 'input' in sections and 'train' in sections:
    results['input_over_train_ratio'] = (results['input_examples_per_s'] /
                                         results['train_examples_per_s'])
  return results


def main(argv) -> None:
  del argv
  results = run(_CONFIG.value, set(_SECTIONS.value), _STEPS.value)
  text = json.dumps(results, indent=2, sort_keys=True)
  print(text)
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
