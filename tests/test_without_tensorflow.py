"""A JAX-only host: in an environment where TensorFlow is not installed (``make`` builds
``.venv-notf`` with ``pip install -e '.[dev]'``, no ``tf`` extra), the Grain input path
prepares a dataset, trains, resumes, evaluates and restores at smoke size, and writes
TensorBoard events. A separate environment, not a ``sys.modules`` stub: a stub breaks TFDS's
own import, and only a real absence shows that nothing reaches for TensorFlow."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTF_PYTHON = Path(os.environ.get('RESTORATION_NOTF_PYTHON', REPO / '.venv-notf/bin/python'))

pytestmark = pytest.mark.slow


def _run(*args: str, env=None, timeout: int = 900) -> subprocess.CompletedProcess:
  p = subprocess.run(
    [str(NOTF_PYTHON), *args],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  assert p.returncode == 0, f'{args}: {p.stderr[-3000:]}'
  return p


def test_prepare_train_resume_evaluate_restore_without_tensorflow(tmp_path):
  if not NOTF_PYTHON.exists():
    pytest.fail(f'{NOTF_PYTHON}: no TensorFlow-free environment; `make .venv-notf/.installed`')
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=str(REPO))
  env.pop('XLA_FLAGS', None)  # one CPU device, as a plain host has
  absent = subprocess.run(
    [str(NOTF_PYTHON), '-c', 'import tensorflow'], capture_output=True, text=True, env=env
  )
  assert absent.returncode != 0 and 'ModuleNotFoundError' in absent.stderr

  data, work = tmp_path / 'tfds', tmp_path / 'run'
  config = [
    '--config=configs/regression.py:smoke',
    f'--config.data.data_dir={data}',
    '--config.train.eval_every=2',
  ]
  _run('-m', 'restoration.data.prepare', *config, env=env)
  first = _run(
    '-m', 'restoration.main', *config, f'--workdir={work}', '--config.train.num_steps=2', env=env
  )
  assert 'input: grain, spectrograms on the host' in first.stderr
  resumed = _run('-m', 'restoration.main', *config, f'--workdir={work}', env=env)
  assert 'resumed from' in resumed.stderr and 'at step 2' in resumed.stderr
  assert 'done at step 4' in resumed.stderr
  _run('-m', 'restoration.main', *config, f'--workdir={work}', '--mode=evaluate', env=env)
  assert list((work / 'eval').iterdir())

  # TensorBoard events written without TensorFlow, read back with tensorboard's own reader.
  events = _run(
    '-c',
    'import sys; from tensorboard.backend.event_processing import event_accumulator as ea\n'
    f'a = ea.EventAccumulator({str(work)!r}, size_guidance={{"images": 0, "audio": 0}})\n'
    'a.Reload(); t = a.Tags()\n'
    'print(sorted(t["scalars"])); print(sorted(t["images"])); print(sorted(t["audio"]))\n'
    'print([e.step for e in a.Scalars("loss")])',
    env=env,
  ).stdout.splitlines()
  assert "'loss'" in events[0] and "'eval/lsd'" in events[0]
  assert 'spectrogram/clean|degraded|restored' in events[1] and 'audio/restored' in events[2]
  assert events[3] == '[2, 4]'

  import soundfile as sf

  rng = np.random.default_rng(0)
  sf.write(tmp_path / 'in.wav', 0.1 * rng.standard_normal(16000).astype(np.float32), 16000)
  wavs = [str(tmp_path / 'in.wav'), str(tmp_path / 'out.wav')]
  _run('-m', 'restoration.restore', f'--workdir={work}', *wavs, env=env)
  out, sr = sf.read(tmp_path / 'out.wav')
  assert sr == 16000 and len(out) == 16000 and np.isfinite(out).all()
