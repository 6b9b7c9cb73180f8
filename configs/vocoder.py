"""Waveform diffusion vocoder: a bridge on the waveform residual, few-step sampling."""

from restoration.config import base_config


def get_config(size: str = 'demo'):
  c = base_config('vocoder', size or 'demo', demo_steps=250)
  # The demo corpus's waveform residual has RMS 0.033 (clean 0.14): / 0.05 is about sigma_data.
  c.objective.residual_scale = 0.05
  c.sampling.steps = 4 if c.size != 'smoke' else 2
  c.sampling.eval_steps = (1, 2, 4, 8) if c.size != 'smoke' else (1, 2)
  return c


def get_sweep(size: str):
  return [{'seed': s, 'objective.bridge.sigma': g} for g in (0.5, 1.0) for s in range(2)]
