"""The waveform diffusion vocoder's network (DiffWave / WaveGrad / NU-Wave 2 family).

Conditioning: the degraded waveform is analysed into the project's compressed STFT
(:func:`restoration.spectral.analysis`), whose 2 * n_freq real and imaginary bins per frame are
the input channels of a transposed 1D convolution with stride ``hop`` and kernel ``n_fft``: frame
``k`` writes taps shaped by the analysis window onto ``[k hop, k hop + n_fft)`` of the padded grid
(an overlap-add synthesis with learned filters), and dropping the STFT's centring pad of
``n_fft // 2`` samples puts it on ``[k hop - n_fft / 2, k hop + n_fft / 2)`` of the signal,
exactly the samples frame ``k`` was analysed from. A pointwise stack widens those features.

Synthesis: a 1D U-Net over samples with a noise-level embedding takes the noisy process variable,
the degraded wave and the features. It is built from the shared U-Net's pieces:
:class:`~restoration.models.unet.ResBlock` with 1D kernels on ``[B, samples, C]`` (a (3, 1)
kernel on ``[B, samples, 1, C]`` trains several times slower on XLA:CPU) and patch merging /
splitting (:class:`~restoration.models.unet.Downsample`, ``Upsample``, given a unit band axis)
instead of strided convs, whose gradients XLA:CPU runs slowly. The first merge folds ``patch``
samples into channels, so no convolution runs at the full sample rate. Any length works: merges
zero-pad to whole patches and the output is cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from restoration import spectral
from restoration.models import unet
from restoration.spectral import SpectralParams

VOCODER_PRESETS: dict[str, dict] = {
  # Tests and CI.
  'smoke': dict(
    cond_channels=1,
    feature_channels=8,
    patch=8,
    channels=8,
    channel_mult=(1, 2),
    num_res_blocks=1,
    down=(4,),
  ),
  # CPU demo, <= 0.5 GFLOP per audio second (a test pins it). The transposed conv (514 input
  # channels, 512 taps) costs ~66 MFLOP per audio second and output channel, hence 2 of them.
  'demo': dict(
    cond_channels=2,
    feature_channels=16,
    patch=4,
    channels=32,
    channel_mult=(1, 2, 2),
    num_res_blocks=(1, 1, 2),
    down=(4, 4),
  ),
  # Accelerators.
  'base': dict(
    cond_channels=8,
    feature_channels=32,
    patch=2,
    channels=64,
    channel_mult=(1, 2, 4, 4),
    num_res_blocks=2,
    down=(4, 4, 4),
    attention=True,
  ),
  'large': dict(
    cond_channels=16,
    feature_channels=64,
    patch=1,
    channels=64,
    channel_mult=(1, 2, 4, 8, 8),
    num_res_blocks=2,
    down=(2, 4, 4, 4),
    attention=True,
  ),
}


def window_init(n_fft: int, hop: int) -> nnx.initializers.Initializer:
  """Transposed-conv kernels ``[n_fft, in, out]`` whose taps follow the periodic Hann analysis
  window, so each frame fades in and out where its STFT window does; scaled so that unit inputs
  give unit outputs (each sample sums ``n_fft / hop`` overlapping frames). The window is stored
  reversed because ``nnx.ConvTranspose`` applies its taps backwards in time."""
  window = spectral.hann_window(n_fft)[::-1]
  window = window / np.sqrt(np.mean(np.square(window)))

  def init(key, shape, dtype=jnp.float32):
    std = 1.0 / np.sqrt(shape[-2] * n_fft / hop)
    w = jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32) * std
    return (w * window.reshape(-1, *(1,) * (len(shape) - 1))).astype(dtype)

  return init


class SpectralConditioner(nnx.Module):
  """Degraded wave ``[B, N]`` -> compressed STFT -> transposed conv onto the sample grid ->
  pointwise feature stack ``[B, N, features]``."""

  def __init__(
    self, params: SpectralParams, channels: int, features: int, *, dtype=None, rngs: nnx.Rngs
  ):
    self.params = params
    self.upsample = nnx.ConvTranspose(
      2 * params.n_freq,
      channels,
      kernel_size=(params.n_fft,),
      strides=(params.hop,),
      padding='VALID',
      kernel_init=window_init(params.n_fft, params.hop),
      dtype=dtype,
      rngs=rngs,
    )
    self.widen = nnx.Linear(channels, features, dtype=dtype, rngs=rngs)
    self.mix = nnx.Linear(features, features, dtype=dtype, rngs=rngs)

  def transposed(self, spec: jax.Array) -> jax.Array:
    """``self.upsample(spec)``: ``[B, T, F, 2]`` -> ``[B, (T - 1) hop + n_fft, channels]`` on
    the padded grid, frame ``k`` reaching exactly ``[k hop, k hop + n_fft)``.

    Evaluated as the same linear map written as one matmul per frame plus an overlap-add of
    ``ceil(n_fft / hop)`` shifted blocks: XLA:CPU runs the transposed conv (an input-dilated
    conv) several times slower forward and slower still in its kernel gradient, the same trap
    as strided convs in ``models.unet``. A test pins that both agree.
    """
    m, p = self.upsample, self.params
    b, t = spec.shape[:2]
    r = -(-p.n_fft // p.hop)
    dtype = m.dtype or spec.dtype
    kernel = m.kernel[...][::-1].astype(dtype)  # taps forwards in time
    c = kernel.shape[-1]
    # Explicit sizes, no -1: the batch may be symbolic (jax.export).
    y = jnp.einsum('bti,nio->btno', spec.reshape(b, t, 2 * p.n_freq).astype(dtype), kernel)
    y = jnp.pad(y, ((0, 0), (0, 0), (0, r * p.hop - p.n_fft), (0, 0)))
    y = y.reshape(b, t, r, p.hop, c)
    out = sum(jnp.pad(y[:, :, j], ((0, 0), (j, r - 1 - j), (0, 0), (0, 0))) for j in range(r))
    out = out.reshape(b, (t + r - 1) * p.hop, c)[:, : (t - 1) * p.hop + p.n_fft]
    return out + m.bias[...].astype(dtype)

  def align(self, spec: jax.Array, length: int) -> jax.Array:
    """:meth:`transposed` without the STFT's centring pad: ``[B, length, channels]`` on the
    signal's sample grid (``length <= (T - 1) hop + n_fft / 2``)."""
    start = self.params.n_fft // 2
    y = self.transposed(spec)
    if y.shape[1] < start + length:
      raise ValueError(f'{spec.shape[1]} frames do not cover {length} samples')
    return y[:, start : start + length]

  def __call__(self, wave: jax.Array) -> jax.Array:
    h = self.align(spectral.analysis(wave, self.params), wave.shape[-1])
    return self.mix(nnx.silu(self.widen(h)))


class VocoderNet(nnx.Module):
  """``net(x [B, N], cond [B, N], noise_level [B]) -> [B, N]``: ``x`` is the noisy process
  variable (the scaled waveform residual), ``cond`` the degraded wave. The output layer is
  zero-initialised: an untrained net predicts "no change" (as the shared U-Net does)."""

  def __init__(
    self,
    *,
    spectral_params: SpectralParams,
    cond_channels: int = 2,
    feature_channels: int = 16,
    patch: int = 4,
    channels: int = 32,
    channel_mult: Sequence[int] = (1, 2, 2),
    num_res_blocks: int | Sequence[int] = 1,
    down: Sequence[int] = (4, 4),
    attention: bool = False,
    remat: bool = False,
    dtype=None,
    rngs: nnx.Rngs,
  ):
    levels = len(channel_mult)
    down = tuple(int(s) for s in down)
    if len(down) != levels - 1:
      raise ValueError(
        f'VocoderNet.down: expected {levels - 1} strides for {levels} levels, got {down}'
      )
    n_res = unet._per_level(num_res_blocks, levels, 'num_res_blocks')
    chans = [channels * int(m) for m in channel_mult]
    self.channels, self.patch, self.remat = channels, patch, remat
    emb_dim = 4 * channels
    kw = dict(dtype=dtype, rngs=rngs)
    block = lambda c: unet.ResBlock(c, c, emb_dim=emb_dim, kernel=(3,), **kw)

    self.embed = nnx.Sequential(
      nnx.Linear(channels, emb_dim, **kw), nnx.silu, nnx.Linear(emb_dim, emb_dim, **kw)
    )
    self.conditioner = SpectralConditioner(spectral_params, cond_channels, feature_channels, **kw)
    self.patch_in = unet.Downsample(2 + feature_channels, chans[0], (patch, 1), **kw)
    self.enc = nnx.List(
      [nnx.List([block(chans[i]) for _ in range(n_res[i])]) for i in range(levels)]
    )
    self.downs = nnx.List(
      [unet.Downsample(chans[i], chans[i + 1], (down[i], 1), **kw) for i in range(levels - 1)]
    )
    self.mid_attn = unet.SelfAttention(chans[-1], **kw) if attention else None
    self.mid = block(chans[-1])
    self.dec = nnx.List(
      [nnx.List([block(chans[i]) for _ in range(n_res[i])]) for i in range(levels)]
    )
    self.ups = nnx.List(
      [unet.Upsample(chans[i + 1], chans[i], (down[i], 1), **kw) for i in range(levels - 1)]
    )
    self.out_norm = nnx.GroupNorm(chans[0], num_groups=unet._num_groups(chans[0]), **kw)
    self.patch_out = nnx.Linear(chans[0], patch, kernel_init=nnx.initializers.zeros_init(), **kw)

  def __call__(self, x: jax.Array, cond: jax.Array, noise_level: jax.Array) -> jax.Array:
    b, n = x.shape
    if cond.shape != x.shape:
      raise ValueError(f'VocoderNet.cond: expected shape {x.shape}, got {cond.shape}')
    noise_level = jnp.broadcast_to(jnp.asarray(noise_level, jnp.float32).reshape(-1), (b,))
    emb = self.embed(unet.noise_level_embedding(noise_level, self.channels))

    feats = self.conditioner(cond)
    h = jnp.concatenate([x[..., None], cond[..., None], feats.astype(x.dtype)], axis=-1)
    h = self.patch_in(h[:, :, None])[:, :, 0]  # [B, ceil(N / patch), C]
    run = unet.block_runner(self.remat)
    skips = []
    for i, blocks in enumerate(self.enc):
      for blk in blocks:
        h = run(blk, h, emb)
      skips.append(h)
      if i < len(self.downs):
        h = self.downs[i](h[:, :, None])[:, :, 0]
    if self.mid_attn is not None:
      h = self.mid_attn(h[:, :, None])[:, :, 0]
    h = run(self.mid, h, emb)
    for i in reversed(range(len(self.dec))):
      if i < len(self.ups):
        h = self.ups[i](h[:, :, None], skips[i][:, :, None])[:, :, 0]
      else:
        h = h + skips[i]
      for blk in self.dec[i]:
        h = run(blk, h, emb)
    out = self.patch_out(nnx.silu(self.out_norm(h)))  # [B, ceil(N / patch), patch]
    return out.reshape(b, out.shape[1] * self.patch)[:, :n].astype(jnp.float32)


def _describe_presets(
  sample_rate: int = 16000, batch: int = 16, max_timed_gflops: float = 20.0
) -> None:
  """Print parameters, GFLOP per audio second and CPU forward time (batch x 1 s) per preset."""
  for name, kwargs in VOCODER_PRESETS.items():
    model = VocoderNet(spectral_params=SpectralParams(), rngs=nnx.Rngs(0), **kwargs)
    one = jnp.zeros((1, sample_rate))
    gflops = unet.forward_flops(model, one, one, jnp.zeros((1,))) / 1e9
    timing = 'not timed (accelerator preset)'
    if gflops <= max_timed_gflops:
      x = 0.1 * jax.random.normal(jax.random.key(0), (batch, sample_rate))
      ms = unet.time_forward(model, x, x, jnp.zeros((batch,)))
      timing = f'forward {batch}x1s {ms:8.1f} ms'
    params = unet.count_trainable_params(model)
    print(f'vocoder {name:6s} params {params:>11,d}  {gflops:8.3f} GFLOP/s-audio  {timing}')


if __name__ == '__main__':
  with jax.threefry_partitionable(False):  # fast parameter-init compiles (see models.unet)
    _describe_presets()
