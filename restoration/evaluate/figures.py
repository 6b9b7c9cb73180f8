"""The comparison's figure: log-magnitude spectrograms of clean / degraded / each method's output,
on the clips a rule picks (:func:`most_damaged`), with the band above the codec's cut-off
zoomed (:func:`damage_figure`), since that band is where the methods differ."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

CUTOFF_DB = -20.0  # bins this far below the clean clip's power count as removed by the codec
_N_FFT, _HOP = 1024, 256  # the figure's STFT
CONTENT_DB = 50.0  # a clean clip's bins this far below its loudest hold no content to remove
DYNAMIC_RANGE_DB = 80.0


class Clip(NamedTuple):
  """A held-out (clean, degraded) mono pair and where it came from."""

  key: str
  kind: str
  split: str
  clean: np.ndarray
  degraded: np.ndarray


def most_damaged(clips: Iterable[Clip], sample_rate: int) -> dict[str, tuple[Clip, float, int]]:
  """Per kind, ``(clip, LSD-high, candidates)``: the clip whose high band the codec damaged
  most, by the highest LSD-high (above ``sample_rate / 4``, as in the tables) of degraded vs
  clean, so the figure shows the damage by a rule rather than by a hand-picked clip."""
  from restoration import metrics

  by_kind: dict[str, list[tuple[float, Clip]]] = {}
  for clip in clips:
    loss = metrics.lsd(clip.clean, clip.degraded, sample_rate, band='high')
    by_kind.setdefault(clip.kind, []).append((loss, clip))
  best = {}
  for kind, scored in by_kind.items():
    loss, clip = max(scored, key=lambda s: s[0])
    best[kind] = (clip, loss, len(scored))
  return best


def codec_cutoff_hz(clean: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
  """The lowest frequency above which every bin of ``clean``'s content (its mean power within
  ``CONTENT_DB`` of its loudest bin's, as :func:`restoration.spectral.band_edge` reads content)
  lies ``CUTOFF_DB`` or more lower in ``degraded``; ``sample_rate / 4`` when the codec removed
  none of it. Faint bins near Nyquist, which the codec's own noise can match, do not count,
  nor do the frames whose window crosses the clip's ends (an abrupt start or stop splatters
  over every bin)."""
  from restoration.spectral import end_frames

  specs = [log_spectrogram(x) for x in (clean, degraded)]
  edge = end_frames(_N_FFT, _HOP)
  if specs[0].shape[1] > 2 * edge:
    specs = [x[:, edge:-edge] for x in specs]
  power = [np.mean(10 ** (x / 10), axis=1) for x in specs]
  content = power[0] > power[0].max() * 10 ** (-CONTENT_DB / 10)
  kept = (power[1] > power[0] * 10 ** (CUTOFF_DB / 10)) & content
  top = np.flatnonzero(kept)
  freqs = np.linspace(0, sample_rate / 2, len(power[0]))
  if not np.any(content & ~kept) or top.size == 0 or top[-1] + 1 >= len(freqs):
    return sample_rate / 4
  return float(freqs[top[-1] + 1])


def log_spectrogram(wave: np.ndarray, n_fft: int = _N_FFT, hop: int = _HOP) -> np.ndarray:
  """dB magnitude ``[freq, frames]`` (Hann window), for display."""
  import librosa

  spec = np.abs(librosa.stft(np.asarray(wave, np.float32), n_fft=n_fft, hop_length=hop))
  return 20 * np.log10(spec + 1e-6)


def spectrogram_figure(
  panels: Mapping[str, np.ndarray], sample_rate: int, path: str, title: str = ''
) -> None:
  """One row per panel (e.g. clean, degraded, GAN, diffusion, regression), shared colour scale."""
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  specs = {k: log_spectrogram(v) for k, v in panels.items()}
  vmax = max(s.max() for s in specs.values())
  fig, axes = plt.subplots(len(specs), 1, figsize=(10, 2.2 * len(specs)), sharex=True)
  axes = np.atleast_1d(axes)
  for ax, (name, s) in zip(axes, specs.items()):
    seconds = len(panels[name]) / sample_rate
    im = ax.imshow(
      s,
      origin='lower',
      aspect='auto',
      vmin=vmax - 90,
      vmax=vmax,
      cmap='magma',
      extent=(0, seconds, 0, sample_rate / 2000),
    )
    ax.set_ylabel('kHz')
    ax.set_title(name, loc='left', fontsize=10)
  axes[-1].set_xlabel('seconds')
  fig.colorbar(im, ax=list(axes), label='dB', shrink=0.8)
  if title:
    fig.suptitle(title)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def damage_figure(
  clips: Sequence[tuple[str, Mapping[str, np.ndarray], float]],
  sample_rate: int,
  path: str,
  title: str = '',
) -> list[list[str]]:
  """Two figure rows per ``(label, panels, cutoff_hz)``: every panel's full band, then the band
  from 0.8 x the codec's cut-off (dashed) to Nyquist, zoomed, on its own colour scale; one
  column per panel (clean, degraded, each method). Returns the panel titles as drawn, by row."""
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  cols = max(len(panels) for _, panels, _ in clips)
  fig, axes = plt.subplots(
    2 * len(clips),
    cols,
    figsize=(2.8 * cols, 2.2 * 2 * len(clips)),
    squeeze=False,
    layout='constrained',
  )
  for c, (label, panels, cutoff) in enumerate(clips):
    specs = {k: log_spectrogram(v) for k, v in panels.items()}
    freqs = np.linspace(0, sample_rate / 2, next(iter(specs.values())).shape[0])
    low = 0.8 * cutoff
    for row, (band, keep) in enumerate(
      (('full band', freqs >= 0), (f'above {low / 1000:.1f} kHz', freqs >= low))
    ):
      ax_row = axes[2 * c + row]
      vmax = max(s[keep].max() for s in specs.values())
      for ax, (name, s) in zip(ax_row, specs.items()):
        seconds = len(panels[name]) / sample_rate
        im = ax.imshow(
          s[keep],
          origin='lower',
          aspect='auto',
          vmin=vmax - DYNAMIC_RANGE_DB,
          vmax=vmax,
          cmap='magma',
          extent=(0, seconds, freqs[keep][0] / 1000, sample_rate / 2000),
        )
        ax.axhline(cutoff / 1000, color='white', linestyle='--', linewidth=0.8)
        ax.set_title(f'{label}: {name}, {band}', loc='left', fontsize=8)
        ax.tick_params(labelsize=7)
      ax_row[0].set_ylabel('kHz', fontsize=8)
      for ax in ax_row[len(specs) :]:
        ax.set_visible(False)
      fig.colorbar(im, ax=list(ax_row), label='dB', shrink=0.9)
  for ax in axes[-1]:
    ax.set_xlabel('seconds', fontsize=8)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return [[ax.get_title(loc='left') for ax in row if ax.get_visible()] for row in axes]
