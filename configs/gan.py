"""GAN, non-saturating minimax, multi-resolution STFT critics + reconstruction terms."""

from restoration.config import base_config


def get_config(size: str = 'demo'):
  c = base_config('gan', size or 'demo', demo_steps=150, finetune_steps=100)
  if 'finetune' in c.presets:
    # From a trained generator the adversarial gradient (norm ~50 at these weights) drowns the
    # reconstruction one (~2) under global-norm clipping: validation LSD 1.00 -> 1.10 in 100
    # steps. A twentieth keeps them comparable (LSD 1.06, critic still at 87% of chance).
    a = c.objective.adversarial
    a.weight, a.feature_matching_weight = 0.05, 0.1
  return c


def get_sweep(size: str):
  return [
    {'seed': s, 'objective.adversarial.loss': a}
    for a in ('non_saturating', 'hinge', 'lsgan')
    for s in range(2)
  ]
