"""Spread of a model's outputs across sampling seeds on the same input (mode collapse).

A generative restorer that samples (diffusion from noise, a stochastic bridge) can give
different plausible high bands for one input; a collapsed or deterministic one gives the same
output whatever the seed. Measured, not assumed: a deterministic model comes out exactly 0.

Each degraded clip is restored once per seed in one whole-clip pass,
``restorer.restore_waves(clip[None], index=seed)``: the sampling key is
``chunk_key(restorer.seed, seed)``. With ``L = 10 log10(|STFT|**2 + EPS)`` (dB; metrics'
LSD framing, n_fft 2048, hop 512, ``EPS`` its log floor):

  log_spectral_std_db       mean over time-frequency bins of the std of L across seeds
  log_spectral_std_db_high  the same over the bins at or above the cutoff (metrics' high band)
  pairwise_lsd              mean :func:`metrics.lsd` over every pair of seeds' outputs

each averaged over clips.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from restoration import metrics

if TYPE_CHECKING:
  from restoration.inference import Restorer

N_FFT, HOP = 2048, 512  # metrics.lsd's framing


def _log_power_db(x: np.ndarray) -> np.ndarray:
  return 10 * np.log10(
    np.abs(metrics._stft(np.asarray(x, np.float64), N_FFT, HOP)) ** 2 + metrics.EPS
  )


def output_spread(
  restorer: Restorer,
  degraded_clips: Sequence[np.ndarray],
  seeds: Sequence[int] = (0, 1, 2, 3),
  cutoff_hz: float | None = None,
) -> dict:
  """The spread across ``seeds`` of ``restorer``'s outputs per clip (module docstring).

  ``degraded_clips`` are mono ``[samples]`` arrays at ``restorer.sample_rate`` (one compile
  per distinct length); ``cutoff_hz`` defaults to ``sample_rate / 4``. Returns ``{'seeds',
  'clips', 'log_spectral_std_db', 'log_spectral_std_db_high', 'pairwise_lsd'}``.
  """
  seeds = [int(s) for s in seeds]
  if len(seeds) < 2 or len(set(seeds)) != len(seeds):
    raise ValueError(f'output_spread: seeds {seeds} must be two or more distinct seeds')
  if not degraded_clips or any(np.ndim(c) != 1 for c in degraded_clips):
    raise ValueError('output_spread: degraded_clips must be one or more mono [samples] arrays')
  sr = restorer.sample_rate
  high = np.fft.rfftfreq(N_FFT, 1.0 / sr) >= metrics._check_cutoff(cutoff_hz, sr)
  std, std_high, lsd = [], [], []
  for clip in degraded_clips:
    outputs = [restorer.restore_waves(np.asarray(clip)[None], index=s)[0] for s in seeds]
    log_power = np.stack([_log_power_db(y) for y in outputs])  # [seeds, frames, bins]
    # Deviations from the first seed: the same std, and exactly 0 for identical outputs.
    spread = np.std(log_power - log_power[0], axis=0)
    std.append(spread.mean())
    std_high.append(spread[:, high].mean())
    lsd.append(np.mean([metrics.lsd(a, b, sr) for a, b in itertools.combinations(outputs, 2)]))
  return {
    'seeds': seeds,
    'clips': len(degraded_clips),
    'log_spectral_std_db': float(np.mean(std)),
    'log_spectral_std_db_high': float(np.mean(std_high)),
    'pairwise_lsd': float(np.mean(lsd)),
  }
