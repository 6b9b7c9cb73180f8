"""README "Train on your own audio": its exact commands, run as subprocesses at smoke size on a
folder of mixed rates (16, 22.05, 44.1 kHz), mono and stereo files and unreadable ones, from
the folder to a trained model, its scores and a restored file."""

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from restoration.data import splits, synthesis

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2', JAX_PLATFORMS='cpu')
GOOD = {'train': 6, 'validation': 2, 'test': 2}  # usable files per split
BAD = {  # one unusable file per split: garbage bytes, an empty file, garbage again
  'train': ('broken.wav', b'RIFF\x00junk' * 50),
  'validation': ('empty.flac', b''),
  'test': ('noise.mp3', bytes(range(256)) * 8),
}
FORMATS = (  # (rate, channels, extension) of the usable files, in turn
  (16000, 1, '.wav'),
  (22050, 2, '.flac'),
  (44100, 2, '.wav'),
  (44100, 1, '.flac'),
  (22050, 1, '.ogg'),
  (16000, 2, '.flac'),
)


def readme_commands() -> list[list[str]]:
  """The commands of the README section's bash block, continuation lines joined."""
  text = (ROOT / 'README.md').read_text()
  section = text.split('## Train on your own audio', 1)[1].split('\n## ', 1)[0]
  block = section.split('```bash\n', 1)[1].split('```', 1)[0]
  lines = block.replace('\\\n', ' ').splitlines()
  return [shlex.split(line) for line in lines if line.strip() and not line.startswith('#')]


def name_in(split: str, stem: str, ext: str) -> str:
  """The first ``stem<i><ext>`` whose path hash puts it in ``split``."""
  return next(name for i in itertools.count() if splits.bucket(name := f'{stem}{i}{ext}') == split)


def write_folder(root: Path) -> list[str]:
  """The user's folder (a subfolder too); returns the unusable files' paths inside it."""
  index = 0
  for split, count in GOOD.items():
    for _ in range(count):
      rate, channels, ext = FORMATS[index % len(FORMATS)]
      key = name_in(split, f'album{index % 2}/track{index}_', ext)
      wave = np.stack(
        [synthesis.synthesize(index * 2 + c, 7, rate, 1.5) for c in range(channels)], axis=1
      )
      (root / key).parent.mkdir(parents=True, exist_ok=True)
      sf.write(root / key, 0.5 * wave, rate)
      index += 1
  bad = []
  for split, (name, data) in BAD.items():
    stem, ext = os.path.splitext(name)
    key = name_in(split, stem, ext)
    (root / key).write_bytes(data)
    bad.append(key)
  return bad


def test_readme_commands_train_evaluate_and_restore_own_folder(tmp_path):
  folder, workdir, data_dir = tmp_path / 'my_audio', tmp_path / 'run', tmp_path / 'tfds'
  folder.mkdir()
  bad = write_folder(folder)
  song = tmp_path / 'song.flac'
  clean = np.stack([synthesis.synthesize(i, 8, 44100, 2.2) for i in (0, 1)], axis=1)
  sf.write(song, 0.5 * clean, 44100)
  paths = {
    'MY_DIR': folder,
    'runs/mine': workdir,
    'song.flac': song,
    'song_mp3.wav': tmp_path / 'song_mp3.wav',
    'restored.wav': tmp_path / 'restored.wav',
  }

  outputs = []
  for cmd in readme_commands():
    assert cmd[:2] == ['.venv/bin/python', '-m'], cmd
    args = []
    for arg in cmd[2:]:
      for token, path in paths.items():
        arg = re.sub(rf'(?<![\w/]){re.escape(token)}(?![\w.])', str(path), arg)
      args.append(arg.replace('.py:demo', '.py:smoke'))
    if any(a.startswith('--config=') for a in args):
      args.append(f'--config.data.data_dir={data_dir}')
    assert not any(a.startswith(('runs/', 'data/')) or '=runs/' in a for a in args), args
    done = subprocess.run(
      [sys.executable, '-m', *args], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    assert done.returncode == 0, f'{args}\n{done.stderr[-3000:]}'
    outputs.append(done)
  modules = [o.args[2] for o in outputs]
  assert modules == [
    'restoration.data.prepare',
    'restoration.main',
    'restoration.evaluate',
    'restoration.degrade',
    'restoration.restore',
  ]
  prepare, _, evaluate, _, _ = outputs

  # Every unusable file is named in a warning; every usable one is a pair in its split.
  for key in bad:
    assert re.search(rf'skipping unusable audio file \S*{re.escape(key)}', prepare.stderr), key
  assert str(GOOD) + ' examples' in prepare.stdout

  metrics = json.loads((workdir / 'eval' / 'metrics.json').read_text())
  assert metrics['num_clips'] == GOOD['test']
  assert '# Evaluation' in evaluate.stdout

  x, sr = sf.read(paths['song_mp3.wav'], dtype='float32', always_2d=True)
  y, out_sr = sf.read(paths['restored.wav'], dtype='float32', always_2d=True)
  assert (sr, out_sr) == (44100, 44100) and x.shape == y.shape == clean.shape
  assert np.isfinite(y).all() and np.abs(y).max() > 0.05
