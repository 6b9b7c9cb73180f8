"""A tiny real TFDS audio dataset for tests/test_corpus.py (builders must be importable).

Example ``i`` is a sine of ``FREQS[i % len(FREQS)]`` Hz at 8 kHz, int16 samples (as most TFDS
audio datasets store them), lasting 0.25 s to 1.5 s so that both padding and cropping happen.
It has a train and a test split but no validation split, so a reader must use the dataset's own
test split and carve validation out of train.
"""

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

SAMPLE_RATE = 8000
FREQS = (250.0, 500.0, 750.0, 1000.0)
SPLIT_SIZES = {'train': 40, 'test': 5}


def tone(index: int) -> np.ndarray:
  """The int16 wave of example ``index``."""
  n = int(SAMPLE_RATE * (0.25 + 0.25 * (index % 6)))
  t = np.arange(n) / SAMPLE_RATE
  return np.round(16000 * np.sin(2 * np.pi * FREQS[index % len(FREQS)] * t)).astype(np.int16)


class CorpusTestAudio(tfds.core.GeneratorBasedBuilder):
  """Sine tones with an 'audio' feature and a declared sample rate."""

  VERSION = tfds.core.Version('1.0.0')
  pkg_dir_path = epath.Path(__file__).parent  # TFDS infers it from a package; this is a module

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          'audio': tfds.features.Audio(shape=(None,), dtype=np.int16, sample_rate=SAMPLE_RATE),
          'label': tfds.features.ClassLabel(num_classes=len(FREQS)),
        }
      )
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(split, n) for split, n in SPLIT_SIZES.items()}

  def _generate_examples(self, split: str, n: int):
    for i in range(n):
      yield f'{split}{i}', {'audio': tone(i), 'label': i % len(FREQS)}


def prepare(data_dir: str) -> None:
  """Writes the dataset under ``data_dir`` (offline: no attempt to fetch it from GCS)."""
  CorpusTestAudio(data_dir=data_dir).download_and_prepare(
    download_config=tfds.download.DownloadConfig(try_download_gcs=False)
  )
