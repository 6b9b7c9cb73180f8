"""The study's figure: log-magnitude spectrograms of clean / degraded / each method's output."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def log_spectrogram(wave: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
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
