"""Apply a trained model to degraded audio: the one path shared by the training loop's
validation, ``evaluate``, ``restore``, the benchmark and the notebooks.

:func:`enhancer` asks the run's method (``restoration.methods``) how its trained state restores
a degraded spectrogram. :class:`Restorer` loads a run and runs it on arrays, files and folders
of any length through the chunked, cross-faded stream of :mod:`restoration.streaming` (bounded
memory; output sample-aligned with the input, written atomically)::

  r = restoration.load('runs/gan')          # or Restorer('runs/gan')
  restored = r.restore(wave, 44100)         # [samples] or [samples, channels]
  stats = r.restore_file('in.mp3', 'out.wav')
  result = r.restore_tree('in_dir', 'out_dir', fmt='flac')
"""

from __future__ import annotations

import copy
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from restoration import checkpoint as checkpoint_lib
from restoration import classic_threefry, methods, spectral
from restoration import config as config_lib
from restoration import state as state_lib
from restoration.state import Networks
from restoration.streaming import ChunkedRestorer, RestoreError, chunk_samples, tail_lengths


def saved_config(workdir: str, step: int | None = None) -> ml_collections.ConfigDict:
  """The config saved beside a run's checkpoint (latest step by default), upgraded to today's
  layout."""
  with checkpoint_lib.open_run(workdir) as ckpt:
    return config_lib.upgrade(ckpt.saved_config(step))


def load_workdir(workdir: str, which: str = 'best') -> tuple[Any, Networks, Any, Any, int]:
  """``(config, networks, params, rest, step)`` of a trained run, onto the default device.

  ``which``: 'best' (by the validation metric; falls back to 'latest'), 'latest', or a step.
  An unreadable best or latest step is skipped with a warning for the newest readable one
  (:func:`restoration.checkpoint.load_run_weights`). Sampling uses the EMA weights when the
  run kept them.
  """
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])

  def target(saved: dict[str, Any]) -> Any:
    abstract = state_lib.abstract_state(config_lib.upgrade(saved), None)
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), abstract)

  restored = checkpoint_lib.load_run_weights(
    workdir,
    which,
    target=target,
    hint=f'train first with python -m restoration.main --config=... --workdir={workdir}',
  )
  config, state, step = config_lib.upgrade(restored.config), restored.state, restored.step
  nets = state_lib.networks(config)
  params = state['ema'] if config.train.ema_decay else state['params'][nets.main]
  return config, nets, params, state['rest'][nets.main], step


def enhancer(config, nets: Networks, *, steps: int | None = None) -> methods.Enhancer:
  """``fn(params, rest, degraded [B, T, F, 2], rng) -> restored [B, T, F, 2]`` (jit-able);
  ``steps`` is the sampler step count of iterative methods (default: the config's)."""
  return classic_threefry(methods.get(config.method).enhancer(config, nets, steps=steps))


def network_calls(config, steps: int | None = None) -> int:
  """Network evaluations per restored batch (1 for one-pass methods)."""
  return methods.get(config.method).network_calls(config, steps)


def _check_checkpoint(checkpoint: str | int) -> str:
  text = str(checkpoint)
  if text not in ('best', 'latest') and not text.isdigit():
    raise RestoreError(f'checkpoint={checkpoint!r}: expected "best", "latest" or a step number')
  return text


# The model restores a chunk only where a codec cut its band hard: its content ends below this
# fraction of the model's Nyquist, at a cliff of at least CLIFF_DB (spectral.band_edge). Any
# other chunk is returned as it came: on real recordings the demo models only made such input
# worse (SI-SDR, LSD, PESQ), while they help where MP3 at 16-24 kbps cut it. None: the model
# restores every chunk.
IDENTITY_ABOVE = 0.78
CLIFF_DB = 10.0
# A codec that kept content up to this frequency (MP3 and AAC from 64 kbps at 44.1 kHz: 10-17
# kHz; no cut at 16 kHz, whose Nyquist is 8 kHz) left a passband the models only made worse
# (SI-SDR); there the input is kept below its edge and the model fills the band above it,
# through a raised-cosine crossover of CROSSOVER_BINS bins ending at the edge, no louder than
# the input's spectrum continued past the edge and then FILL_HEADROOM_DB quieter
# (spectral.continue_envelope): a fill that does not know the lost band's phase adds its own
# energy to the error (SI-SDR), so it stays below the level the recording would have there.
KEEP_PASSBAND_HZ = 10000.0
CROSSOVER_BINS = 8
FILL_HEADROOM_DB = 6.0


def chunk_key(seed, index) -> jax.Array:
  """The sampling key of chunk ``index`` (traceable, so an exported model derives it alike)."""
  return jax.random.fold_in(jax.random.key(seed), index)


class Restorer(ChunkedRestorer):
  """A trained model (``workdir``'s ``checkpoint``) applied to arrays, files and folders of any
  length (:class:`restoration.streaming.ChunkedRestorer`).

  ``steps`` sets the diffusion sampler's step count (ignored by single-pass models);
  ``chunk_seconds`` is the chunk the model sees (compiled per channel count, and for the
  shorter :func:`~restoration.streaming.tail_lengths` a stream's last chunk takes) and
  ``overlap_seconds`` the cross-fade between chunks (at most half a chunk); a chunk is restored
  only where a codec cut its band below ``identity_above`` of the model's (:data:`IDENTITY_ABOVE`,
  :data:`CLIFF_DB`; None: every chunk), and otherwise left as it is (blind: it reads only the
  decoded audio, never a bitrate); ``tail_parts``
  sets those shorter lengths (1: whole chunks only, one shape: cheaper when a few files of
  varied lengths would each compile another). ``params`` and
  ``config`` are the loaded run's (EMA weights when it kept them).
  """

  def __init__(
    self,
    workdir: str,
    *,
    checkpoint: str | int = 'best',
    steps: int | None = None,
    chunk_seconds: float = 4.0,
    overlap_seconds: float = 0.5,
    seed: int = 0,
    tail_parts: int = 4,
    identity_above: float | None = IDENTITY_ABOVE,
  ):
    chunk_samples(chunk_seconds, overlap_seconds, 1)  # bad arguments fail before loading
    if tail_parts < 1:
      raise RestoreError(f'tail_parts={tail_parts!r}: expected at least 1')
    if identity_above is not None and not 0.0 < identity_above <= 1.0:
      raise RestoreError(
        f'identity_above={identity_above!r}: expected a fraction of the band in (0, 1], or None'
      )
    self.identity_above = identity_above
    (self.config, self._nets, self.params, self._rest, self.checkpoint_step) = load_workdir(
      workdir, _check_checkpoint(checkpoint)
    )
    self.workdir = workdir
    self.sample_rate = int(self.config.data.sample_rate)
    self.chunk_length, self.overlap = chunk_samples(
      chunk_seconds, overlap_seconds, self.sample_rate
    )
    self.tail_lengths = tail_lengths(self.chunk_length, tail_parts)
    # Per chunk the weights go in as a flat list of arrays: flattening the nnx state on each
    # call cost ~1 ms. They do not depend on the step count, so every with_steps shares them.
    self._leaves, self._treedef = jax.tree.flatten((self.params, self._rest))
    self.seed = seed
    self._set_steps(steps)

  def _set_steps(self, steps: int | None) -> None:
    if steps is not None and steps < 1:
      raise RestoreError(f'steps={steps!r}: expected a positive number of sampler steps')
    self.steps = steps
    self.network_calls = network_calls(self.config, steps)
    self.spectral = spectral.SpectralParams.from_config(self.config.spectral)
    p, enhance = self.spectral, enhancer(self.config, self._nets, steps=steps)

    identity_above = self.identity_above
    nyquist = self.sample_rate / 2
    channels = int(self.config.data.channels)  # a stereo model's clips come as channel pairs
    # Only a model whose band reaches KEEP_PASSBAND_HZ can see such an edge; others skip the work.
    keeps_passband = nyquist >= KEEP_PASSBAND_HZ

    def restore_waves(params, rest, waves, rng):
      spec = spectral.analysis(waves, p)
      if identity_above is None:
        return spectral.synthesis(enhance(params, rest, spec, rng), p, waves.shape[-1])
      ratio, cliff = spectral.band_edge(spec, p)
      cut = (ratio < identity_above) & (cliff >= CLIFF_DB)
      if channels > 1:  # rows: each clip's channels in turn (any batch, a symbolic one too)
        # A codec's low-pass cuts every channel; a band one channel lacks is the recording's
        # own or the codec's stereo coding (Opus drops a high band from one channel).
        clip = jnp.arange(waves.shape[0]) // channels
        cut = jnp.all(cut[None, :] | (clip[:, None] != clip[None, :]), axis=1)

      def model(_):
        out = enhance(params, rest, spec, rng)
        if keeps_passband:  # the input below an edge at KEEP_PASSBAND_HZ or more, the model above
          edge = jnp.where(ratio * nyquist >= KEEP_PASSBAND_HZ, ratio, 0.0)
          out = spectral.crossover(spec, out, edge, CROSSOVER_BINS)
          out = spectral.continue_envelope(out, spec, edge, p, headroom_db=FILL_HEADROOM_DB)
        return jnp.where(cut[..., None], spectral.synthesis(out, p, waves.shape[-1]), waves)

      # A chunk every channel of which keeps its input skips the network altogether.
      return jax.lax.cond(jnp.any(cut), model, lambda _: waves, None)

    self._jitted = jax.jit(restore_waves)
    # Per chunk, the cheapest call: flat weights, and the key derived inside the program (an
    # eager fold_in cost ~1 ms a call).
    treedef = self._treedef
    self._indexed = jax.jit(
      lambda leaves, waves, seed, index: restore_waves(
        *jax.tree.unflatten(treedef, leaves), waves, chunk_key(seed, index)
      )
    )

  def with_steps(self, steps: int | None) -> Restorer:
    """The same loaded model with another sampler step count (no reload); itself when the
    count is its own (its compiled shapes kept)."""
    if steps == self.steps:
      return self
    other = copy.copy(self)
    other._set_steps(steps)
    return other

  def forward(self, waves: jax.Array, rng: jax.Array) -> jax.Array:
    """The jitted model pass ``[batch, samples] -> [batch, samples]`` (traceable)."""
    return self._jitted(self.params, self._rest, waves, rng)

  def restore_waves(self, waves: np.ndarray, index: int = 0) -> np.ndarray:
    """One model pass over ``waves [batch, samples]`` at :attr:`sample_rate`, no chunking
    (compiles once per shape). ``index`` picks the sampling noise (diffusion)."""
    waves = np.asarray(waves, np.float32)
    return np.asarray(self._indexed(self._leaves, waves, self.seed, index))
