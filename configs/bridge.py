"""Data-to-data bridge from the degraded to the clean spectrogram, few-step sampling."""

from restoration.config import base_config


def get_config(size: str = 'demo'):
  c = base_config('bridge', size or 'demo', demo_steps=250)
  c.sampling.steps = 4
  c.sampling.eval_steps = (1, 2, 4, 8) if c.size != 'smoke' else (1, 2)
  return c


def get_sweep(size: str):
  return [{'seed': s, 'objective.bridge.sigma': g} for g in (0.5, 1.0) for s in range(2)]
