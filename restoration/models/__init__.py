"""Networks of the compared methods: one shared U-Net backbone, the critics, frozen feature nets."""

from restoration.models.discriminators import (
  CRITIC_KINDS,
  CRITIC_PRESETS,
  CombinedCritic,
  MultiPeriodCritic,
  MultiResolutionSTFTCritic,
  ProjectedCritic,
  make_critic,
)
from restoration.models.features import (
  FEATURE_PRESETS,
  CodecClassifier,
  FeatureNet,
  Frozen,
  freeze,
  load_feature_net,
  random_feature_net,
)
from restoration.models.unet import (
  UNET_PRESETS,
  UNet,
  count_trainable_params,
  forward_flops,
  time_forward,
)
