"""Conditional diffusion (EDM preconditioning and loss weighting), Heun sampler."""

from restoration.config import base_config


def get_config(size: str = 'demo'):
  c = base_config('diffusion', size or 'demo', demo_steps=250)
  # Sample from the degraded input noised to sigma 0.5 (SDEdit-style warm start) instead of
  # pure noise at sigma_max: at the demo size that beat the input at 1-8 steps, where pure
  # noise needed 8 steps and diverged at 2 (README.md: measured numbers).
  c.sampling.start_sigma = 0.5
  return c


def get_sweep(size: str):
  return [
    {'seed': s, 'objective.diffusion.schedule': sch, 'objective.diffusion.target': tgt}
    for sch, tgt in (('edm', 'x0'), ('vp_cosine', 'v'))
    for s in range(2)
  ]
