"""Regression baseline: the shared U-Net trained with reconstruction losses only."""

from restoration.config import base_config


def get_config(size: str = 'demo'):
  c = base_config('regression', size or 'demo', demo_steps=250)
  return c


def get_sweep(size: str):
  return [{'seed': s} for s in range(3)]
