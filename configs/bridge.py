"""Data-to-data bridge from the degraded to the clean spectrogram, few-step sampling."""

from restoration.config import base_config


def get_config(size: str = 'demo'):
  c = base_config('bridge', size or 'demo', demo_steps=250)
  c.objective.reconstruction = dict(mse=1.0, mrstft=1.0, mel=0.0)
  c.objective.bridge_sigma = 1.0  # sigma(t) = bridge_sigma * sqrt(t (1 - t)) on residual / 0.1
  c.objective.bridge_p_start = 0.25  # share of training at t = 0 (the one-step pass)
  c.sampling.steps = 4
  c.sampling.eval_steps = (1, 2, 4, 8) if c.size != 'smoke' else (1, 2)
  return c


def get_sweep(size: str):
  return [{'seed': s, 'objective.bridge_sigma': g} for g in (0.5, 1.0) for s in range(2)]
