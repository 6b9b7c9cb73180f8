"""The one shared backbone: a band-split 2D U-Net over (time, frequency band).

The GAN generator, the diffusion denoiser and the regression model are all this class, so the
comparison between methods is about objectives, not architectures. A full-resolution U-Net over
the 257-bin grid costs ~13 GFLOP per audio second (docs/DESIGN.md, "Compute budget"); grouping the
frequency axis into bands of ``band_size`` bins first (as Apollo does) and convolving over
(time, band) brings the demo preset under 0.5 GFLOP per audio second.

Layout ``[batch, time, freq, channels]`` throughout; convolution kernels are (time, band).
Any number of frames works: downsampling zero-pads to whole patches (ceil) and each upsampling
is cropped to its skip connection; frequency is padded to whole bands and the output cropped
back to ``n_freq``. Resampling is patch merging / splitting (reshape + dense), not strided
convolutions, whose gradients XLA:CPU runs slowly (see :class:`Downsample`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

Stride = tuple[int, int]

UNET_PRESETS: dict[str, dict] = {
  # Tests and CI: ~28k parameters, ~0.03 GFLOP per audio second.
  'smoke': dict(channels=8, channel_mult=(1, 2), num_res_blocks=1, down=((2, 2),), band_size=16),
  # CPU demo: 0.45 GFLOP per audio second (`python -m restoration.models.unet` prints it).
  # Bands of 16 bins: with 8 (33 bands) the same net costs ~0.8 GFLOP per audio second.
  'demo': dict(
    channels=32,
    channel_mult=(1, 2, 2),
    num_res_blocks=(1, 1, 2),
    down=((2, 2), (2, 2)),
    band_size=16,
  ),
  # Accelerators: ~11 and ~75 GFLOP per audio second.
  'base': dict(
    channels=64,
    channel_mult=(1, 2, 2, 4),
    num_res_blocks=2,
    down=((2, 1), (2, 2), (2, 2)),
    band_size=8,
    attention=True,
  ),
  'large': dict(
    channels=128,
    channel_mult=(1, 2, 2, 4),
    num_res_blocks=2,
    down=((2, 1), (2, 2), (2, 2)),
    band_size=4,
    attention=True,
  ),
}


def count_trainable_params(module: nnx.Module) -> int:
  """Number of trainable scalars (``nnx.Param`` leaves only, frozen weights excluded)."""
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(module, nnx.Param)))


def forward_flops(module: nnx.Module, *args, **kwargs) -> float:
  """XLA's FLOP count for one jitted forward call ``module(*args, **kwargs)`` (:func:`cpu_flops`:
  ``module`` may be abstract, ``nnx.eval_shape``)."""
  graphdef, state = nnx.split(module)

  def forward(state, args, kwargs):
    return nnx.merge(graphdef, state)(*args, **kwargs)

  return cpu_flops(forward, state, args, kwargs)


def cpu_flops(fn: Callable, *args) -> float:
  """XLA's FLOP count of ``jax.jit(fn)(*args)`` from the program lowered for the host CPU.

  The lowered (not compiled) program: within 0.2% of the compiled count for the demo U-Net at
  a fraction of the time, and ``args`` may be abstract. For the CPU whatever the devices: the
  count is the program's, and a GPU gives none for a lowered program and leaves the
  convolutions it runs as cuDNN calls out of a compiled one.
  """
  cpu = jax.sharding.SingleDeviceSharding(jax.devices('cpu')[0])
  on_cpu = lambda a: (
    jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=cpu) if hasattr(a, 'dtype') else a
  )
  return xla_flops(jax.jit(fn).lower(*jax.tree.map(on_cpu, args)))


def xla_flops(program: jax.stages.Lowered | jax.stages.Compiled) -> float:
  """XLA's FLOP count of a lowered or compiled program (its ``cost_analysis``; a compiled
  SPMD program counts one device's share)."""
  cost = program.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost['flops'])


def _num_groups(c: int) -> int:
  """GroupNorm groups: about 4 channels per group, at most 32, dividing ``c``."""
  g = min(32, max(1, c // 4))
  while c % g:
    g -= 1
  return g


def _per_level(value: int | Sequence[int], levels: int, name: str) -> tuple[int, ...]:
  if isinstance(value, int):
    return (value,) * levels
  value = tuple(int(v) for v in value)
  if len(value) != levels:
    raise ValueError(
      f'UNet.{name}: expected an int or {levels} values (one per level), got {value}'
    )
  return value


class BandLinear(nnx.Module):
  """One linear map per frequency band: ``[B, T, n_bands, d_in] -> [B, T, n_bands, d_out]``.

  Bands get their own weights because a 250 Hz band and a 7 kHz band carry different signals
  (and the per-band bias doubles as a frequency-position embedding).
  """

  def __init__(
    self,
    n_bands: int,
    d_in: int,
    d_out: int,
    *,
    zero_init: bool = False,
    dtype=None,
    rngs: nnx.Rngs,
  ):
    init = (
      nnx.initializers.zeros_init()
      if zero_init
      else nnx.initializers.variance_scaling(
        1.0, 'fan_in', 'truncated_normal', in_axis=1, out_axis=2, batch_axis=0
      )
    )
    self.kernel = nnx.Param(init(rngs.params(), (n_bands, d_in, d_out), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((n_bands, d_out), jnp.float32))
    self.dtype = dtype

  def __call__(self, x: jax.Array) -> jax.Array:
    dtype = self.dtype or x.dtype
    y = jnp.einsum('btnk,nkc->btnc', x.astype(dtype), self.kernel[...].astype(dtype))
    return y + self.bias[...].astype(dtype)


class ResBlock(nnx.Module):
  """GroupNorm-SiLU-conv twice, with optional FiLM (scale, shift) from the noise embedding.

  Any rank: ``kernel=(3,)`` on ``[B, samples, C]`` makes it the waveform vocoder's 1D block
  (``models.vocoder``)."""

  def __init__(
    self,
    c_in: int,
    c_out: int,
    *,
    emb_dim: int,
    dtype,
    rngs: nnx.Rngs,
    kernel: tuple[int, ...] = (3, 3),
  ):
    conv = lambda a, b, k: nnx.Conv(a, b, k, dtype=dtype, rngs=rngs)
    self.norm1 = nnx.GroupNorm(c_in, num_groups=_num_groups(c_in), dtype=dtype, rngs=rngs)
    self.conv1 = conv(c_in, c_out, kernel)
    self.film = nnx.Linear(emb_dim, 2 * c_out, dtype=dtype, rngs=rngs) if emb_dim else None
    self.norm2 = nnx.GroupNorm(c_out, num_groups=_num_groups(c_out), dtype=dtype, rngs=rngs)
    self.conv2 = conv(c_out, c_out, kernel)
    self.skip = conv(c_in, c_out, (1,) * len(kernel)) if c_in != c_out else None

  def __call__(self, x: jax.Array, emb: jax.Array | None) -> jax.Array:
    h = self.norm2(self.conv1(nnx.silu(self.norm1(x))))
    if self.film is not None:
      film = jnp.expand_dims(self.film(nnx.silu(emb)), tuple(range(1, h.ndim - 1)))
      scale, shift = jnp.split(film, 2, axis=-1)
      h = h * (1 + scale) + shift
    h = self.conv2(nnx.silu(h))
    return h + (x if self.skip is None else self.skip(x))


class SelfAttention(nnx.Module):
  """Pre-norm multi-head self-attention over all (time, band) positions, with a residual."""

  def __init__(self, c: int, *, dtype, rngs: nnx.Rngs):
    self.norm = nnx.GroupNorm(c, num_groups=_num_groups(c), dtype=dtype, rngs=rngs)
    self.attn = nnx.MultiHeadAttention(
      num_heads=max(1, c // 64), in_features=c, decode=False, dtype=dtype, rngs=rngs
    )

  def __call__(self, x: jax.Array) -> jax.Array:
    b, t, n, c = x.shape
    h = self.attn(self.norm(x).reshape(b, t * n, c))
    return x + h.reshape(b, t, n, c)


class Downsample(nnx.Module):
  """Patch merging: each (time, band) patch of ``stride`` positions folded into channels, then
  one dense map (space-to-depth). Same job as a strided 3x3 conv, but its gradient is a plain
  matmul: XLA:CPU runs a strided conv's input gradient (a base-dilated conv) as a slow loop,
  a large share of the U-Net's training step. Time and bands are zero-padded to whole
  patches (the SAME-padding ceil)."""

  def __init__(self, c_in: int, c_out: int, stride: Stride, *, dtype, rngs: nnx.Rngs):
    self.stride = stride
    self.proj = nnx.Linear(c_in * stride[0] * stride[1], c_out, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    (st, sf), (b, t, f, c) = self.stride, x.shape
    x = jnp.pad(x, ((0, 0), (0, -t % st), (0, -f % sf), (0, 0)))
    t, f = x.shape[1] // st, x.shape[2] // sf
    x = x.reshape(b, t, st, f, sf, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, t, f, st * sf * c)
    return self.proj(x)


class Upsample(nnx.Module):
  """Inverse of :class:`Downsample`: one dense map to ``stride`` positions' channels, unfolded
  (depth-to-space; a transposed conv with kernel = stride, without the slow conv gradient, and
  no overlapping taps, so no checkerboard), cropped to the skip connection and added to it."""

  def __init__(self, c_in: int, c_out: int, stride: Stride, *, dtype, rngs: nnx.Rngs):
    self.stride, self.c_out = stride, c_out
    self.proj = nnx.Linear(c_in, c_out * stride[0] * stride[1], dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array, skip: jax.Array) -> jax.Array:
    (st, sf), (b, t, f, _) = self.stride, x.shape
    x = self.proj(x).reshape(b, t, f, st, sf, self.c_out).transpose(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, t * st, f * sf, self.c_out)
    return x[:, : skip.shape[1], : skip.shape[2]] + skip


def noise_level_embedding(c_noise: jax.Array, dim: int) -> jax.Array:
  """Sinusoidal embedding ``[B] -> [B, dim]`` of the (preconditioned) noise level."""
  half = dim // 2
  freqs = jnp.exp(-math.log(10_000.0) * jnp.arange(half, dtype=jnp.float32) / half)
  angles = c_noise.astype(jnp.float32)[:, None] * freqs[None, :]
  return jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)


def _call(block: nnx.Module, h: jax.Array, emb: jax.Array | None) -> jax.Array:
  return block(h, emb)


def block_runner(remat: bool):
  """``run(block, h, emb)``: a :class:`ResBlock` call, under ``nnx.remat`` when ``remat``: the
  backward pass then recomputes the block's activations from its input instead of storing
  them (jax.checkpoint), the lever when a batch does not fit. A base U-Net gradient costs 16%
  more FLOPs (251 -> 291 GFLOP for 4 x 2 s, XLA cost analysis)."""
  return nnx.remat(_call) if remat else _call


class UNet(nnx.Module):
  """Band-split U-Net mapping ``x [B, T, F, in_channels]`` to ``[B, T, F, 2]``.

  Inputs are concatenated along channels: ``x``, then ``cond`` (``cond_channels``, e.g. the
  degraded spectrogram for the diffusion denoiser), then ``noise`` (``noise_channels`` of
  N(0, 1) for a stochastic GAN generator). Pure train steps should pass ``noise`` explicitly;
  without it the model draws from its own ``'noise'`` rng stream (stateful, for eager use).
  With ``residual=True`` the output is ``x[..., :2] + delta``; the band-merge layer is
  zero-initialised, so an untrained model is exactly the identity (or exactly zero when
  ``residual=False``, as EDM initialises its output layer). ``num_res_blocks`` may be one int
  or one value per level (the demo preset puts its extra block at the cheapest level).
  Decoder skips are added, not concatenated, which keeps full-resolution convs at C channels.
  """

  def __init__(
    self,
    *,
    in_channels: int = 2,
    cond_channels: int = 0,
    noise_channels: int = 0,
    n_freq: int = 257,
    band_size: int = 8,
    channels: int = 32,
    channel_mult: Sequence[int] = (1, 2, 2),
    num_res_blocks: int | Sequence[int] = 1,
    down: Sequence[Stride] = ((2, 1), (2, 2)),
    attention: bool = False,
    noise_embedding: bool = False,
    residual: bool = True,
    remat: bool = False,
    dtype=None,
    rngs: nnx.Rngs,
  ):
    levels = len(channel_mult)
    down = tuple((int(s[0]), int(s[1])) for s in down)
    if len(down) != levels - 1:
      raise ValueError(
        f'UNet.down: expected {levels - 1} (time, band) strides for '
        f'{levels} levels of channel_mult, got {down}'
      )
    if residual and in_channels < 2:
      raise ValueError(f'UNet.in_channels: residual=True needs >= 2 channels, got {in_channels}')
    n_res = _per_level(num_res_blocks, levels, 'num_res_blocks')
    chans = [channels * int(m) for m in channel_mult]
    self.in_channels, self.cond_channels = in_channels, cond_channels
    self.noise_channels, self.channels, self.residual = noise_channels, channels, residual
    self.remat = remat
    self.n_freq, self.band_size = n_freq, band_size
    self.n_bands = -(-n_freq // band_size)
    c_total = in_channels + cond_channels + noise_channels
    emb_dim = 4 * channels if noise_embedding else 0
    kw = dict(dtype=dtype, rngs=rngs)

    self.noise_rngs = rngs['noise'].fork() if noise_channels else nnx.data(None)
    self.embed = (
      nnx.Sequential(
        nnx.Linear(channels, emb_dim, **kw), nnx.silu, nnx.Linear(emb_dim, emb_dim, **kw)
      )
      if noise_embedding
      else None
    )
    self.band_split = BandLinear(self.n_bands, band_size * c_total, chans[0], **kw)
    enc, downs = [], []
    for i in range(levels):
      enc.append(
        nnx.List([ResBlock(chans[i], chans[i], emb_dim=emb_dim, **kw) for _ in range(n_res[i])])
      )
      if i < levels - 1:
        downs.append(Downsample(chans[i], chans[i + 1], down[i], **kw))
    self.enc, self.downs = nnx.List(enc), nnx.List(downs)
    self.mid_attn = SelfAttention(chans[-1], **kw) if attention else None
    self.mid = ResBlock(chans[-1], chans[-1], emb_dim=emb_dim, **kw)
    dec, ups = [], []
    for i in range(levels):
      dec.append(
        nnx.List([ResBlock(chans[i], chans[i], emb_dim=emb_dim, **kw) for _ in range(n_res[i])])
      )
      if i < levels - 1:
        ups.append(Upsample(chans[i + 1], chans[i], down[i], **kw))
    self.dec, self.ups = nnx.List(dec), nnx.List(ups)
    self.out_norm = nnx.GroupNorm(chans[0], num_groups=_num_groups(chans[0]), **kw)
    self.band_merge = BandLinear(self.n_bands, chans[0], band_size * 2, zero_init=True, **kw)

  def _inputs(self, x, cond, noise) -> jax.Array:
    """Concatenate and validate ``x``, ``cond`` and ``noise`` along channels."""
    b, t, f, c = x.shape
    if (f, c) != (self.n_freq, self.in_channels):
      raise ValueError(
        f'UNet input x: expected [B, T, {self.n_freq}, {self.in_channels}], got {x.shape}'
      )
    parts = [x]
    for name, arr, want in (
      ('cond', cond, self.cond_channels),
      ('noise', noise, self.noise_channels),
    ):
      if want == 0:
        if arr is not None:
          raise ValueError(f'UNet.{name}: given, but the model was built with {name}_channels=0')
        continue
      if arr is None and name == 'noise':
        arr = jax.random.normal(self.noise_rngs(), (b, t, f, want), x.dtype)
      if arr is None or arr.shape != (b, t, f, want):
        raise ValueError(
          f'UNet.{name}: expected shape {(b, t, f, want)}, got {None if arr is None else arr.shape}'
        )
      parts.append(arr.astype(x.dtype))
    return jnp.concatenate(parts, axis=-1)

  def __call__(
    self,
    x: jax.Array,
    *,
    cond: jax.Array | None = None,
    noise_level: jax.Array | None = None,
    noise: jax.Array | None = None,
  ) -> jax.Array:
    b, t, f, _ = x.shape
    if (self.embed is None) != (noise_level is None):
      raise ValueError(
        'UNet.noise_level: required iff the model was built with '
        f'noise_embedding=True (it is {self.embed is not None})'
      )
    emb = None
    if self.embed is not None:
      noise_level = jnp.broadcast_to(jnp.asarray(noise_level, jnp.float32).reshape(-1), (b,))
      emb = self.embed(noise_level_embedding(noise_level, self.channels))

    h = self._inputs(x, cond, noise)
    h = jnp.pad(h, ((0, 0), (0, 0), (0, self.n_bands * self.band_size - f), (0, 0)))
    h = self.band_split(h.reshape(b, t, self.n_bands, -1))

    run = block_runner(self.remat)
    skips = []
    for i, blocks in enumerate(self.enc):
      for block in blocks:
        h = run(block, h, emb)
      skips.append(h)
      if i < len(self.downs):
        h = self.downs[i](h)
    if self.mid_attn is not None:
      h = self.mid_attn(h)
    h = run(self.mid, h, emb)
    for i in reversed(range(len(self.dec))):
      h = self.ups[i](h, skips[i]) if i < len(self.ups) else h + skips[i]
      for block in self.dec[i]:
        h = run(block, h, emb)

    delta = self.band_merge(nnx.silu(self.out_norm(h)))
    delta = delta.reshape(b, t, self.n_bands * self.band_size, 2)[:, :, :f]
    delta = delta.astype(jnp.float32)
    return x[..., :2].astype(jnp.float32) + delta if self.residual else delta


def time_forward(module: nnx.Module, *args, repeats: int = 5) -> float:
  """Median milliseconds of a jitted forward call ``module(*args)``, compile excluded."""
  graphdef, state = nnx.split(module)
  fwd = jax.jit(lambda s, args: nnx.merge(graphdef, s)(*args))
  jax.block_until_ready(fwd(state, args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fwd(state, args))
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def _describe_presets(
  n_freq: int = 257, frames_per_second: int = 126, batch: int = 16, max_timed_gflops: float = 20.0
) -> None:
  """Print parameters, GFLOP per audio second and CPU forward time (batch x 1 s) per preset;
  presets costlier than ``max_timed_gflops`` per audio second are not timed (accelerator-only)."""
  for name, kwargs in UNET_PRESETS.items():
    model = UNet(n_freq=n_freq, rngs=nnx.Rngs(0), **kwargs)
    gflops = forward_flops(model, jnp.zeros((1, frames_per_second, n_freq, 2))) / 1e9
    timing = 'not timed (accelerator preset)'
    if gflops <= max_timed_gflops:
      xb = jax.random.normal(jax.random.key(0), (batch, frames_per_second, n_freq, 2))
      timing = f'forward {batch}x1s {time_forward(model, xb):8.1f} ms'
    params = count_trainable_params(model)
    print(f'unet {name:6s} params {params:>11,d}  {gflops:8.3f} GFLOP/s-audio  {timing}')


if __name__ == '__main__':
  # Partitionable threefry (the default) takes XLA:CPU seconds to minutes to compile for the
  # N-d shapes of parameter initialisers; the classic algorithm compiles in well under 1 s.
  with jax.threefry_partitionable(False):
    _describe_presets()
