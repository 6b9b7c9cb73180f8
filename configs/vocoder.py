"""Waveform diffusion vocoder: a bridge on the waveform residual, few-step sampling."""

from restoration.config import base_config


def get_config(size: str = 'demo'):
  c = base_config('vocoder', size or 'demo', demo_steps=250)
  c.objective.reconstruction = dict(mse=1.0, mrstft=1.0, mel=0.0)
  # The demo corpus's waveform residual has RMS 0.033 (clean 0.14): / 0.05 is about sigma_data.
  c.objective.residual_scale = 0.05
  c.objective.bridge_sigma = 1.0  # sigma(t) = bridge_sigma * sqrt(t (1 - t))
  c.objective.bridge_p_start = 0.25  # share of training at t = 0 (the one-step pass)
  c.sampling.steps = 4 if c.size != 'smoke' else 2
  c.sampling.eval_steps = (1, 2, 4, 8) if c.size != 'smoke' else (1, 2)
  return c


def get_sweep(size: str):
  return [{'seed': s, 'objective.bridge_sigma': g} for g in (0.5, 1.0) for s in range(2)]
