"""Evaluation metrics on sample-aligned (reference, estimate) waveforms.

Host-side numpy/scipy (float64) so that scores do not depend on the accelerator or on
float32 rounding. STFTs use librosa with the framing of :mod:`restoration.spectral`
(centred, zero padding, periodic Hann): ``1 + n // hop`` frames, ``n_fft // 2 + 1`` bins.

Definitions (``P = |STFT|**2``, ``EPS = 1e-10`` as the log floor):
  lsd                     mean_t sqrt(mean_{f in band} (log10(P_ref + EPS) - log10(P_est + EPS))**2)
  si_sdr                  10 log10(|a s|**2 / |a s - e|**2), zero-mean s, e, a = <e, s> / |s|**2
  mel_distance            mean_{t, m} |log10(M_ref + EPS) - log10(M_est + EPS)|, M = P @ mel
  spectral_convergence    mean over resolutions of ||S_ref - S_est||_F / ||S_ref||_F, S = |STFT|
  high_band_energy_ratio  sum_{f >= cutoff} |FFT est|**2 / sum_{f >= cutoff} |FFT ref|**2
  spec_mse                mean squared error of the compressed model representation
Optional, when the packages are installed: ``pesq_wb`` (pesq), ``stoi`` (pystoi),
``visqol`` (visqol-python, audio mode at 48 kHz), and DNSMOS P.835 ``dnsmos_ovrl``,
``dnsmos_sig``, ``dnsmos_bak`` (speechmos, which ships its ONNX models): the only
no-reference scores, so they reward speech that sounds real rather than closeness to the
reference (which a blurred mean also earns).

A value that is undefined for a clip (no reference energy above the cutoff, no speech
for PESQ) is NaN; :func:`aggregate` skips NaNs and reports how many values it used.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import jax
import librosa
import numpy as np
import scipy.signal

from restoration import spectral

EPS = 1e-10  # floor under power spectra before log10: -100 dB re. unit power per bin
PESQ_RATE = 16000
VISQOL_RATE = 48000
DNSMOS_RATE = 16000
DNSMOS = ('dnsmos_ovrl', 'dnsmos_sig', 'dnsmos_bak')
_OPTIONAL_PACKAGES = {
  'pesq_wb': 'pesq',
  'stoi': 'pystoi',
  'visqol': 'visqol',
  **dict.fromkeys(DNSMOS, 'speechmos'),
}
Band = Literal['full', 'high', 'low']
# One compile per clip shape (eager op-by-op dispatch recompiles every primitive).
_analysis = jax.jit(spectral.analysis, static_argnums=1)


def check_pair(
  ref: np.ndarray,
  est: np.ndarray,
  sample_rate: int | None = None,
  est_sample_rate: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Validates an aligned pair and returns it as float64; metrics never resample silently."""
  if sample_rate is not None and (int(sample_rate) != sample_rate or sample_rate <= 0):
    raise ValueError(f'sample_rate must be a positive integer, got {sample_rate!r}')
  if est_sample_rate is not None and est_sample_rate != sample_rate:
    raise ValueError(
      f'est_sample_rate {est_sample_rate} != sample_rate {sample_rate}: '
      'resample est to the reference rate first'
    )
  ref, est = np.asarray(ref, np.float64), np.asarray(est, np.float64)
  for name, x in (('ref', ref), ('est', est)):
    if x.ndim not in (1, 2):
      raise ValueError(f'{name} must be [samples] or [samples, channels], got shape {x.shape}')
    if x.size == 0:
      raise ValueError(f'{name} is empty (shape {x.shape})')
    if not np.all(np.isfinite(x)):
      raise ValueError(f'{name} contains NaN or inf')
  if ref.shape != est.shape:
    raise ValueError(
      f'ref shape {ref.shape} != est shape {est.shape}: '
      'metrics need sample-aligned signals of equal length and channels'
    )
  if not np.any(ref):
    raise ValueError('ref is all zeros: every metric here is relative to the reference')
  return ref, est


def _mono_pair(ref, est, sample_rate=None) -> tuple[np.ndarray, np.ndarray]:
  ref, est = check_pair(ref, est, sample_rate)
  if ref.ndim != 1:
    raise ValueError(
      f'expected mono [samples], got shape {ref.shape}; use compute_all for multi-channel audio'
    )
  return ref, est


def _check_cutoff(cutoff_hz: float | None, sample_rate: int) -> float:
  cutoff = sample_rate / 4 if cutoff_hz is None else float(cutoff_hz)
  if not 0 < cutoff < sample_rate / 2:
    raise ValueError(
      f'cutoff_hz must lie in (0, {sample_rate / 2}) Hz '
      f'for sample_rate {sample_rate}, got {cutoff_hz}'
    )
  return cutoff


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
  """Complex STFT ``[frames, bins]`` with the framing of ``restoration.spectral.stft``."""
  return librosa.stft(
    x, n_fft=n_fft, hop_length=hop, window='hann', center=True, pad_mode='constant'
  ).T


class _Spectra:
  """STFT magnitudes of one checked mono (ref, est) pair, each resolution computed once: the
  metrics of a clip (LSD's three bands, mel distance, spectral convergence) share them."""

  def __init__(self, ref: np.ndarray, est: np.ndarray):
    self._pair, self._mags = (ref, est), {}

  def mags(self, n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    if (n_fft, hop) not in self._mags:
      self._mags[n_fft, hop] = tuple(np.abs(_stft(x, n_fft, hop)) for x in self._pair)
    return self._mags[n_fft, hop]


def lsd(
  ref: np.ndarray,
  est: np.ndarray,
  sample_rate: int,
  *,
  band: Band = 'full',
  cutoff_hz: float | None = None,
  n_fft: int = 2048,
  hop: int = 512,
) -> float:
  """Log-spectral distance (NU-Wave/AudioSR definition), over the full, high or low band.

  'high' keeps bins at or above ``cutoff_hz`` (default ``sample_rate / 4``), 'low' those
  below it: codecs damage the high band, so the split shows where a model helps.
  """
  if band not in ('full', 'high', 'low'):
    raise ValueError(f"band must be 'full', 'high' or 'low', got {band!r}")
  spectra = _Spectra(*_mono_pair(ref, est, sample_rate))
  return _lsd(spectra, sample_rate, band, cutoff_hz, n_fft, hop)


def _lsd(spectra: _Spectra, sample_rate, band, cutoff_hz, n_fft=2048, hop=512) -> float:
  mag_ref, mag_est = spectra.mags(n_fft, hop)
  diff = np.log10(mag_ref**2 + EPS) - np.log10(mag_est**2 + EPS)
  if band != 'full':
    above = np.fft.rfftfreq(n_fft, 1.0 / sample_rate) >= _check_cutoff(cutoff_hz, sample_rate)
    diff = diff[:, above if band == 'high' else ~above]
  return float(np.mean(np.sqrt(np.mean(diff**2, axis=-1))))


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
  """Scale-invariant SDR in dB (Le Roux et al. 2019).

  Capped near 156 dB when est = a * ref exactly; -inf when est has no part along ref.
  """
  ref, est = _mono_pair(ref, est)
  ref, est = ref - ref.mean(), est - est.mean()
  target = (est @ ref) / (ref @ ref) * ref
  target_energy = target @ target
  if target_energy == 0:  # est orthogonal to ref (e.g. silent): nothing of ref is recovered
    return -math.inf
  noise = est - target
  # Relative floor keeps the value finite and scale-invariant when est is exactly a * ref.
  noise_energy = max(noise @ noise, np.finfo(np.float64).eps * target_energy)
  return float(10 * np.log10(target_energy / noise_energy))


def mel_distance(
  ref: np.ndarray,
  est: np.ndarray,
  sample_rate: int,
  *,
  n_mels: int = 80,
  n_fft: int = 1024,
  hop: int = 256,
) -> float:
  """Mean |log10 mel power difference| over frames and mel bands (Slaney mel, 0..sr/2).

  A gain g on est gives exactly ``|log10 g**2|`` wherever the power is far above EPS.
  """
  return _mel_distance(
    _Spectra(*_mono_pair(ref, est, sample_rate)), sample_rate, n_mels, n_fft, hop
  )


def _mel_distance(spectra: _Spectra, sample_rate, n_mels=80, n_fft=1024, hop=256) -> float:
  fb = spectral.mel_filterbank(int(sample_rate), n_fft, n_mels)
  log_mel = [np.log10(m**2 @ fb + EPS) for m in spectra.mags(n_fft, hop)]
  return float(np.mean(np.abs(log_mel[0] - log_mel[1])))


_SC_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))


def spectral_convergence(
  ref: np.ndarray,
  est: np.ndarray,
  resolutions: Sequence[tuple[int, int]] = _SC_RESOLUTIONS,
) -> float:
  """Multi-resolution spectral convergence; est = (1 + e) * ref gives exactly |e|."""
  return _spectral_convergence(_Spectra(*_mono_pair(ref, est)), resolutions)


def _spectral_convergence(spectra: _Spectra, resolutions=_SC_RESOLUTIONS) -> float:
  values = []
  for n_fft, hop in resolutions:
    mag_ref, mag_est = spectra.mags(n_fft, hop)
    values.append(np.linalg.norm(mag_ref - mag_est) / np.linalg.norm(mag_ref))
  return float(np.mean(values))


def high_band_energy_ratio(
  ref: np.ndarray, est: np.ndarray, sample_rate: int, cutoff_hz: float | None = None
) -> float:
  """Energy of est above the cutoff over that of ref: 1 = restored, codec output << 1.

  Whole-clip FFT (Parseval), so no window leakage blurs the cutoff. NaN when the
  reference has no energy above the cutoff (below -120 dB of its total energy).
  """
  ref, est = _mono_pair(ref, est, sample_rate)
  cutoff = _check_cutoff(cutoff_hz, sample_rate)
  power = np.abs(np.fft.rfft(np.stack([ref, est]))) ** 2
  high = np.fft.rfftfreq(ref.shape[-1], 1.0 / sample_rate) >= cutoff
  ref_high, est_high = np.sum(power[:, high], axis=-1)
  return float(est_high / ref_high) if ref_high > 1e-12 * np.sum(power[0]) else math.nan


def spectrogram_mse(ref_spec: np.ndarray, est_spec: np.ndarray) -> float:
  """MSE between two compressed spectrograms ``[..., T, F, 2]`` (the models' own space)."""
  ref_spec, est_spec = np.asarray(ref_spec, np.float64), np.asarray(est_spec, np.float64)
  if ref_spec.shape != est_spec.shape or ref_spec.ndim < 3 or ref_spec.shape[-1] != 2:
    raise ValueError(
      f'ref_spec {ref_spec.shape} and est_spec {est_spec.shape} must both be '
      '[..., T, F, 2] of the same shape'
    )
  return float(np.mean((ref_spec - est_spec) ** 2))


def compressed_spectrogram_mse(
  ref: np.ndarray, est: np.ndarray, params: spectral.SpectralParams | None = None
) -> float:
  """:func:`spectrogram_mse` of ``restoration.spectral.analysis`` of both waves."""
  ref, est = _mono_pair(ref, est)
  params = params or spectral.SpectralParams()
  specs = _analysis(np.stack([ref, est]).astype(np.float32), params)
  return spectrogram_mse(specs[0], specs[1])


def available_optional_metrics() -> tuple[str, ...]:
  """Names of the optional metrics whose packages import here (``pip install .[metrics]``)."""
  return tuple(
    name
    for name, package in _OPTIONAL_PACKAGES.items()
    if importlib.util.find_spec(package) is not None
  )


def _require(name: str) -> None:
  if name not in available_optional_metrics():
    raise ImportError(
      f'{name} needs the {_OPTIONAL_PACKAGES[name]!r} package: pip install .[metrics]'
    )


def _resample(x: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
  if sample_rate == target_rate:
    return x
  g = math.gcd(int(sample_rate), target_rate)
  return scipy.signal.resample_poly(x, target_rate // g, int(sample_rate) // g)


def pesq_wb(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> float:
  """Wide-band PESQ (ITU-T P.862.2, MOS-LQO about 1..4.64) at 16 kHz; NaN if no speech found."""
  _require('pesq_wb')
  import pesq  # optional dependency

  ref, est = _mono_pair(ref, est, sample_rate)
  ref, est = _resample(ref, sample_rate, PESQ_RATE), _resample(est, sample_rate, PESQ_RATE)
  try:
    return float(pesq.pesq(PESQ_RATE, ref, est, 'wb'))
  except pesq.PesqError:  # e.g. NoUtterancesError: PESQ is undefined for this clip
    return math.nan


def stoi(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> float:
  """Short-time objective intelligibility (Taal et al. 2011) in [0, 1]; pystoi resamples."""
  _require('stoi')
  import pystoi  # optional dependency

  ref, est = _mono_pair(ref, est, sample_rate)
  return float(pystoi.stoi(ref, est, int(sample_rate), extended=False))


@functools.cache
def _visqol_api():
  from visqol import VisqolApi  # optional dependency

  api = VisqolApi()
  api.create(mode='audio')
  return api


def visqol(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> float:
  """ViSQOL v3 audio mode (MOS-LQO 1..5) at 48 kHz; suits music and speech, made for codecs.

  Speech mode is not used: without the lattice extra it over-predicts by 1-2 MOS points.
  """
  _require('visqol')
  ref, est = _mono_pair(ref, est, sample_rate)
  ref, est = _resample(ref, sample_rate, VISQOL_RATE), _resample(est, sample_rate, VISQOL_RATE)
  return float(_visqol_api().measure_from_arrays(ref, est, VISQOL_RATE).moslqo)


@functools.cache
def _dnsmos_model():
  from speechmos import dnsmos  # optional dependency; its models are in the wheel

  models = os.path.join(os.path.dirname(dnsmos.__file__), 'dnsmos_models')
  return dnsmos, dnsmos.DNSMOS(
    os.path.join(models, 'sig_bak_ovr.onnx'), os.path.join(models, 'model_v8.onnx')
  )


@functools.lru_cache(maxsize=4)
def _dnsmos_scores(est: bytes) -> dict[str, float]:
  module, model = _dnsmos_model()
  wave = np.frombuffer(est, np.float32)
  # One 9.01 s window, the model's input (a shorter clip repeats, as DNSMOS itself does; a
  # longer one is cut): speechmos would slide the window 1 s at a time, 8x the cost.
  wave = np.clip(np.resize(wave, int(module.INPUT_LENGTH * DNSMOS_RATE)), -1.0, 1.0)
  scores = model(wave, DNSMOS_RATE, False)
  return {f'dnsmos_{k}': float(scores[f'{k}_mos']) for k in ('sig', 'bak', 'ovrl')}


def _dnsmos(name: str) -> Callable[[np.ndarray, np.ndarray, int], float]:
  def score(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> float:
    del ref  # no reference: DNSMOS rates the estimate alone
    _require(name)
    est = _resample(np.asarray(est, np.float64), sample_rate, DNSMOS_RATE)
    return _dnsmos_scores(est.astype(np.float32).tobytes())[name]

  score.__doc__ = f'DNSMOS P.835 {name[7:].upper()} (MOS 1..5) of ``est`` at 16 kHz, no reference.'
  return score


dnsmos_ovrl, dnsmos_sig, dnsmos_bak = (_dnsmos(name) for name in DNSMOS)
_OPTIONAL_FNS = {
  'pesq_wb': pesq_wb,
  'stoi': stoi,
  'visqol': visqol,
  'dnsmos_sig': dnsmos_sig,
  'dnsmos_bak': dnsmos_bak,
  'dnsmos_ovrl': dnsmos_ovrl,
}


def _channel_metrics(
  ref: np.ndarray,
  est: np.ndarray,
  sample_rate: int,
  cutoff_hz: float,
  params: spectral.SpectralParams,
  optional: Iterable[str],
) -> dict[str, float]:
  spectra = _Spectra(*_mono_pair(ref, est, sample_rate))  # each STFT once for the clip
  out = {
    'lsd': _lsd(spectra, sample_rate, 'full', cutoff_hz),
    'lsd_high': _lsd(spectra, sample_rate, 'high', cutoff_hz),
    'lsd_low': _lsd(spectra, sample_rate, 'low', cutoff_hz),
    'si_sdr': si_sdr(ref, est),
    'mel_distance': _mel_distance(spectra, sample_rate),
    'spectral_convergence': _spectral_convergence(spectra),
    'high_band_energy_ratio': high_band_energy_ratio(ref, est, sample_rate, cutoff_hz),
    'spec_mse': compressed_spectrogram_mse(ref, est, params),
  }
  for name in optional:
    out[name] = _OPTIONAL_FNS[name](ref, est, sample_rate)
  return out


def compute_all(
  ref: np.ndarray,
  est: np.ndarray,
  sample_rate: int,
  *,
  cutoff_hz: float | None = None,
  params: spectral.SpectralParams | None = None,
  optional: bool = True,
  est_sample_rate: int | None = None,
) -> dict[str, float]:
  """Every metric for one clip, ``[samples]`` or ``[samples, channels]``.

  Multi-channel clips are scored per channel and averaged (a downmix would cancel
  out-of-phase errors). ``cutoff_hz`` (default ``sample_rate / 4``) splits the LSD bands and
  sets the high-band energy ratio; ``optional`` adds every metric in
  :func:`available_optional_metrics`. ``est_sample_rate``, when given, must equal
  ``sample_rate``.
  """
  ref, est = check_pair(ref, est, sample_rate, est_sample_rate)
  if ref.ndim == 2 and ref.shape[1] > ref.shape[0]:
    raise ValueError(
      f'expected [samples, channels], got shape {ref.shape} '
      '(more channels than samples: transposed?)'
    )
  cutoff = _check_cutoff(cutoff_hz, sample_rate)
  params = params or spectral.SpectralParams()
  names = available_optional_metrics() if optional else ()
  channels = [(ref, est)] if ref.ndim == 1 else list(zip(ref.T, est.T))
  per_channel = [_channel_metrics(r, e, sample_rate, cutoff, params, names) for r, e in channels]
  return {k: float(np.mean([m[k] for m in per_channel])) for k in per_channel[0]}


def perceptual(
  ref: np.ndarray, est: np.ndarray, sample_rate: int, names: Iterable[str]
) -> dict[str, float]:
  """Only the optional metrics ``names`` of one clip (per channel, averaged as in
  :func:`compute_all`): subsets that suit them get them without recomputing the rest."""
  ref, est = check_pair(ref, est, sample_rate)
  channels = [(ref, est)] if ref.ndim == 1 else list(zip(ref.T, est.T))
  return {
    n: float(np.mean([_OPTIONAL_FNS[n](r, e, sample_rate) for r, e in channels])) for n in names
  }


def aggregate(results: Iterable[Mapping[str, float]]) -> dict[str, dict[str, float]]:
  """Per metric ``{'mean', 'std', 'n'}`` over clips; NaNs are skipped, std is population std."""
  values: dict[str, list[float]] = {}
  for result in results:
    for name, value in result.items():
      values.setdefault(name, []).append(float(value))
  out = {}
  for name, vals in values.items():
    finite = np.asarray([v for v in vals if not math.isnan(v)])
    out[name] = {
      'mean': float(finite.mean()) if finite.size else math.nan,
      'std': float(finite.std()) if finite.size else math.nan,
      'n': int(finite.size),
    }
  return out
