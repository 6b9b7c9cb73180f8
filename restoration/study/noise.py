"""Noise handling: models trained on clean codec pairs, measured on inputs that had additive
noise before the codec, scored against the clean reference.

The paper's claim is that GANs handle noise implicitly while diffusion models are trained to
remove noise at every step; neither saw noisy inputs in training, so this measures what each
one does with noise it was never taught about: keep it, remove it, or invent high band over it.

Conditions: ``'clean'`` (control) and ``'KIND:SNR'``, white or pink (1/f power) Gaussian noise
at SNR dB against the clean clip's power. Per clip and condition, ``noisy = add_noise(clean)``,
``degraded = codec(noisy)`` (computed once, shared by every method) and each method restores
``degraded``. The degraded input and every output are scored against ``clean``:

  si_sdr                  :func:`metrics.si_sdr` (compare the method's row with ``'input'``)
  noise_floor_db          10 log10(sum_Q (P_est + EPS) / sum_Q (P_ref + EPS)), P = |STFT|**2
                          with metrics' LSD framing (n_fft 2048, hop 512), Q the bins where
                          P_ref is more than QUIET_DB below its peak bin: the energy the
                          estimate puts where the clean clip is quiet (0 dB: as quiet as the
                          reference; NaN when no bin is that quiet)
  noise_removed_db        noise_floor_db of the input minus that of the output (methods only;
                          positive: the method removed noise)
  high_band_energy_ratio  :func:`metrics.high_band_energy_ratio` (>1: invented high band, <1:
                          band left empty)
  lsd_high                :func:`metrics.lsd` above the cutoff
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from restoration import metrics
from restoration.data import codecs, synthesis

if TYPE_CHECKING:
  from restoration.inference import Restorer

CONDITIONS = ('clean', 'white:20', 'white:10', 'pink:20', 'pink:10')
QUIET_DB = 40.0  # a bin counts as quiet in the reference this far below its peak bin
N_FFT, HOP = 2048, 512  # metrics.lsd's framing
_EXPONENTS = {'white': 0.0, 'pink': 1.0}  # power spectrum ~ f**-exponent


def _parse(condition: str) -> tuple[str, float]:
  kind, sep, snr = str(condition).partition(':')
  try:
    snr_db = float(snr)
  except ValueError:
    snr_db = math.nan
  if not sep or kind not in _EXPONENTS or not math.isfinite(snr_db):
    raise ValueError(
      f"noise condition {condition!r}: expected 'clean' or 'KIND:SNR' with KIND one of "
      f"{', '.join(_EXPONENTS)} and SNR in dB, e.g. 'pink:10'"
    )
  return kind, snr_db


def add_noise(clean: np.ndarray, condition: str, seed: int | Sequence[int]) -> np.ndarray:
  """``clean`` (float [samples]) plus the condition's noise, scaled so that the SNR against
  the clean clip's power is exact; ``'clean'`` returns ``clean`` itself. The noise is white
  Gaussian shaped in the FFT domain (DC removed), as the synthetic corpus' background noise.

  ``seed`` is ``np.random.default_rng``'s (an int, or e.g. ``[seed, clip]``); every condition
  of one seed shapes and scales the same white draw, so conditions differ only in the noise.
  """
  if condition == 'clean':
    return clean
  kind, snr_db = _parse(condition)
  x = np.asarray(clean)
  power = np.mean(np.asarray(x, np.float64) ** 2)
  if power == 0:
    raise ValueError(f'add_noise({condition!r}): clean is silent, so no SNR is defined')
  noise = synthesis._colored_noise(np.random.default_rng(seed), x.shape[-1], _EXPONENTS[kind])
  return (x + math.sqrt(power * 10 ** (-snr_db / 10)) * noise).astype(x.dtype)


def noise_floor_db(clean: np.ndarray, estimate: np.ndarray) -> float:
  """Energy of ``estimate`` in the bins where ``clean`` is quiet, in dB re. ``clean``'s own
  energy there (module docstring); NaN when no bin is :data:`QUIET_DB` below the peak."""
  clean, estimate = metrics._mono_pair(clean, estimate)
  p_ref, p_est = (np.abs(metrics._stft(x, N_FFT, HOP)) ** 2 for x in (clean, estimate))
  quiet = p_ref < p_ref.max() * 10 ** (-QUIET_DB / 10)
  if not quiet.any():
    return math.nan
  return float(
    10 * np.log10(np.sum(p_est[quiet] + metrics.EPS) / np.sum(p_ref[quiet] + metrics.EPS))
  )


def measure(
  clean: np.ndarray, estimate: np.ndarray, sample_rate: int, cutoff_hz: float | None = None
) -> dict[str, float]:
  """The measures of one estimate (degraded input or output) against ``clean``, mono."""
  return {
    'si_sdr': metrics.si_sdr(clean, estimate),
    'noise_floor_db': noise_floor_db(clean, estimate),
    'high_band_energy_ratio': metrics.high_band_energy_ratio(
      clean, estimate, sample_rate, cutoff_hz
    ),
    'lsd_high': metrics.lsd(clean, estimate, sample_rate, band='high', cutoff_hz=cutoff_hz),
  }


def score(
  clean: np.ndarray,
  degraded: np.ndarray,
  outputs: Mapping[str, np.ndarray],
  sample_rate: int,
  cutoff_hz: float | None = None,
) -> dict[str, dict[str, float]]:
  """One clip's scores: ``{'input': measure(degraded), method: measure(output) +
  noise_removed_db}``; the input is measured once for all methods."""
  scores = {'input': measure(clean, degraded, sample_rate, cutoff_hz)}
  for name, output in outputs.items():
    s = measure(clean, output, sample_rate, cutoff_hz)
    s['noise_removed_db'] = scores['input']['noise_floor_db'] - s['noise_floor_db']
    scores[name] = s
  return scores


def evaluate_noise(
  restorers: Mapping[str, Restorer],
  clips: Sequence[np.ndarray],
  sample_rate: int,
  degradation: str = 'mp3:16',
  conditions: Sequence[str] = CONDITIONS,
  seed: int = 0,
  cutoff_hz: float | None = None,
) -> dict:
  """Every method on every clip under every condition (module docstring).

  ``clips`` are clean mono ``[samples]`` arrays at ``sample_rate``; clip ``i`` gets the noise
  of ``add_noise(clip, condition, [seed, i])``. ``cutoff_hz`` (default ``sample_rate / 4``)
  sets the high band. Returns ``{'degradation', 'conditions', 'clips', 'cutoff_hz', 'scores':
  {condition: {'input' | method: {measure: {'mean', 'std', 'n'}}}}}``
  (:func:`metrics.aggregate` over clips).
  """
  if not clips or any(np.ndim(c) != 1 for c in clips):
    raise ValueError('evaluate_noise: clips must be one or more mono [samples] arrays')
  cutoff = metrics._check_cutoff(cutoff_hz, sample_rate)
  for condition in conditions:
    if condition != 'clean':
      _parse(condition)  # a bad condition fails before any codec or model runs
  codec, kbps = codecs.parse_degradation(degradation)
  scores = {}
  for condition in conditions:
    per_clip = []
    for i, clean in enumerate(clips):
      degraded = codecs.degrade(add_noise(clean, condition, [seed, i]), sample_rate, codec, kbps)
      outputs = {name: r.restore_array(degraded, sample_rate) for name, r in restorers.items()}
      per_clip.append(score(clean, degraded, outputs, sample_rate, cutoff))
    scores[condition] = {
      row: metrics.aggregate(clip[row] for clip in per_clip) for row in per_clip[0]
    }
  return {
    'degradation': degradation,
    'conditions': list(conditions),
    'clips': len(clips),
    'cutoff_hz': cutoff,
    'scores': scores,
  }
