"""The embedded procedural corpus: speech-like and music-like clips, synthesised in numpy.

It lets the project train and test offline. Codecs remove high-frequency detail, transients
and noise-like texture, so the corpus imitates exactly those statistics of real recordings:
harmonic notes with overtones up to Nyquist and 1/f-like slopes, percussion, glottal pulses
through moving formants, sibilants, plosive bursts, room reverb and background noise. Every
item is a pure function of ``(seed, index)``.
"""

from __future__ import annotations

import collections

import numpy as np
from scipy import ndimage, signal

MATERIALS = ('music', 'speech')

# ----------------------------------------------------------------------------------------------
# Signal-processing helpers shared by the two kinds of synthetic material.


def _db(x: float) -> float:
  return 10.0 ** (x / 20.0)


def _butter(btype: str, freq, sr: int, order: int = 2) -> np.ndarray:
  """Butterworth sos with edge frequencies kept inside (0, Nyquist)."""
  f = np.clip(np.asarray(freq, float), 20.0, 0.45 * sr)
  return signal.butter(order, f, btype=btype, fs=sr, output='sos')


def _resonators(freqs: np.ndarray, bws: np.ndarray, sr: int) -> np.ndarray:
  """Klatt two-pole resonators with unit gain at 0 Hz, as sos rows ``[..., 6]``.

  Cascading them gives formant peaks with natural relative levels; resonators at or above
  0.45 * sr pass the signal through unchanged.
  """
  r = np.exp(-np.pi * bws / sr)
  b = 2.0 * r * np.cos(2.0 * np.pi * freqs / sr)
  c = -r * r
  sos = np.zeros(np.shape(freqs) + (6,))
  sos[..., 0] = 1.0 - b - c
  sos[..., 3] = 1.0
  sos[..., 4] = -b
  sos[..., 5] = -c
  sos[np.asarray(freqs) >= 0.45 * sr] = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
  return sos


def _cascade(x: np.ndarray, sos: np.ndarray, block: int) -> np.ndarray:
  """Filters ``x`` through sections ``sos[b]`` that change every ``block`` samples.

  The sections of a block are multiplied into one direct-form filter, so a 5 ms update rate
  costs one ``lfilter`` call per block; the state carries over, as in Klatt's synthesiser.
  """
  den = sos[:, 0, 3:]
  for k in range(1, sos.shape[1]):
    prod = np.zeros((den.shape[0], den.shape[1] + 2))
    for j in range(3):
      prod[:, j : j + den.shape[1]] += den * sos[:, k, 3 + j, None]
    den = prod
  gain = np.prod(sos[:, :, 0], axis=1)
  y = np.empty_like(x)
  state = np.zeros(den.shape[1] - 1)
  for b in range(den.shape[0]):
    s = slice(b * block, (b + 1) * block)
    y[s], state = signal.lfilter(gain[b : b + 1], den[b], x[s], zi=state)
  return y


def _shaped_noise(rng: np.random.Generator, n: int, sos: np.ndarray) -> np.ndarray:
  """White noise through ``sos``, scaled to unit RMS."""
  return _unit_rms(signal.sosfilt(sos, rng.standard_normal(n)))


def _colored_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
  """Unit-RMS Gaussian noise with power spectrum ~ f**-exponent (1 = pink, 2 = brown)."""
  spec = np.fft.rfft(rng.standard_normal(n))
  spec *= np.maximum(np.arange(spec.size), 1.0) ** (-exponent / 2.0)
  spec[0] = 0.0
  return _unit_rms(np.fft.irfft(spec, n))


def _span(n: int, sr: int, start: float, length: float) -> tuple[int, int, np.ndarray]:
  """Samples ``[i0, i1)`` of an event at ``start`` s lasting ``length`` s, clipped to the
  clip, with the time since the event's onset at each of them."""
  i0 = min(n, max(0, int(np.ceil(start * sr))))
  i1 = max(i0, min(n, int((start + length) * sr)))
  return i0, i1, np.arange(i0, i1) / sr - start


def _transient(
  rng: np.random.Generator, x: np.ndarray, t: np.ndarray, level: float, tau: float
) -> None:
  """Adds a noise burst decaying with time constant ``tau`` at ``t = 0`` (pick, mallet, beater)
  into ``x``, whose samples are at times ``t``."""
  m = int(np.searchsorted(t, 8.0 * tau))
  x[:m] += level * np.exp(-t[:m] / tau) * rng.standard_normal(m)


def _smooth(x: np.ndarray, size: int) -> np.ndarray:
  """Triangular smoothing (two box passes) of a control track."""
  size = max(1, size)
  return ndimage.uniform_filter1d(ndimage.uniform_filter1d(x, size), size)


def _rms(x: np.ndarray) -> float:
  return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _unit_rms(x: np.ndarray) -> np.ndarray:
  """``x`` scaled to unit RMS (unchanged if silent)."""
  rms = _rms(x)
  return x / rms if rms > 0 else x


# ----------------------------------------------------------------------------------------------
# Speech-like material: Rosenberg glottal pulses through a cascade of moving formant
# resonators (Klatt-style, updated every 5 ms), fricative and burst noise, pauses.

# F1, F2, F3 (Hz) of adult male vowels (Peterson & Barney 1952): i I E ae a o U u ^ er.
_VOWELS = np.array(
  [
    [270, 2290, 3010],
    [390, 1990, 2550],
    [530, 1840, 2480],
    [660, 1720, 2410],
    [730, 1090, 2440],
    [570, 840, 2410],
    [440, 1020, 2240],
    [300, 870, 2240],
    [640, 1190, 2390],
    [490, 1350, 1690],
  ],
  float,
)

_Consonant = collections.namedtuple('_Consonant', 'manner voiced locus place')
_CONSONANTS = (
  _Consonant('plosive', False, (200, 800, 2300), 'labial'),  # p
  _Consonant('plosive', False, (200, 1700, 2600), 'alveolar'),  # t
  _Consonant('plosive', False, (200, 2000, 2400), 'velar'),  # k
  _Consonant('plosive', True, (200, 800, 2300), 'labial'),  # b
  _Consonant('plosive', True, (200, 1700, 2600), 'alveolar'),  # d
  _Consonant('plosive', True, (200, 2000, 2400), 'velar'),  # g
  _Consonant('fricative', False, (300, 1700, 2600), 'alveolar'),  # s
  _Consonant('fricative', False, (300, 1800, 2400), 'postalveolar'),  # sh
  _Consonant('fricative', False, (300, 900, 2300), 'labiodental'),  # f
  _Consonant('fricative', True, (300, 1700, 2600), 'alveolar'),  # z
  _Consonant('fricative', True, (300, 900, 2300), 'labiodental'),  # v
  _Consonant('nasal', True, (250, 1000, 2200), ''),  # m
  _Consonant('nasal', True, (250, 1600, 2600), ''),  # n
  _Consonant('approximant', True, (360, 1300, 2700), ''),  # l
  _Consonant('approximant', True, (310, 1060, 1380), ''),  # r
  _Consonant('approximant', True, (290, 610, 2150), ''),  # w
  _Consonant('approximant', True, (260, 2070, 3020), ''),  # j
  _Consonant('aspirate', False, (500, 1500, 2500), ''),  # h
)
# Consonant choice weights: sibilants and stops are frequent in real speech.
_CONSONANT_P = np.array([3, 4, 3, 2, 3, 2, 5, 2, 2, 2, 2, 3, 4, 3, 3, 2, 1, 2], float)
_CONSONANT_P /= _CONSONANT_P.sum()
_SPEAKERS = {  # f0 range (Hz), vocal-tract scale of the formants
  'male': ((85, 150), (0.95, 1.05)),
  'female': ((165, 255), (1.12, 1.22)),
  'child': ((230, 320), (1.25, 1.38)),
}
_FORMANT_BLOCK_S = 0.005


def _noise_filter(rng: np.random.Generator, place: str, sr: int) -> np.ndarray:
  """Spectral shape (sos) of frication or burst noise at a place of articulation."""
  if place == 'alveolar':  # /s/: sibilant peak 4.5-7.5 kHz, little below 3 kHz
    peak = _resonators(np.array([rng.uniform(4500, 7500)]), np.array([rng.uniform(1000, 2500)]), sr)
    return np.concatenate([_butter('highpass', rng.uniform(2500, 3500), sr, 4), peak])
  if place == 'postalveolar':  # /sh/: peak 2.5-3.5 kHz, energy up to ~7 kHz
    peaks = _resonators(
      np.array([rng.uniform(2500, 3500), rng.uniform(5000, 6500)]),
      np.array([rng.uniform(600, 1200), rng.uniform(1500, 2500)]),
      sr,
    )
    return np.concatenate([_butter('highpass', rng.uniform(1500, 2200), sr, 4), peaks])
  if place == 'velar':  # compact mid-frequency burst
    return _butter('bandpass', [rng.uniform(1200, 1800), rng.uniform(2800, 4000)], sr)
  if place == 'labial':  # diffuse, falling spectrum
    return _butter('lowpass', rng.uniform(2500, 5000), sr, 1)
  return _butter('highpass', rng.uniform(1000, 1800), sr, 2)  # /f/, /v/: flat and weak


def _glottal(
  rng: np.random.Generator,
  f0: np.ndarray,
  sr: int,
  oq: float,
  sq: float,
  jitter: float,
  shimmer: float,
) -> tuple[np.ndarray, np.ndarray]:
  """Rosenberg glottal flow and its derivative (the radiated source) for per-sample ``f0``.

  Jitter and shimmer perturb each period's length and amplitude, as in real voices.
  """
  period0 = np.floor(np.cumsum(f0) / sr).astype(np.int64)
  n_periods = int(period0[-1]) + 2
  length = 1.0 + jitter * rng.standard_normal(n_periods)
  phase = np.cumsum(f0 * length[period0]) / sr
  period = np.floor(phase).astype(np.int64)
  frac = phase - period
  tp = oq * sq / (1.0 + sq)  # opening phase
  tn = oq - tp  # closing phase, ends in the abrupt closure that makes the high harmonics
  flow = np.where(
    frac < tp,
    0.5 - 0.5 * np.cos(np.pi * frac / tp),
    np.where(frac < oq, np.cos(0.5 * np.pi * (frac - tp) / tn), 0.0),
  )
  flow *= 1.0 + shimmer * rng.standard_normal(int(period[-1]) + 1)[period]
  return flow, np.diff(flow, prepend=0.0) * (sr / np.mean(f0))


_Articulation = collections.namedtuple('_Articulation', 'av ah fric targets accents phrases')


def _articulate(rng: np.random.Generator, sr: int, n: int, rate: float) -> _Articulation:
  """Random syllables (CV, CVC, V) in phrases separated by pauses, as control tracks."""
  seconds = n / sr
  av = np.zeros(n)  # voicing amplitude
  ah = np.zeros(n)  # aspiration amplitude (noise through the formants)
  fric = np.zeros(n)  # frication and bursts (bypass the formants)
  targets = []  # (time, F1, F2, F3) formant targets
  accents = []  # (time, relative f0 rise) pitch accents
  phrases = [0.0]  # phrase starts, where the declining f0 resets

  def noise(start, length, place, level):
    i0, i1, t = _span(n, sr, start, length)
    if i1 > i0:
      ramp = np.minimum(1.0, np.minimum(t, length - t) / min(0.015, length / 3))
      fric[i0:i1] += level * ramp * _shaped_noise(rng, i1 - i0, _noise_filter(rng, place, sr))

  def hold(track, start, length, level):
    i0, i1, _ = _span(n, sr, start, length)
    track[i0:i1] = level

  t = -rng.uniform(0.0, 0.6)
  while t < seconds:
    if rng.random() < 0.12:  # pause between phrases
      t += rng.uniform(0.12, 0.45)
      phrases.append(t)
    for _ in range(rng.integers(1, 4)):  # syllables of a word
      stressed = rng.random() < 0.4
      onset = (
        _CONSONANTS[rng.choice(len(_CONSONANTS), p=_CONSONANT_P)] if rng.random() < 0.75 else None
      )
      coda = (
        _CONSONANTS[rng.choice(len(_CONSONANTS), p=_CONSONANT_P)] if rng.random() < 0.35 else None
      )
      for phone in (onset, 'vowel', coda):
        if phone is None:
          continue
        if phone == 'vowel':
          d = rng.uniform(0.07, 0.16) * (1.6 if stressed else 1.0) / rate
          formants = _VOWELS[rng.integers(len(_VOWELS))] * rng.uniform(0.93, 1.07, 3)
          targets += [(t + 0.3 * d, *formants), (t + 0.7 * d, *formants)]
          hold(av, t, d, rng.uniform(0.85, 1.0) * (1.25 if stressed else 1.0))
          if stressed:
            accents.append((t + 0.5 * d, rng.uniform(0.08, 0.3)))
          t += d
          continue
        d = rng.uniform(0.05, 0.11) / rate
        targets.append((t + 0.5 * d, *phone.locus))
        if phone.manner == 'plosive':
          closure, vot = 0.6 * d, (0.4 * d if not phone.voiced else 0.012)
          hold(av, t, closure, 0.08 if phone.voiced else 0.0)
          noise(t + closure, rng.uniform(0.005, 0.015), phone.place, rng.uniform(0.5, 1.2))
          if not phone.voiced:
            hold(ah, t + closure, vot, rng.uniform(0.2, 0.4))
          d = closure + vot
        elif phone.manner == 'fricative':
          level = 0.25 if phone.place == 'labiodental' else rng.uniform(0.5, 1.0)
          noise(t, d, phone.place, level * (0.6 if phone.voiced else 1.0))
          hold(av, t, d, 0.35 if phone.voiced else 0.0)
        elif phone.manner == 'aspirate':
          hold(ah, t, d, rng.uniform(0.2, 0.4))
        else:
          hold(av, t, d, 0.45 if phone.manner == 'nasal' else 0.7)
        t += d
    t += rng.uniform(0.0, 0.05) / rate  # word boundary
  return _Articulation(
    av, ah, fric, np.array(targets or [(0.0, *_VOWELS[-1])]).reshape(-1, 4), accents, phrases
  )


def _speech(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
  """One speaker (man, woman or child) uttering random syllables."""
  seconds = n / sr
  f0_range, scale_range = _SPEAKERS[rng.choice(list(_SPEAKERS), p=[0.45, 0.45, 0.1])]
  f0_base = rng.uniform(*f0_range)
  tract = rng.uniform(*scale_range) * rng.uniform(0.96, 1.04, 3)
  # F4-F8: roughly one formant per kHz, as in a uniform tube; without them voiced sounds
  # would have almost no energy above 5 kHz.
  high = np.array([3500, 4500, 5500, 6500, 7500]) * rng.uniform(0.95, 1.05, 5) * tract[2]
  bws = np.concatenate(
    [
      rng.uniform([50, 70, 110], [90, 120, 180]),
      rng.uniform([200, 250, 300, 400, 500], [300, 400, 500, 600, 800]),
    ]
  )
  av, ah, fric, targets, accents, phrases = _articulate(rng, sr, n, rng.uniform(0.8, 1.25))

  # Pitch: declination within each phrase, accents, slow random wander, then the pulse train.
  ts = np.arange(n) / sr
  starts = np.array(phrases)
  phrase = np.searchsorted(starts, ts, side='right') - 1
  since = ts - starts[phrase]
  f0 = f0_base * (rng.uniform(1.05, 1.2) - rng.uniform(0.1, 0.25) * np.minimum(since / 2.0, 1.0))
  for when, rise in accents:
    f0 *= 1.0 + rise * np.exp(-0.5 * ((ts - when) / 0.08) ** 2)
  grid = np.arange(-1.0, seconds + 1.0, 0.05)
  wander = np.interp(ts, grid, rng.normal(0, 0.03, grid.size))
  f0 *= 1.0 + _smooth(wander, int(0.05 * sr))
  flow, pulses = _glottal(
    rng,
    f0,
    sr,
    oq=rng.uniform(0.45, 0.7),
    sq=rng.uniform(1.5, 3.5),
    jitter=rng.uniform(0.003, 0.012),
    shimmer=rng.uniform(0.02, 0.06),
  )
  breath = rng.uniform(0.02, 0.12) * (0.3 + flow) * rng.standard_normal(n)
  # Voicing rises and falls over ~25 ms, noise sources switch faster.
  source = _smooth(av, int(0.012 * sr)) * (pulses + breath) + 0.3 * _smooth(
    ah, int(0.006 * sr)
  ) * rng.standard_normal(n)

  # Formant tracks (linear between targets = coarticulation), one filter update per 5 ms.
  block = max(1, int(_FORMANT_BLOCK_S * sr))
  times = (np.arange(-(-n // block)) + 0.5) * block / sr
  low = np.stack(
    [np.interp(times, targets[:, 0], targets[:, k + 1]) * tract[k] for k in range(3)], -1
  )
  freqs = np.concatenate([low, np.broadcast_to(high, (len(times), high.size))], -1)
  voiced = _cascade(source, _resonators(freqs, np.broadcast_to(bws, freqs.shape), sr), block)
  loud = av > 0.5
  level = _rms(voiced[loud]) if loud.any() else _rms(voiced) or 1.0
  return voiced + level * fric


# ----------------------------------------------------------------------------------------------
# Music-like material: wavetable instruments with overtones up to Nyquist, ADSR envelopes,
# vibrato and brightness that decays with the note; chords, melody, bass, drums, textures.

_SCALES = (
  (0, 2, 4, 5, 7, 9, 11),
  (0, 2, 3, 5, 7, 8, 10),
  (0, 2, 3, 5, 7, 9, 10),
  (0, 2, 4, 7, 9),
  (0, 3, 5, 7, 10),
)
_PROGRESSIONS = (
  (0, 3, 4, 0),
  (0, 5, 3, 4),
  (0, 4, 5, 3),
  (5, 3, 0, 4),
  (0, 3, 0, 4),
  (1, 4, 0, 0),
  (0, 6, 5, 4),
)
_Instrument = collections.namedtuple(
  '_Instrument', 'attack decay sustain release slope bright_tau vibrato odd breath click'
)
_INSTRUMENTS = {  # ranges (low, high) drawn once per part, so a part keeps one timbre
  'pluck': _Instrument(
    (0.002, 0.01),
    (0.3, 1.5),
    (0, 0),
    (0.05, 0.2),
    (0.8, 1.3),
    (0.05, 0.4),
    (0, 0),
    False,
    (0, 0),
    (0.05, 0.2),
  ),
  'piano': _Instrument(
    (0.002, 0.006),
    (0.6, 2.5),
    (0, 0.05),
    (0.1, 0.3),
    (0.9, 1.5),
    (0.1, 0.6),
    (0, 0),
    False,
    (0, 0),
    (0.05, 0.15),
  ),
  'bowed': _Instrument(
    (0.05, 0.2),
    (0.3, 1.0),
    (0.7, 0.9),
    (0.1, 0.3),
    (0.6, 1.0),
    (np.inf, np.inf),
    (8, 25),
    False,
    (0.01, 0.04),
    (0, 0),
  ),
  'reed': _Instrument(
    (0.02, 0.06),
    (0.3, 1.0),
    (0.8, 0.95),
    (0.05, 0.15),
    (0.8, 1.2),
    (np.inf, np.inf),
    (5, 15),
    True,
    (0.02, 0.05),
    (0, 0),
  ),
  'flute': _Instrument(
    (0.03, 0.1),
    (0.3, 1.0),
    (0.85, 0.95),
    (0.05, 0.2),
    (1.5, 2.3),
    (np.inf, np.inf),
    (8, 20),
    False,
    (0.08, 0.2),
    (0, 0),
  ),
  'brass': _Instrument(
    (0.03, 0.08),
    (0.2, 0.6),
    (0.6, 0.8),
    (0.05, 0.15),
    (0.6, 1.1),
    (np.inf, np.inf),
    (4, 12),
    False,
    (0.01, 0.03),
    (0, 0),
  ),
  'organ': _Instrument(
    (0.005, 0.02),
    (1.0, 1.0),
    (1.0, 1.0),
    (0.02, 0.08),
    (1.0, 1.8),
    (np.inf, np.inf),
    (0, 0),
    False,
    (0, 0),
    (0.02, 0.05),
  ),
}
# Partial ratios of struck bars (marimba, vibraphone-like) and a bell: inharmonic timbres.
_MALLETS = (
  (1.0, 3.93, 9.54, 16.4),
  (1.0, 2.76, 5.40, 8.93, 13.34),
  (0.5, 1.0, 1.19, 1.5, 2.0, 2.51, 3.0, 4.07, 5.3),
)
_TABLE = 4096


def _midi_hz(note: float) -> float:
  return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


class _Voice:
  """One instrument part with a fixed timbre: harmonic slope, body resonances, envelope."""

  def __init__(self, rng: np.random.Generator, name: str, sr: int, n: int):
    self.p = _Instrument(
      *(
        r if isinstance(r, bool) else rng.uniform(*r) if r[0] < r[1] else r[0]
        for r in _INSTRUMENTS[name]
      )
    )
    self.rng, self.sr = rng, sr
    # Body resonances (fixed in Hz, as in real instruments): Gaussian bumps in log frequency.
    self.body = (
      np.log2(rng.uniform(250, 5000, 3)),
      rng.uniform(0.25, 0.7, 3),
      rng.uniform(3, 12, 3),
    )
    self.breath = _shaped_noise(
      rng, n, _butter('bandpass', [rng.uniform(800, 2000), rng.uniform(5000, 9000)], sr)
    )

  def _tables(self, f0: float) -> tuple[np.ndarray, np.ndarray]:
    """Bright and dull single-period tables, band-limited below Nyquist for ``f0``."""
    k = np.arange(1, min(_TABLE // 2, int(0.47 * self.sr / f0)) + 1)
    fk = k * f0
    centers, widths, gains = self.body
    body_db = sum(
      g * np.exp(-0.5 * ((np.log2(fk) - c) / w) ** 2) for c, w, g in zip(centers, widths, gains)
    )
    amp = k**-self.p.slope * _db(body_db) * self.rng.uniform(0.6, 1.4, k.size)
    if self.p.odd:
      amp[1::2] *= 0.1
    spec = np.zeros(_TABLE // 2 + 1, complex)
    spec[1 : k.size + 1] = amp * np.exp(2j * np.pi * self.rng.random(k.size))
    dull = spec.copy()
    dull[1 : k.size + 1] /= 1.0 + (fk / (f0 * self.rng.uniform(2.0, 5.0))) ** 2
    tables = np.fft.irfft(np.stack([spec, dull]), _TABLE)
    tables /= np.abs(tables[0]).max() + 1e-12
    return np.concatenate([tables, tables[:, :1]], 1)  # wrap sample for interpolation

  def envelope(self, t: np.ndarray, dur: float) -> np.ndarray:
    p = self.p
    env = np.minimum(t / p.attack, 1.0)
    env *= p.sustain + (1.0 - p.sustain) * np.exp(-np.maximum(t - p.attack, 0.0) / p.decay)
    return env * np.exp(-np.maximum(t - dur, 0.0) / p.release)

  def note(self, out: np.ndarray, start: float, dur: float, pitch: float, vel: float) -> None:
    """Adds one note (onset ``start`` s, held ``dur`` s, MIDI ``pitch``) into ``out``."""
    p, rng, sr = self.p, self.rng, self.sr
    audible = dur if p.sustain > 0 else min(dur, p.attack + 7.0 * p.decay)
    i0, i1, t = _span(out.size, sr, start, audible + 7.0 * p.release)
    if i1 <= i0:
      return
    f0 = _midi_hz(pitch) * 2.0 ** (rng.normal(0, 3) / 1200.0)  # a few cents out of tune
    if p.vibrato > 0:  # delayed vibrato, as players do
      cents = (
        p.vibrato
        * np.clip((t - 0.15) / 0.3, 0.0, 1.0)
        * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t + rng.uniform(0, 6.3))
      )
      phase = (np.cumsum(f0 * 2.0 ** (cents / 1200.0)) / sr + rng.random()) % 1.0
    else:
      phase = (f0 * t + rng.random()) % 1.0
    pos = phase * _TABLE
    i = pos.astype(np.int64)
    frac = pos - i
    bright, dull = (tab[i] + frac * (tab[i + 1] - tab[i]) for tab in self._tables(f0))
    env = self.envelope(t, dur)
    w = env * np.exp(-t / p.bright_tau)  # louder is brighter; plucked strings dull quickly
    x = env * (dull + w * (bright - dull))
    if p.breath > 0:  # air noise of winds and bows, following the envelope
      x += p.breath * env * self.breath[i0:i1]
    if p.click > 0:  # pick or hammer transient
      _transient(rng, x, t, p.click, 0.004)
    out[i0:i1] += vel * x


def _mallet(
  rng: np.random.Generator,
  out: np.ndarray,
  sr: int,
  start: float,
  pitch: float,
  vel: float,
  ratios: tuple[float, ...],
  decay: float,
) -> None:
  """Struck bar or bell: inharmonic partials, higher ones decaying faster."""
  i0, i1, t = _span(out.size, sr, start, 7.0 * decay)
  f0 = _midi_hz(pitch)
  for j, ratio in enumerate(ratios):
    if ratio * f0 < 0.45 * sr and i1 > i0:
      out[i0:i1] += (
        vel * ratio**-0.5 * np.exp(-t * ratio**0.7 / decay) * np.sin(2 * np.pi * ratio * f0 * t + j)
      )
  _transient(rng, out[i0:i1], t, 0.3 * vel, 0.002)


def _metal(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
  """Cymbal-like texture: inharmonic square waves plus noise, high-passed (808 style)."""
  t = np.arange(n) / sr
  freqs = rng.uniform(0.9, 1.1) * np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0])
  squares = np.sign(0.5 - (freqs[:, None] * t + rng.random((6, 1))) % 1.0)
  x = squares.sum(0) / 6.0 + rng.uniform(0.5, 2.0) * rng.standard_normal(n)
  x = signal.sosfilt(_butter('highpass', rng.uniform(5000, 7500), sr, 4), x)
  return _unit_rms(x)


def _drums(rng: np.random.Generator, out: np.ndarray, sr: int, t0: float, beat: float) -> None:
  """A 16-step pattern of kick, snare and hi-hat, humanised in timing and velocity."""
  n = out.size
  step = beat / 4.0
  swing = rng.uniform(0.0, 0.25) * step
  kicks = {0, 8} | {s for s in (3, 6, 10, 11, 14) if rng.random() < 0.3}
  snares = {4, 12} | {s for s in (7, 15) if rng.random() < 0.2}
  hat_every = int(rng.choice([1, 2, 2, 4]))
  open_hat = {14} if rng.random() < 0.5 else set()
  kick_f = rng.uniform(40, 60), rng.uniform(110, 200), rng.uniform(0.02, 0.05)
  kick_decay = rng.uniform(0.1, 0.35)
  snare_f, snare_decay = rng.uniform(150, 250), rng.uniform(0.06, 0.1)
  snare_noise = _shaped_noise(
    rng, n, _butter('bandpass', [rng.uniform(800, 2000), rng.uniform(6000, 9000)], sr)
  )
  hats = _metal(rng, n, sr)
  snare_env, hat_env = np.zeros(n), np.zeros(n)
  for k in range(int(np.ceil((n / sr - t0) / step)) + 1):
    s = k % 16
    when = t0 + k * step + (swing if s % 2 else 0.0) + rng.normal(0, 0.004)
    vel = rng.uniform(0.6, 1.0)
    if s in kicks:
      i0, i1, t = _span(n, sr, when, 7 * kick_decay)
      sweep = kick_f[0] + (kick_f[1] - kick_f[0]) * np.exp(-t / kick_f[2])
      out[i0:i1] += vel * np.exp(-t / kick_decay) * np.sin(2 * np.pi * np.cumsum(sweep) / sr)
      _transient(rng, out[i0:i1], t, 0.2 * vel, 0.002)
    if s in snares:
      i0, i1, t = _span(n, sr, when, 7 * snare_decay)
      out[i0:i1] += 0.6 * vel * np.exp(-t / 0.05) * np.sin(2 * np.pi * snare_f * t)
      snare_env[i0:i1] += vel * np.exp(-t / snare_decay)
    if s % hat_every == 0 or s in open_hat:
      decay = 0.25 if s in open_hat else rng.uniform(0.02, 0.05)
      i0, i1, t = _span(n, sr, when, 7 * decay)
      hat_env[i0:i1] += vel * np.exp(-t / decay)
  out += 0.7 * snare_env * snare_noise + rng.uniform(0.15, 0.4) * hat_env * hats


def _music(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
  """A few bars of a random piece: any of melody, chords, bass, drums and a noise texture."""
  seconds = n / sr
  beat = 60.0 / rng.uniform(70, 160)
  bar = 4 * beat
  t0 = -rng.uniform(0, bar)  # the clip starts anywhere within a bar
  scale = np.array(_SCALES[rng.integers(len(_SCALES))])
  root = rng.integers(48, 60)
  progression = _PROGRESSIONS[rng.integers(len(_PROGRESSIONS))]
  n_bars = int(np.ceil((seconds - t0) / bar))

  def degree(d: int) -> int:
    return int(root + 12 * (d // len(scale)) + scale[d % len(scale)])

  parts = {
    name: rng.random() < p
    for name, p in (
      ('melody', 0.75),
      ('chords', 0.6),
      ('bass', 0.5),
      ('drums', 0.5),
      ('texture', 0.25),
    )
  }
  if not (parts['melody'] or parts['chords'] or parts['drums']):
    parts['melody'] = True
  mix = np.zeros(n)

  def add(x: np.ndarray, gain_db: float) -> None:
    mix[:] += _db(gain_db) * _unit_rms(x)

  if parts['chords']:
    x = np.zeros(n)
    name = rng.choice(['piano', 'organ', 'bowed', 'pluck', 'brass', 'mallet'])
    voice = _Voice(rng, name, sr, n) if name != 'mallet' else None
    ratios, decay = _MALLETS[rng.integers(len(_MALLETS))], rng.uniform(0.3, 1.5)
    style = rng.choice(['block', 'arpeggio', 'strum'])
    for b in range(n_bars):
      d = progression[b % len(progression)]
      notes = [degree(d + k) for k in (0, 2, 4, 7 if rng.random() < 0.3 else 6)]
      for j, pitch in enumerate(notes):
        hits = (
          [(0.0, bar)]
          if style != 'arpeggio'
          else [(s * beat / 2, beat / 2) for s in range(j, 8, 4)]
        )
        for offset, dur in hits:
          start = t0 + b * bar + offset + (0.015 * j if style == 'strum' else 0.0)
          vel = rng.uniform(0.5, 0.9)
          if voice is None:
            _mallet(rng, x, sr, start, pitch, vel, ratios, decay)
          else:
            voice.note(x, start, 0.95 * dur, pitch, vel)
    add(x, rng.uniform(-8, -2))
  if parts['bass']:
    x = np.zeros(n)
    voice = _Voice(rng, rng.choice(['pluck', 'bowed', 'organ']), sr, n)
    per_bar = int(rng.choice([1, 2, 4]))
    for b in range(n_bars):
      for j in range(per_bar):
        pitch = degree(progression[b % len(progression)]) - 12 * int(rng.integers(1, 3))
        voice.note(x, t0 + b * bar + j * bar / per_bar, 0.9 * bar / per_bar, pitch, 0.8)
    add(x, rng.uniform(-8, -1))
  if parts['melody']:
    x = np.zeros(n)
    voice = _Voice(rng, rng.choice(list(_INSTRUMENTS)), sr, n)
    low, high = len(scale), 2 * len(scale) + len(scale) // 2  # about MIDI 60-88
    d, t = int(rng.integers(low, high)), t0
    while t < seconds:
      dur = beat * rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0])
      if rng.random() > 0.1:  # else a rest
        voice.note(x, t, dur * rng.uniform(0.7, 1.0), degree(d), rng.uniform(0.6, 1.0))
      d = int(np.clip(d + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), low, high))
      t += dur
    add(x, 0.0)
  if parts['drums']:
    x = np.zeros(n)
    _drums(rng, x, sr, t0, beat)
    add(x, rng.uniform(-6, 0))
  if parts['texture']:  # a decaying cymbal crash or a breathy noise pad
    ts = np.arange(n) / sr
    if rng.random() < 0.5:
      x = _metal(rng, n, sr) * np.exp(-(ts - t0) / rng.uniform(0.8, 2.5))
    else:
      x = _shaped_noise(
        rng, n, _butter('bandpass', [rng.uniform(300, 1000), rng.uniform(3000, 7000)], sr)
      )
      x *= 1.0 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * ts + rng.uniform(0, 6.3))
    add(x, rng.uniform(-28, -14))
  return mix


# ----------------------------------------------------------------------------------------------
# Recording chain shared by both materials: room, microphone, background noise, level.


def _room(rng: np.random.Generator, x: np.ndarray, sr: int) -> np.ndarray:
  """Convolves a random room: exponentially decaying noise, highs decaying faster."""
  if rng.random() < 0.25:  # close-miked, dry
    return x
  rt60 = rng.uniform(0.15, 0.8)
  m = int(min(rt60, 0.5) * sr)
  t = np.arange(m) / sr
  tail = rng.standard_normal(m)
  low = signal.sosfilt(_butter('lowpass', rng.uniform(1500, 4000), sr), tail)
  ir = low * np.exp(-6.9 * t / rt60) + (tail - low) * np.exp(
    -6.9 * t / (rt60 * rng.uniform(0.3, 0.7))
  )
  ir[: int(rng.uniform(0.002, 0.02) * sr)] = 0.0  # first reflections arrive after the direct path
  ir *= _db(-rng.uniform(0, 15)) / (np.sqrt(np.sum(ir * ir)) + 1e-12)  # direct-to-reverb ratio
  ir[0] = 1.0
  return signal.fftconvolve(x, ir)[: x.size]


def _material(rng: np.random.Generator) -> str:
  return MATERIALS[int(rng.integers(len(MATERIALS)))]


def material(index: int, seed: int) -> str:
  """The kind of synthetic item ``index`` ('music' or 'speech'), without synthesising it."""
  return _material(np.random.default_rng([seed, index]))


def synthesize(index: int, seed: int, sample_rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
  """Synthetic item ``index``: float32 mono ``[round(seconds * sample_rate)]``.

  Deterministic in ``(seed, index)``; peaks between -6 and -1 dBFS (a clip so short that it
  falls entirely in a pause is silent).
  """
  if index < 0 or seed < 0:
    raise ValueError(f'synthesize: index and seed must be >= 0, got index={index}, seed={seed}')
  n = int(round(seconds * sample_rate))
  if n <= 0 or sample_rate < 8000:
    raise ValueError(
      f'synthesize: need seconds > 0 and sample_rate >= 8000, got '
      f'seconds={seconds}, sample_rate={sample_rate}'
    )
  rng = np.random.default_rng([seed, index])
  x = (_speech if _material(rng) == 'speech' else _music)(rng, sample_rate, n)
  x = _room(rng, x, sample_rate)
  x = signal.sosfilt(_butter('highpass', rng.uniform(30, 80), sample_rate), x)  # mic rumble
  x += _rms(x) * _db(-rng.uniform(25, 55)) * _colored_noise(rng, n, rng.uniform(0.5, 2.0))
  peak = np.abs(x).max()
  return (x * (_db(-rng.uniform(1.0, 6.0)) / peak if peak > 0 else 0.0)).astype(np.float32)
