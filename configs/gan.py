"""GAN, non-saturating minimax, multi-resolution STFT critics + reconstruction terms."""

from restoration.config import base_config


def get_config(size: str = 'demo'):
  c = base_config('gan', size or 'demo', demo_steps=150, finetune_steps=100)
  c.objective.adversarial = 'non_saturating'
  c.critic.kind = 'mrstft'
  c.objective.feature_matching_weight = 2.0
  c.objective.reconstruction = dict(mse=1.0, mrstft=1.0, mel=0.0)
  return c


def get_sweep(size: str):
  return [
    {'seed': s, 'objective.adversarial': a}
    for a in ('non_saturating', 'hinge', 'lsgan')
    for s in range(2)
  ]
