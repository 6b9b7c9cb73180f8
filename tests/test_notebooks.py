"""Both notebooks run top to bottom (nbclient) against smoke-size workdirs made here."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _run(name: str, env: dict, tmp_path) -> nbformat.NotebookNode:
  nb = nbformat.read(ROOT / 'notebooks' / name, as_version=4)
  old = dict(os.environ)
  os.environ.update(env, XLA_FLAGS='--xla_force_host_platform_device_count=1')
  try:
    NotebookClient(
      nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}
    ).execute()
  finally:
    os.environ.clear()
    os.environ.update(old)
  return nb


def _outputs(nb) -> str:
  data = lambda o, kind: str(o.get('data', {}).get(kind, ''))
  return '\n'.join(
    str(o.get('text', '')) + data(o, 'text/markdown') + data(o, 'text/plain')
    for c in nb.cells
    if c.cell_type == 'code'
    for o in c.outputs
  )


def test_evaluate_checkpoint_notebook(smoke_run, tmp_path):
  workdir = smoke_run('regression')
  nb = _run(
    'evaluate_checkpoint.ipynb',
    {'RESTORATION_WORKDIR': workdir, 'RESTORATION_MAX_ITEMS': '2'},
    tmp_path,
  )
  text = _outputs(nb)
  assert 'regression at step' in text
  assert 'real_time_factor' in text
  images = [
    o
    for c in nb.cells
    if c.cell_type == 'code'
    for o in c.outputs
    if 'image/png' in o.get('data', {})
  ]
  assert images


def test_compare_methods_notebook(smoke_run, tmp_path):
  runs = tmp_path / 'runs'
  runs.mkdir()
  for method in ('regression', 'diffusion'):
    (runs / method).symlink_to(smoke_run(method))
  nb = _run('compare_methods.ipynb', {'RESTORATION_RUNS': str(runs)}, tmp_path)
  text = _outputs(nb)
  assert "['regression', 'diffusion']" in text
  assert 'trainable parameters' in text and 'real-time factor' in text
  assert (runs / 'spectrograms.png').exists()
