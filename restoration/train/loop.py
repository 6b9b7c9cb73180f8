"""The outer training loop: data, compiled step, logging, validation, checkpoints, preemption.

All side effects live here; the step itself is pure (``train/steps.py``).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from restoration import checkpoint as checkpoint_lib
from restoration import config as config_lib
from restoration import inference, methods, records, spectral
from restoration import metrics as metrics_lib
from restoration import state as state_lib
from restoration.data import builder as builder_lib
from restoration.data import pipeline
from restoration.errors import UserError
from restoration.spectral import SpectralParams
from restoration.train import lock, sharding, summaries, warm_start

log = logging.getLogger('restoration')


class NonFiniteError(UserError, RuntimeError):
  """Too many consecutive steps with a non-finite loss or gradient."""


def prepare_data(config) -> Any:
  """Prepares the pairs dataset on process 0 (others wait) and returns its builder."""
  if jax.process_index() == 0:
    builder_lib.prepare(config.data)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices('restoration: dataset prepared')
  return builder_lib.get_builder(config.data)


def setup(config, workdir: str):
  """Distributed init, mesh, state (restored when a checkpoint exists) of a validated config."""
  sharding.maybe_initialize_distributed(config)
  os.makedirs(workdir, exist_ok=True)
  mesh = sharding.make_mesh(config.parallel.model_axis)
  nets, state, shardings = state_lib.create(
    config, sharding_fn=lambda a: sharding.param_sharding(mesh, a)
  )
  t = config.train
  ckpt = checkpoint_lib.Checkpointer(
    workdir,
    save_every=t.checkpoint_every,
    keep=t.keep_checkpoints,
    best_metric=t.best_metric if methods.get(config.method).restores else None,
    best_mode='min',
  )
  if ckpt.latest_step() is not None:
    target = state_lib.abstract_state(config, shardings)
    try:
      state = ckpt.restore_newest_readable(
        lambda _: target, fallback=t.checkpoint_fallback, set_aside=True
      ).state
    except BaseException as e:
      ckpt.close()
      if isinstance(e, checkpoint_lib.UnreadableCheckpointError) and not t.checkpoint_fallback:
        raise checkpoint_lib.UnreadableCheckpointError(
          f'{e}; config.train.checkpoint_fallback=False: not falling back to an older step '
          '(set it to True to resume from the newest readable one)'
        ) from None
      raise
    log.info('resumed from %s at step %d', ckpt.directory, int(state['step']))
  elif t.init_from:
    state = warm_start.warm_start(config, state, methods.get(config.method))
    log.info('[%s] main network %r warm-started from %s', config.method, nets.main, t.init_from)
  return mesh, nets, state, shardings, ckpt


def validate_model(
  config, enhance, params, rest, builder, mesh, step: int, extra=None, state=None
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
  """Restores ``eval_batches`` validation batches with ``enhance`` (the run's jitted
  :func:`inference.enhancer`, built once so evaluations do not recompile) -> (scores, first
  example).

  Scores: LSD (full and high band) and SI-SDR of the output, and the input's LSD beside it,
  plus the method's own ``extra(state, batch, restored)`` scores (e.g. critic accuracy).
  The first example (clean/degraded/restored waves and spectrograms) feeds the summaries.
  """
  p = SpectralParams.from_config(config.spectral)
  sr = config.data.sample_rate
  batches = pipeline.global_batches(
    builder, config, sharding.batch_sharding(mesh), split='validation', train=False
  )
  scores = {'lsd': [], 'lsd_high': [], 'si_sdr': [], 'input_lsd': []}
  example = {}
  for i in range(config.train.eval_batches):
    batch = next(batches)
    out = enhance(params, rest, batch['degraded'], jax.random.key(step + i))
    for key, value in (extra(state, batch, out) if extra is not None else {}).items():
      value = multihost_utils.process_allgather(value, tiled=True)
      scores.setdefault(key, []).extend(np.asarray(value).tolist())
    wave = spectral.synthesis(out, p, batch['clean_wave'].shape[-1])
    wave, clean, degraded = (
      np.asarray(multihost_utils.process_allgather(x, tiled=True))
      for x in (wave, batch['clean_wave'], batch['degraded_wave'])
    )
    if not example:
      example = {'clean': clean[0], 'degraded': degraded[0], 'restored': wave[0]}
    for r, e, d in zip(clean, wave, degraded):
      scores['lsd'].append(metrics_lib.lsd(r, e, sr))
      scores['lsd_high'].append(metrics_lib.lsd(r, e, sr, band='high'))
      scores['si_sdr'].append(metrics_lib.si_sdr(r, e))
      scores['input_lsd'].append(metrics_lib.lsd(r, d, sr))
  return {k: float(np.mean(v)) for k, v in scores.items()}, example


def write_example_summaries(writer, step: int, example: dict[str, np.ndarray], config) -> None:
  """Log-magnitude image (clean | degraded | restored) and the three audio clips."""
  p = SpectralParams.from_config(config.spectral)
  rows = [
    np.log10(np.abs(np.asarray(spectral.stft(jnp.asarray(example[k]), p.n_fft, p.hop))) + 1e-5)
    for k in ('clean', 'degraded', 'restored')
  ]
  img = np.concatenate([r.T[::-1] for r in rows], axis=1)
  img = (img - img.min()) / (np.ptp(img) + 1e-8)
  writer.write_images(step, {'spectrogram/clean|degraded|restored': img[None, :, :, None]})
  writer.write_audios(
    step,
    {f'audio/{k}': np.clip(v, -1, 1)[None, :, None] for k, v in example.items()},
    sample_rate=config.data.sample_rate,
  )


def train_and_evaluate(config, workdir: str, stop_at: int | None = None) -> dict[str, float]:
  """Trains ``config.method`` in ``workdir``; resumes from its latest readable checkpoint.

  A second training on a busy ``workdir`` is refused (:mod:`restoration.train.lock`).
  ``stop_at`` ends this invocation after that step (saved), as a preemption would. However it
  ends (an error too), pending async saves finish first: exiting under them makes Orbax's
  background threads print tracebacks and leaves the step uncommitted.
  """
  t_setup = time.time()
  # Every process joins before the lock's broadcast; a refused config leaves no workdir behind.
  sharding.maybe_initialize_distributed(config)
  config_lib.validate(config, num_devices=jax.device_count(), num_processes=jax.process_count())
  with lock.workdir_lock(workdir):
    mesh, nets, state, shardings, ckpt = setup(config, workdir)
    with ckpt:
      return _train(config, workdir, stop_at, t_setup, mesh, nets, state, shardings, ckpt)


def _train(
  config, workdir: str, stop_at: int | None, t_setup: float, mesh, nets, state, shardings, ckpt
) -> dict[str, float]:
  """The body of :func:`train_and_evaluate` after :func:`setup`."""
  log.info(
    '[%s] state ready on %d devices (%.1f s); params %s',
    config.method,
    jax.device_count(),
    time.time() - t_setup,
    {k: state_lib.count_scalars(v) for k, v in state['params'].items()},
  )
  t_data = time.time()
  builder = prepare_data(config)
  log.info(
    '[%s] dataset %s ready (%.1f s); input: %s, spectrograms on the %s',
    config.method,
    builder.builder_config.name,
    time.time() - t_data,
    pipeline.loader(config),
    pipeline.spectra_on(config),
  )
  t = config.train
  start = int(jax.device_get(state['step']))
  backend = config.parallel.backend
  method = methods.get(config.method)
  step_fn = sharding.compile_step(method.step(config, nets), mesh, shardings, backend)
  host_state = step_fn.from_step
  state = step_fn.to_step(state)
  if backend == 'pmap':
    batches = pipeline.local_batches(builder, config, start_step=start)
  else:
    batches = pipeline.global_batches(
      builder, config, sharding.batch_sharding(mesh), start_step=start
    )
  writer = summaries.TensorBoardWriter(workdir, enabled=jax.process_index() == 0)
  if start == 0:
    writer.write_hparams(
      {k: str(v) for k, v in config.to_dict().items() if not isinstance(v, dict)}
    )
  rng = jax.random.key(config.seed)
  config_dict = config.to_dict()
  lr = methods.lr_schedule(config, t.learning_rate)
  examples_per_step = t.global_batch
  last, enhance = {}, None
  scores_fn = method.validation_scores(config, nets)
  extra = jax.jit(scores_fn) if scores_fn is not None else None
  t0, timed_steps, compile_s = time.time(), 0, None
  t_start, eval_s = time.time(), 0.0
  out_of_time = False  # train.max_train_seconds spent: this step is the invocation's last
  curve, history = [], []  # the learning curve and the logged learning signals, for the log
  with checkpoint_lib.PreemptionGuard() as guard:
    end = min(t.num_steps, stop_at or t.num_steps)
    # The previous step's non-finite count, read once this step is dispatched: reading this
    # step's would idle the accelerator between steps. A non-finite step changes no weights.
    pending = None
    for step in range(start, end):
      batch = next(batches)
      state, metrics = step_fn(state, batch, jax.random.fold_in(rng, step))
      if compile_s is None:
        jax.block_until_ready(metrics)
        compile_s, t0 = time.time() - t0, time.time()
        log.info('[%s] first step (compile + input warm-up) took %.1f s', config.method, compile_s)
      else:
        timed_steps += 1
      done = step + 1
      if pending is not None:
        _check_finite(*pending, t.max_nonfinite_steps)
      pending = (done, metrics['nonfinite'])
      # Evaluation time is not training time; t0 was reset after the compile.
      out_of_time = _out_of_time(t.max_train_seconds, time.time() - t0 - eval_s, done, t.log_every)
      last_step = done == t.num_steps or out_of_time
      if done % t.log_every == 0 or last_step:
        m = {k: float(v) for k, v in jax.device_get(metrics).items()}
        elapsed = time.time() - t0
        rate = timed_steps / elapsed if elapsed > 0 and timed_steps else float('nan')
        m.update(
          steps_per_second=rate,
          examples_per_second=rate * examples_per_step,
          learning_rate=float(lr(step)),
          compile_seconds=compile_s,
        )
        writer.write_scalars(done, m)
        eta = (t.num_steps - done) / rate if rate == rate and rate > 0 else float('nan')
        shown = ' '.join(
          f'{k}={m[k]:.4g}'
          for k in sorted(m)
          if '/' not in k and k not in ('learning_rate', 'compile_seconds')
        )
        log.info('[%s] step %d/%d %s ETA %.0fs', config.method, done, t.num_steps, shown, eta)
        last.update(m)
        history.append({'step': done, **{k: m[k] for k in method.history if k in m}})
      eval_metrics = None
      if method.restores and (done % t.eval_every == 0 or last_step):
        t_eval = time.time()
        hs = host_state(state)
        params = hs['ema'] if t.ema_decay else hs['params'][nets.main]
        enhance = enhance or jax.jit(inference.enhancer(config, nets))
        eval_metrics, example = validate_model(
          config, enhance, params, hs['rest'][nets.main], builder, mesh, done, extra, hs
        )
        writer.write_scalars(done, {f'eval/{k}': v for k, v in eval_metrics.items()})
        write_example_summaries(writer, done, example, config)
        log.info(
          '[%s] eval at step %d: %s',
          config.method,
          done,
          ' '.join(f'{k}={v:.4g}' for k, v in eval_metrics.items()),
        )
        last.update({f'eval/{k}': v for k, v in eval_metrics.items()})
        eval_s += time.time() - t_eval
        curve.append(
          {'step': done, 'train_seconds': time.time() - t_start - eval_s, **eval_metrics}
        )
      stop = guard.should_stop(done)
      force = stop or done == end or out_of_time
      if force or ckpt.due(done):
        ckpt.save(done, host_state(state), config=config_dict, metrics=eval_metrics, force=force)
      if out_of_time:
        log.info(
          '[%s] train.max_train_seconds=%g reached: stopped at step %d (saved)',
          config.method,
          t.max_train_seconds,
          done,
        )
        break
      if stop:
        log.info('preempted: saved step %d, exiting', done)
        break
    if pending is not None:
      _check_finite(*pending, t.max_nonfinite_steps)
  ckpt.wait_until_finished()
  writer.close()
  final = jax.device_get(host_state(state))
  last['step'] = int(final['step'])
  last['params_checksum'] = float(sum(np.abs(x).sum() for x in jax.tree.leaves(final['params'])))
  log.info(
    '[%s] done at step %d; params checksum %.8f',
    config.method,
    int(final['step']),
    last['params_checksum'],
  )
  if jax.process_index() == 0 and int(final['step']) > start:  # not for a no-op re-run
    records.append(
      workdir,
      records.Segment(
        method=config.method,
        start_step=start,
        end_step=int(final['step']),
        wall_seconds=time.time() - t_start,
        eval_seconds=eval_s,
        compile_seconds=compile_s,
        out_of_time=out_of_time,
        skipped_steps=int(final['skipped']),
        devices=jax.device_count(),
        params={k: state_lib.count_scalars(v) for k, v in final['params'].items()},
        **methods.run_facts(config),
        init_from=records.source(t.init_from) if t.init_from else None,
        last=last,
        curve=curve,
        history=history,
      ),
    )
  return last


def _out_of_time(limit: float, trained_seconds: float, step: int, log_every: int) -> bool:
  """Whether ``limit`` seconds of training (0: none) are spent. Several processes must stop at
  the same step: process 0 decides, at log steps only, so other steps add no host sync."""
  if not limit:
    return False
  if jax.process_count() == 1:
    return trained_seconds >= limit
  if step % log_every:
    return False
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(trained_seconds >= limit)))


def _check_finite(step: int, nonfinite: jax.Array, max_steps: int) -> None:
  count = int(jax.device_get(nonfinite))
  if count >= max_steps:
    raise NonFiniteError(
      f'{count} consecutive steps with a non-finite loss or gradient at step {step} '
      f'(config.train.max_nonfinite_steps={max_steps}); lower '
      'config.train.learning_rate or check the data'
    )
