"""Pretrains the projected critic's frozen feature network: classify clean vs codec:bitrate."""

from restoration.config import base_config


def get_config(size: str = 'demo'):
  c = base_config('features', size or 'demo', demo_steps=300)
  c.train.ema_decay = 0.0
  return c


def get_sweep(size: str):
  return [{'seed': s} for s in range(2)]
