"""Apply a trained model to degraded spectrograms: the one path shared by the training loop's
validation, ``evaluate``, ``restore`` and the benchmark."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from restoration.objectives import diffusion, sampling
from restoration.train import state as state_lib
from restoration.train.state import Networks


def saved_config(workdir: str, step: int | None = None):
  """The config saved beside a run's checkpoint (latest step by default)."""
  import ml_collections

  from restoration.checkpoint import Checkpointer

  ckpt = Checkpointer(workdir, save_every=1, read_only=True)
  if ckpt.latest_step() is None:
    raise FileNotFoundError(f'{workdir}: no checkpoint under {ckpt.directory}')
  return ml_collections.ConfigDict(ckpt.saved_config(step))


def load_workdir(workdir: str, which: str = 'best') -> tuple[Any, Networks, Any, Any, int]:
  """``(config, networks, params, rest, step)`` of a trained run, onto the default device.

  ``which``: 'best' (by the validation metric; falls back to 'latest'), 'latest', or a step.
  Sampling uses the EMA weights when the run kept them.
  """
  import ml_collections

  from restoration.checkpoint import Checkpointer

  ckpt = Checkpointer(workdir, save_every=1, read_only=True)
  step = ckpt.latest_step()
  if step is None:
    raise FileNotFoundError(
      f'{workdir}: no checkpoint under {ckpt.directory}; train first with '
      'python -m restoration.main --config=... --workdir=' + str(workdir)
    )
  if which == 'best':
    step = ckpt.best_step() or step
  elif which != 'latest':
    step = int(which)
  config = ml_collections.ConfigDict(ckpt.saved_config(step))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = state_lib.abstract_state(config, None)
  target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), target)
  state = ckpt.restore(target, step)
  ckpt.close()
  nets = state_lib.networks(config)
  params = state['ema'] if config.train.ema_decay else state['params'][nets.main]
  return config, nets, params, state['rest'][nets.main], step


def enhancer(
  config, nets: Networks, *, steps: int | None = None, sampler: str | None = None
) -> Callable:
  """``fn(params, rest, degraded [B, T, F, 2], rng) -> restored [B, T, F, 2]`` (jit-able).

  Generators and the regression model run once; the diffusion model integrates its sampler
  for ``steps`` (default ``config.sampling.steps``), from pure noise or, when
  ``config.sampling.start_sigma > 0``, from the degraded input noised to that level.
  """
  if nets.method == 'features':
    raise ValueError('method "features" trains a classifier; it does not restore audio')
  if nets.method != 'diffusion':
    return lambda params, rest, degraded, rng: nets.merge(nets.main, params, rest)(degraded)
  s, o = config.sampling, config.objective
  steps = steps or s.steps
  sampler = sampler or s.sampler
  start_sigma = float(s.start_sigma)

  def run(params, rest, degraded, rng):
    model = nets.merge('denoiser', params, rest)
    net_fn = lambda x, cond, c_noise: model(x, cond=cond, noise_level=c_noise)
    denoise = diffusion.denoiser(
      net_fn, degraded, schedule=o.schedule, target=o.target, sigma_data=o.sigma_data
    )
    if start_sigma > 0:  # the degraded input is x = degraded, i.e. residual 0
      x_start = diffusion.to_process(degraded, degraded, o.space, o.residual_scale)
      x = sampling.sample(
        denoise,
        degraded.shape,
        rng=rng,
        steps=steps,
        sampler=sampler,
        sigma_min=s.sigma_min,
        rho=s.rho,
        x_start=x_start,
        start_sigma=start_sigma,
      )
    else:
      x = sampling.sample(
        denoise,
        degraded.shape,
        rng=rng,
        steps=steps,
        sampler=sampler,
        sigma_min=s.sigma_min,
        sigma_max=s.sigma_max,
        rho=s.rho,
      )
    return diffusion.from_process(x, degraded, o.space, o.residual_scale)

  return run


def network_calls(config, steps: int | None = None) -> int:
  """Network evaluations per restored batch (1 for generators)."""
  if config.method != 'diffusion':
    return 1
  return sampling.num_network_calls(config.sampling.sampler, steps or config.sampling.steps)
