"""Critics for the GAN methods.

Every critic returns ``(logits, features)``, in float32: one logits map per sub-critic (or
head) and, per sub-critic, the list of its intermediate feature maps (for feature matching). The
objectives sum losses over the list, so critics of different kinds combine by concatenation.
``critic.takes`` says what a critic reads: ``'wave'`` ([B, samples]) or ``'spec'`` (the model
representation [B, T, F, 2]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from restoration import spectral
from restoration.models.features import FeatureNet, freeze, random_feature_net
from restoration.models.unet import count_trainable_params, forward_flops, time_forward
from restoration.spectral import SpectralParams

CriticOutput = tuple[list[jax.Array], list[list[jax.Array]]]

# Per size, the constructor kwargs of each critic kind. Windows assume 16 kHz audio.
CRITIC_PRESETS: dict[str, dict[str, dict]] = {
  'smoke': {
    'mrstft': dict(windows=(128, 256), channels=4, n_strided=2, patch=4),
    'mpd': dict(periods=(2, 3), channels=(4, 8)),
    'projected': dict(feature_size='smoke', head_channels=8),
  },
  'demo': {
    'mrstft': dict(windows=(256, 512, 1024), channels=16),
    'mpd': dict(periods=(2, 3, 5, 7, 11), channels=(8, 16, 32, 32)),
    'projected': dict(feature_size='demo', head_channels=16),
  },
  'base': {
    'mrstft': dict(windows=(256, 512, 1024), channels=32, kernel=(3, 5), n_strided=4, patch=4),
    'mpd': dict(periods=(2, 3, 5, 7, 11), channels=(32, 64, 128, 256)),
    'projected': dict(feature_size='base', head_channels=64),
  },
  'large': {
    'mrstft': dict(
      windows=(128, 256, 512, 1024, 2048), channels=64, kernel=(3, 9), n_strided=4, patch=2
    ),
    'mpd': dict(periods=(2, 3, 5, 7, 11), channels=(32, 128, 512, 1024)),
    'projected': dict(feature_size='large', head_channels=128),
  },
}
CRITIC_KINDS = ('mrstft', 'mpd', 'mrstft+mpd', 'projected')


def _lrelu(x: jax.Array) -> jax.Array:
  return nnx.leaky_relu(x, 0.2)


def _float32(tree):
  """A critic's outputs in float32 whatever its compute dtype (``train.compute_dtype``): the
  adversarial and feature-matching losses run in float32."""
  return jax.tree.map(lambda a: a.astype(jnp.float32), tree)


def _conv_stack(convs: Sequence[nnx.Conv], out: nnx.Conv, h: jax.Array):
  """Leaky-ReLU conv stack: returns (logits map, hidden activations), in float32."""
  feats = []
  for conv in convs:
    h = _lrelu(conv(h))
    feats.append(h)
  return _float32((out(h), feats))


class _STFTSubCritic(nnx.Module):
  """Frequency bins grouped ``patch`` at a time into channels, then 2D convs over
  (time, freq patch) striding frequency by 2 with time dilations 1, 1, 2, 4, ... (Encodec's
  MS-STFT-D layout). Grouping first keeps convs at >= 16 channels on fewer positions, which
  XLA's CPU convolutions run several times faster per FLOP than 2-8 channel convs."""

  def __init__(
    self,
    c_in: int,
    channels: int,
    kernel: tuple[int, int],
    n_strided: int,
    patch: int,
    rngs: nnx.Rngs,
  ):
    self.patch = patch
    convs = [nnx.Conv(c_in * patch, channels, kernel, rngs=rngs)]
    for i in range(n_strided):
      convs.append(
        nnx.Conv(
          channels,
          channels,
          kernel,
          strides=(1, 2),
          kernel_dilation=(2 ** max(i - 1, 0), 1),
          rngs=rngs,
        )
      )
    convs.append(nnx.Conv(channels, channels, (3, 3), rngs=rngs))
    self.convs = nnx.List(convs)
    self.out = nnx.Conv(channels, 1, (3, 3), rngs=rngs)

  def __call__(self, x: jax.Array):
    b, t, f, c = x.shape
    x = jnp.pad(x, ((0, 0), (0, 0), (0, -f % self.patch), (0, 0)))
    return _conv_stack(self.convs, self.out, x.reshape(b, t, -1, self.patch * c))


_INPUT_CHANNELS = {'complex': 2, 'magnitude': 1, 'log_complex': 3}
INPUT_KINDS = tuple(_INPUT_CHANNELS)


def _log_magnitude(spec: jax.Array) -> jax.Array:
  """``log10(|X|^2)`` mapped to about [-1, 1] over a 80 dB range (floor at -80 dB)."""
  return 0.25 * (jnp.log10(jnp.square(jnp.abs(spec)) + 1e-8) + 4.0)


class MultiResolutionSTFTCritic(nnx.Module):
  """One sub-critic per STFT window (hop = window / 4) on the compressed spectrum.

  ``input_kind='complex'`` reads (real, imag) of ``c(X)``, so it can judge phase;
  ``'magnitude'`` reads ``|c(X)|`` only; ``'log_complex'`` (default) reads ``c(X) / beta`` and
  the log power. The log channel is what lets a small critic learn fast: a codec's missing
  band is ~-80 dB against ~-30 dB in log power, but only 0 against ~0.02 in ``c(X)``; from
  ``'complex'`` input alone a demo-size critic stays near chance for hundreds of GAN steps.
  """

  takes = 'wave'

  def __init__(
    self,
    *,
    windows: Sequence[int] = (256, 512, 1024),
    channels: int = 16,
    kernel: tuple[int, int] = (3, 3),
    n_strided: int = 3,
    patch: int = 8,
    input_kind: str = 'log_complex',
    alpha: float = 0.5,
    beta: float = 0.15,
    rngs: nnx.Rngs,
  ):
    if input_kind not in INPUT_KINDS:
      raise ValueError(
        f'MultiResolutionSTFTCritic.input_kind: expected one of {INPUT_KINDS}, got {input_kind!r}'
      )
    self.windows, self.input_kind, self.alpha, self.beta = tuple(windows), input_kind, alpha, beta
    c_in = _INPUT_CHANNELS[input_kind]
    self.subs = nnx.List(
      [_STFTSubCritic(c_in, channels, tuple(kernel), n_strided, patch, rngs) for _ in self.windows]
    )

  def __call__(self, wave: jax.Array) -> CriticOutput:
    _check_wave(wave, type(self).__name__)
    logits, feats = [], []
    for win, sub in zip(self.windows, self.subs):
      spec = spectral.stft(wave, win, win // 4)
      x = spectral.to_channels(spectral.compress(spec, self.alpha, self.beta))
      if self.input_kind == 'magnitude':
        x = spectral.magnitude(x)[..., None]
      elif self.input_kind == 'log_complex':
        x = jnp.concatenate([x / self.beta, _log_magnitude(spec)[..., None]], axis=-1)
      out, hidden = sub(x)
      logits.append(out)
      feats.append(hidden)
    return logits, feats


class _PeriodSubCritic(nnx.Module):
  """HiFi-GAN MPD sub-critic: (k, 1) convs over the wave folded into ``period`` columns."""

  def __init__(
    self, period: int, channels: Sequence[int], kernel: int, stride: int, rngs: nnx.Rngs
  ):
    self.period = period
    c_in, convs = 1, []
    for i, c in enumerate(channels):
      s = stride if i < len(channels) - 1 else 1
      convs.append(nnx.Conv(c_in, c, (kernel, 1), strides=(s, 1), rngs=rngs))
      c_in = c
    self.convs = nnx.List(convs)
    self.out = nnx.Conv(c_in, 1, (3, 1), rngs=rngs)

  def __call__(self, wave: jax.Array):
    b, n = wave.shape
    pad = -n % self.period
    x = jnp.pad(wave, ((0, 0), (0, pad)), mode='reflect') if pad else wave
    return _conv_stack(self.convs, self.out, x.reshape(b, -1, self.period, 1))


class MultiPeriodCritic(nnx.Module):
  """HiFi-GAN multi-period critic: sees periodic structure (pitch) a spectrogram blurs."""

  takes = 'wave'

  def __init__(
    self,
    *,
    periods: Sequence[int] = (2, 3, 5, 7, 11),
    channels: Sequence[int] = (8, 16, 32, 32),
    kernel: int = 5,
    stride: int = 3,
    rngs: nnx.Rngs,
  ):
    self.subs = nnx.List([_PeriodSubCritic(p, channels, kernel, stride, rngs) for p in periods])

  def __call__(self, wave: jax.Array) -> CriticOutput:
    _check_wave(wave, type(self).__name__)
    outs = [sub(wave) for sub in self.subs]
    return [o[0] for o in outs], [o[1] for o in outs]


def _upsample_to(x: jax.Array, like: jax.Array) -> jax.Array:
  """Nearest-neighbour upsampling of ``x`` to ``like``'s (time, freq) size."""
  t, f = like.shape[1], like.shape[2]
  x = jnp.repeat(jnp.repeat(x, -(-t // x.shape[1]), axis=1), -(-f // x.shape[2]), axis=2)
  return x[:, :t, :f]


def _frozen_call(module: nnx.Module, *args):
  """Call ``module`` with its weights behind stop_gradient: even a loss differentiated with
  respect to every variable gives them zero gradient, while inputs still get theirs."""
  graphdef, state = nnx.split(module)
  return nnx.merge(graphdef, jax.lax.stop_gradient(state))(*args)


class ProjectedCritic(nnx.Module):
  """Projected GAN critic on the model representation ``[B, T, F, 2]``.

  frozen FeatureNet (4 scales) -> CCM (fixed random 1x1 convs) -> CSM (trainable top-down
  upsample-and-add with 1x1/3x3 convs) -> one trainable head per scale. The feature net and
  CCM weights are ``Frozen`` variables (invisible to ``nnx.Param`` filters). Original
  Projected GAN also keeps CSM random; here CSM trains (a choice of this project). Features per
  head: the CSM output and the head's hidden layer.
  """

  takes = 'spec'

  def __init__(self, feature_net: FeatureNet, *, head_channels: int = 16, rngs: nnx.Rngs):
    chans = feature_net.channels
    self.features = freeze(feature_net)
    self.ccm = freeze(nnx.List([nnx.Conv(c, c, (1, 1), rngs=rngs) for c in chans]))
    self.csm_lateral = nnx.List(
      [nnx.Conv(c_fine, c_fine, (1, 1), rngs=rngs) for c_fine in chans[:-1]]
    )
    self.csm_top = nnx.List(
      [
        nnx.Conv(c_coarse, c_fine, (1, 1), rngs=rngs)
        for c_fine, c_coarse in zip(chans[:-1], chans[1:])
      ]
    )
    self.csm_out = nnx.List([nnx.Conv(c, c, (3, 3), rngs=rngs) for c in chans])
    self.head_hidden = nnx.List([nnx.Conv(c, head_channels, (3, 3), rngs=rngs) for c in chans])
    self.head_out = nnx.List([nnx.Conv(head_channels, 1, (1, 1), rngs=rngs) for _ in chans])

  def __call__(self, x: jax.Array) -> CriticOutput:
    if x.ndim != 4 or x.shape[-1] != 2:
      raise ValueError(f'ProjectedCritic input: expected [B, T, F, 2], got {x.shape}')
    z = [_frozen_call(ccm, f) for ccm, f in zip(self.ccm, _frozen_call(self.features, x))]
    y = [None] * len(z)
    y[-1] = self.csm_out[-1](z[-1])
    for s in reversed(range(len(z) - 1)):
      top = _upsample_to(self.csm_top[s](y[s + 1]), z[s])
      y[s] = self.csm_out[s](self.csm_lateral[s](z[s]) + top)
    logits, feats = [], []
    for s, ys in enumerate(y):
      hidden = _lrelu(self.head_hidden[s](ys))
      logits.append(self.head_out[s](hidden))
      feats.append([ys, hidden])
    return _float32((logits, feats))


class CombinedCritic(nnx.Module):
  """Several critics reading the same input; their lists are concatenated."""

  def __init__(self, critics: Sequence[nnx.Module]):
    kinds = {c.takes for c in critics}
    if len(kinds) != 1:
      raise ValueError(f'CombinedCritic: critics must read the same input, got {sorted(kinds)}')
    self.takes = kinds.pop()
    self.critics = nnx.List(critics)

  def __call__(self, x: jax.Array) -> CriticOutput:
    logits, feats = [], []
    for critic in self.critics:
      l, f = critic(x)
      logits += l
      feats += f
    return logits, feats


def _check_wave(wave: jax.Array, name: str) -> None:
  if wave.ndim != 2:
    raise ValueError(f'{name} input: expected a waveform [B, samples], got shape {wave.shape}')


def make_critic(
  kind: str,
  size: str,
  *,
  spectral: SpectralParams,
  feature_net: FeatureNet | None = None,
  options: Mapping[str, Mapping] | None = None,
  rngs: nnx.Rngs,
) -> nnx.Module:
  """Build a critic of ``kind`` (one of CRITIC_KINDS) at preset ``size``.

  ``spectral`` supplies the amplitude compression of the STFT critic; ``feature_net`` (only
  for 'projected') replaces the fixed random feature net, e.g. ``load_feature_net(...)``;
  ``options`` overrides preset kwargs per part, e.g. ``{'mrstft': {'input_kind': 'magnitude'}}``.
  """
  if kind not in CRITIC_KINDS:
    raise ValueError(f'critic kind: expected one of {CRITIC_KINDS}, got {kind!r}')
  if size not in CRITIC_PRESETS:
    raise ValueError(f'critic size: expected one of {sorted(CRITIC_PRESETS)}, got {size!r}')
  if feature_net is not None and kind != 'projected':
    raise ValueError(f"make_critic: feature_net is only used by kind 'projected', not {kind!r}")
  options = dict(options or {})
  unknown = set(options) - {'mrstft', 'mpd', 'projected'}
  if unknown:
    raise ValueError(f'make_critic.options: unknown parts {sorted(unknown)}')

  def kwargs(part: str) -> dict:
    return {**CRITIC_PRESETS[size][part], **options.get(part, {})}

  def build(part: str) -> nnx.Module:
    if part == 'mrstft':
      return MultiResolutionSTFTCritic(
        alpha=spectral.alpha, beta=spectral.beta, rngs=rngs, **kwargs(part)
      )
    if part == 'mpd':
      return MultiPeriodCritic(rngs=rngs, **kwargs(part))
    kw = kwargs(part)
    feature_size = kw.pop('feature_size')
    net = feature_net if feature_net is not None else random_feature_net(feature_size, rngs)
    return ProjectedCritic(net, rngs=rngs, **kw)

  parts = kind.split('+')
  return build(parts[0]) if len(parts) == 1 else CombinedCritic([build(p) for p in parts])


def _describe_presets(sample_rate: int = 16_000, batch: int = 16) -> None:
  """Print parameters, GFLOP per audio second and CPU forward time (batch x 1 s) per critic."""
  p = SpectralParams()
  for size in CRITIC_PRESETS:
    for kind in ('mrstft', 'mpd', 'projected'):
      critic = make_critic(kind, size, spectral=p, rngs=nnx.Rngs(0))
      shape = (sample_rate,) if critic.takes == 'wave' else (p.n_frames(sample_rate), p.n_freq, 2)
      gflops = forward_flops(critic, jnp.zeros((1,) + shape)) / 1e9
      xb = jax.random.normal(jax.random.key(0), (batch,) + shape)
      timing = f'forward {batch}x1s {time_forward(critic, xb):8.1f} ms' if size != 'large' else ''
      print(
        f'critic {size:6s} {kind:9s} params {count_trainable_params(critic):>10,d}  '
        f'{gflops:7.3f} GFLOP/s-audio  {timing}'
      )


if __name__ == '__main__':
  with jax.threefry_partitionable(False):  # fast init compiles; see restoration.models.unet
    _describe_presets()
