"""Conditional diffusion on the codec residual (EDM preconditioning, or VP-cosine), sampled
by Euler/Heun/DDIM from pure noise or from the degraded input noised to ``start_sigma``."""

from __future__ import annotations

import jax

from restoration.methods import base
from restoration.objectives import diffusion, sampling
from restoration.train import steps


def _net_fn(nets, params, rest):
  """``net_fn(x_in, cond, c_noise)`` of the denoiser (degraded spectrogram as ``cond``)."""
  model = nets.merge('denoiser', params, rest)
  return lambda x, cond, c_noise: model(x, cond=cond, noise_level=c_noise)


class Diffusion(base.ConditionalDenoiser):
  family = 'diffusion'
  objective = (
    'denoising score matching (EDM preconditioning and weighting) on the codec residual, '
    'conditioned on the degraded input'
  )
  uses = 'offline, highest-fidelity restoration where compute per clip is acceptable'
  specific_modules = ('restoration.objectives.diffusion', 'restoration.objectives.sampling')

  def check(self, config, need):
    o, s, d = config.objective, config.sampling, config.objective.diffusion
    need(
      d.schedule in diffusion.SCHEDULES,
      'objective.diffusion.schedule',
      f'one of {diffusion.SCHEDULES}',
    )
    need(
      d.target in diffusion.VP_TARGETS,
      'objective.diffusion.target',
      f'one of {diffusion.VP_TARGETS}',
    )
    need(
      d.schedule != 'edm' or d.target == 'x0',
      'objective.diffusion.target',
      '"x0" with objective.diffusion.schedule="edm" (other targets need "vp_cosine")',
    )
    need(o.space in diffusion.SPACES, 'objective.space', f'one of {diffusion.SPACES}')
    need(o.residual_scale > 0, 'objective.residual_scale', 'a positive float')
    need(s.sampler in sampling.SAMPLERS, 'sampling.sampler', f'one of {sampling.SAMPLERS}')
    need(s.steps >= 1, 'sampling.steps', 'an integer >= 1')
    need(
      len(s.eval_steps) > 0 and min(s.eval_steps) >= 1,
      'sampling.eval_steps',
      'positive step counts',
    )
    need(s.start_sigma >= 0, 'sampling.start_sigma', '>= 0 (0: start from pure noise)')

  def step(self, config, nets) -> base.Step:
    """Denoising objective (EDM or VP-cosine) conditioned on the degraded spectrogram."""
    o = config.objective

    def step(state, batch, rng, *, axis_name=None):
      x0 = diffusion.to_process(batch['clean'], batch['degraded'], o.space, o.residual_scale)
      keys = steps.example_keys(rng, x0.shape[0], axis_name)

      def loss_fn(params):
        return diffusion.diffusion_loss(
          keys,
          _net_fn(nets, params, state['rest']['denoiser']),
          x0,
          batch['degraded'],
          schedule=o.diffusion.schedule,
          target=o.diffusion.target,
          sigma_data=o.diffusion.sigma_data,
          p_mean=o.diffusion.p_mean,
          p_std=o.diffusion.p_std,
        )

      (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params']['denoiser'])
      state, info = steps.update(state, nets, 'denoiser', grads, loss, axis_name)
      metrics = {
        'loss': loss,
        'diffusion/x0_mse': terms['x0_mse'],
        'denoiser_grad_norm': info['denoiser_grad_norm'],
      }
      return steps.finish(state, nets, config.train.ema_decay, info['ok'], metrics, axis_name)

    return step

  def enhancer(self, config, nets, *, steps: int | None = None) -> base.Enhancer:
    """Integrates the sampler for ``steps`` (default ``config.sampling.steps``), from pure
    noise or, when ``config.sampling.start_sigma > 0``, from the degraded input noised to
    that level."""
    s, o = config.sampling, config.objective
    steps = steps or s.steps
    start_sigma = float(s.start_sigma)

    def run(params, rest, degraded, rng):
      denoise = diffusion.denoiser(
        _net_fn(nets, params, rest),
        degraded,
        schedule=o.diffusion.schedule,
        target=o.diffusion.target,
        sigma_data=o.diffusion.sigma_data,
      )
      kwargs = dict(rng=rng, steps=steps, sampler=s.sampler, sigma_min=s.sigma_min, rho=s.rho)
      if start_sigma > 0:  # the degraded input is x = degraded, i.e. residual 0
        x_start = diffusion.to_process(degraded, degraded, o.space, o.residual_scale)
        x = sampling.sample(
          denoise, degraded.shape, x_start=x_start, start_sigma=start_sigma, **kwargs
        )
      else:
        x = sampling.sample(denoise, degraded.shape, sigma_max=s.sigma_max, **kwargs)
      return diffusion.from_process(x, degraded, o.space, o.residual_scale)

    return run

  def network_calls(self, config, steps: int | None = None) -> int:
    return sampling.num_network_calls(config.sampling.sampler, steps or config.sampling.steps)

  def describe(self, config) -> dict[str, str]:
    s, o = config.sampling, config.objective
    start = (
      f'the degraded input noised to sigma {s.start_sigma:g}'
      if s.start_sigma > 0
      else f'pure noise at sigma {s.sigma_max:g}'
    )
    space = 'the residual clean - degraded' if o.space == 'residual' else 'the clean spectrogram'
    return {
      **super().describe(config),
      'sampling': f'{s.sampler} sampler from {start}; the process diffuses {space}.',
    }


base.register(Diffusion('diffusion'))
