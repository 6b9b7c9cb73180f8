"""Predictive + generative (StoRM-style): a bridge from the frozen regression estimate to clean.

``train.init_from`` names the predictor's run (a regression workdir of the same model preset);
``make demo`` sets it to its own regression run. Otherwise as configs/bridge.py.
"""

from restoration.config import load_config


def get_config(size: str = 'demo'):
  c = load_config('bridge', size)
  c.method = 'predictive_bridge'
  # What is left after the predictor is smaller than the codec residual: less bridge noise.
  # (From the degraded input at the demo size, sigma 0.3 gave LSD 1.04 / 1.08 / 1.09 at 1 / 2 /
  # 4 steps against 1.10 / 1.21 / 1.22 for 1.0; from the prediction, 1.0 changed nothing.)
  c.objective.bridge.sigma = 0.3
  return c


def get_sweep(size: str):
  return [{'seed': s, 'objective.bridge.sigma': g} for g in (0.5, 1.0) for s in range(2)]
