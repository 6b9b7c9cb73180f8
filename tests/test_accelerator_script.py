"""launch/accelerator: run.py end to end at smoke size on the CPU, in the TensorFlow-free
environment that the lent accelerator host resembles, and the pins of fetch_wheels.sh."""

import json
import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_without_tensorflow import NOTF_PYTHON

from restoration import compare
from restoration.evaluate import real_audio
from restoration.evaluate.real_audio import RealSource

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / 'launch' / 'accelerator' / 'fetch_wheels.sh'
METHODS = ['regression', 'projected_gan', 'predictive_bridge', 'vocoder']
HOST_MATCHED = {'jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'tensorflow'}


def _need_notf() -> None:
  if not NOTF_PYTHON.exists():
    pytest.fail(f'{NOTF_PYTHON}: no TensorFlow-free environment; `make .venv-notf/.installed`')


def _canonical(name: str) -> str:
  return re.sub(r'[-_.]+', '-', name).lower()


def test_fetch_wheels_pins_packages_of_the_tensorflow_free_environment():
  _need_notf()
  assert subprocess.run(['bash', '-n', str(SCRIPT)]).returncode == 0
  text = SCRIPT.read_text()
  pins = dict(re.findall(r'^\s+([A-Za-z0-9][A-Za-z0-9_.-]*)==(\S+)', text, re.M))
  assert len(pins) >= 20 and {'tensorflow-datasets', 'grain', 'librosa', 'lameenc'} <= set(pins)
  assert not {_canonical(n) for n in pins} & HOST_MATCHED  # the host's own, matched to its JAX
  installed = subprocess.run(
    [
      str(NOTF_PYTHON),
      '-c',
      'import importlib.metadata as m; print("\\n".join(d.metadata["Name"] for d in '
      'm.distributions()))',
    ],
    capture_output=True,
    text=True,
    check=True,
  ).stdout.split()
  missing = {_canonical(n) for n in pins} - {_canonical(n) for n in installed}
  assert not missing, f'pinned but not in the TensorFlow-free environment: {sorted(missing)}'
  for option in ('--python-version 3.12', '--platform manylinux2014_x86_64', '--only-binary'):
    assert option in text


def _export_real_clips(folder: Path) -> None:
  """Two synthetic clips under real sources' names, as ``real_audio --export`` writes them."""
  rng = np.random.default_rng(0)
  t = np.arange(32000) / 16000
  sources = []
  for name, kind in (('alsa_front', 'speech'), ('pyo_flute', 'music')):
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    sf.write(folder.parent / f'{name}.wav', wave.astype(np.float32), 16000)
    sources.append(RealSource(name, kind, 'none', (str(folder.parent / f'{name}.wav'),), '-', '-'))
  real_audio.export_clips(str(folder), 16000, max_seconds=2.0, sources=sources)


@pytest.mark.slow
def test_run_at_smoke_size_without_tensorflow(tmp_path):
  _need_notf()
  real, out = tmp_path / 'real', tmp_path / 'out'
  _export_real_clips(real)
  env = dict(
    os.environ,
    JAX_PLATFORMS='cpu',
    PYTHONPATH=str(REPO),
    XLA_FLAGS='--xla_backend_optimization_level=0',  # one CPU device; compiles faster
  )
  p = subprocess.run(
    [
      str(NOTF_PYTHON),
      'launch/accelerator/run.py',
      f'--out={out}',
      f'--workdir={tmp_path / "work"}',
      '--size=smoke',
      '--budget_s=60',
      '--overhead_s=10',
      '--evaluate_s=30',
      '--min_train_s=2',
      '--num_train=16',
      '--num_validation=4',
      '--num_test=4',
      f'--real_dir={real}',
    ],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert p.returncode == 0, p.stderr[-3000:]
  s = json.loads((out / 'accelerator.json').read_text())
  assert list(s['methods']) == METHODS
  assert s['compute_dtype'] == 'bfloat16' and s['data']['loader'] == 'grain'
  assert s['budget']['train_seconds_each'] == 2.0  # compiling spent the budget: the floor
  assert s['real'] == {
    'source': str(real),
    'clips': 2,
    'degradations': list(compare.REAL_DEGRADATIONS),
  }
  for name, m in s['methods'].items():
    assert 'error' not in m and 'evaluate_error' not in m, (name, m)
    assert m['out_of_time'] and m['steps'] > 1, name
    for key in ('steps_per_s', 'audio_seconds_per_s', 'step_only_steps_per_s', 'flops_per_step'):
      assert m[key] > 0, (name, key)
    assert m['mfu'] is None  # a CPU has no listed peak
    for metric in ('lsd', 'lsd_high', 'si_sdr'):
      assert all(math.isfinite(v) for v in m['quality'][metric].values()), (name, metric)
    assert all(math.isfinite(v) for v in m['real']['lsd'].values()), name
    assert m['harm'] is None or 'all' in m['harm']
  assert s['methods']['predictive_bridge']['starts_from'] == 'regression'
  assert s['methods']['vocoder']['eval_steps'] == 2  # an iterative method at sampling.steps
  assert {'prepare', 'input', 'compile vocoder', 'train vocoder', 'real recordings'} <= set(
    s['phases']
  )
  md = (out / 'accelerator.md').read_text()
  assert md in p.stdout
  table = [line for line in md.splitlines() if line.startswith('| ')]
  header = table[0]
  assert header.startswith('| method | steps | steps/s |') and 'harmed clips' in header
  rows = [line for line in table if line.split('|')[1].strip() in METHODS]
  assert [r.split('|')[1].strip() for r in rows] == METHODS
  assert all(r.count('|') == header.count('|') and 'failed' not in r for r in rows)
