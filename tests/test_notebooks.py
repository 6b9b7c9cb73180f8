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
  """Every run in the folder is compared, whatever its name (here the predictive bridge and an
  equal-budget run, which no list names), ordered by family; a subfolder of runs (the demo's
  full-band models) gets its own table; folders without a checkpoint are left out."""
  runs = tmp_path / 'runs'
  (runs / 'music44k').mkdir(parents=True)
  (runs / 'jax_cache').mkdir()
  for name, method in (
    ('predictive_bridge', 'predictive_bridge'),
    ('regression', 'regression'),
    ('regression_equal_budget', 'regression'),
  ):
    (runs / name).symlink_to(smoke_run(method))
  (runs / 'music44k' / 'regression').symlink_to(smoke_run('regression'))
  nb = _run('compare_methods.ipynb', {'RESTORATION_RUNS': str(runs)}, tmp_path)
  text = _outputs(nb)
  assert f'{runs}: regression, regression_equal_budget, predictive_bridge\n' in text
  assert f'{runs}/music44k: regression\n' in text
  assert (
    '| aspect | degraded input | regression | regression_equal_budget | predictive_bridge |' in text
  )
  assert '| aspect | degraded input | regression |\n' in text
  assert 'trainable parameters' in text and 'real-time factor' in text
  assert '| run | method | best validation lsd |' in text
  for folder in (runs, runs / 'music44k'):
    assert (folder / 'spectrograms.png').exists()
    assert (folder / 'learning_curves.png').exists()


def test_sweep_summary_notebook(smoke_run, tmp_path):
  """The sweep notebook tabulates the folder's runs (config differences as columns) and lists
  a folder without a checkpoint as not started."""
  sweep = tmp_path / 'sweep'
  (sweep / 'pending').mkdir(parents=True)
  (sweep / 'a').symlink_to(smoke_run('regression'))
  (sweep / 'b').symlink_to(smoke_run('predictive_bridge'))
  nb = _run('sweep_summary.ipynb', {'RESTORATION_SWEEP': str(sweep)}, tmp_path)
  text = _outputs(nb)
  header = next(line for line in text.splitlines() if line.startswith('| run | '))
  assert '| method |' in header and '| train.init_from |' in header
  assert header.endswith('| best validation lsd | at step | steps | wall time (s) |')
  assert sum(line.startswith(('| a | ', '| b | ')) for line in text.splitlines()) == 2
  assert 'Not started: pending' in text
  assert (sweep / 'learning_curves.png').exists()
