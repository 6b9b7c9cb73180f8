"""Sweep expansion (checked by ml_collections' own flag parser) and the local launcher."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from absl import flags
from ml_collections import config_flags

from restoration.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'launch'))
import sweep  # noqa: E402

CONFIG = textwrap.dedent("""
    import ml_collections

    def get_config(size):
      config = ml_collections.ConfigDict()
      config.seed = 0
      config.method = 'gan'
      config.train = ml_collections.ConfigDict({'learning_rate': 1e-3, 'steps': 10})
      config.train.steps = {'smoke': 5, 'demo': 100}[size]
      return config

    def get_sweep(size):
      return [{'seed': seed, 'train.learning_rate': lr, 'method': 'gan hinge'}
              for seed in (1, 2) for lr in ({'smoke': (3e-4,), 'demo': (1e-3, 3e-4)}[size])]
    """)


@pytest.fixture
def config_file(tmp_path):
  path = tmp_path / 'toy.py'
  path.write_text(CONFIG)
  return str(path)


def test_expand_sweep_round_trips_through_config_flags(config_file, tmp_path):
  runs = sweep.expand_sweep(config_file, 'demo', str(tmp_path / 'runs'))
  assert len(runs) == 4
  assert len({run.workdir for run in runs}) == 4
  first = runs[0]
  assert first.name == 'seed=1,train.learning_rate=0.001,method=gan_hinge'
  assert first.workdir == f'{tmp_path}/runs/{first.name}'
  assert first.argv[:5] == [
    'python',
    '-m',
    'restoration.main',
    f'--config={config_file}:demo',
    f'--workdir={first.workdir}',
  ]
  for run in runs:
    # What restoration.main will see: parse the run's flags with config_flags itself.
    argv = ['main', *run.argv[3:]]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file('config', flag_values=values, sys_argv=argv)
    flags.DEFINE_string('workdir', None, '', flag_values=values)
    values(argv)
    config = values.config
    assert values.workdir == run.workdir
    assert config.train.steps == 100  # The size reached get_config.
    assert {
      'seed': config.seed,
      'train.learning_rate': config.train.learning_rate,
      'method': config.method,
    } == run.overrides
  assert len(sweep.expand_sweep(config_file, 'smoke', 'runs')) == 2


@pytest.mark.parametrize(
  'entry, error, message',
  [
    ("{'train.lr': 1.0}", ConfigError, "override 'train.lr' names no config field ('train.lr'"),
    ("{'seed.x': 1}", ConfigError, "override 'seed.x' names no config field ('seed.x'"),
    ("{'seed': 'one'}", ConfigError, "override seed='one' does not fit the field"),
    ("'seed=1'", ConfigError, 'entry 0 is str; expected a dict of overrides'),
    ("{'seed': 1}, {'seed': 1}", ConfigError, "entry 1 repeats entry 0 (run name 'seed=1')"),
  ],
)
def test_expand_sweep_rejects_bad_entries(tmp_path, entry, error, message):
  path = tmp_path / 'bad.py'
  path.write_text(
    CONFIG.replace('def get_sweep(size):', f'def get_sweep(size):\n  return [{entry}]')
  )
  with pytest.raises(error) as info:
    sweep.expand_sweep(str(path), 'smoke', 'runs')
  assert message in str(info.value)
  assert '\n' not in str(info.value)


def test_sweep_writes_runnable_slurm_scripts(config_file, tmp_path, capsys):
  workdir = tmp_path / 'runs'
  assert sweep.main([f'--config={config_file}:smoke', f'--workdir={workdir}', '--mode=slurm']) == 0
  printed = capsys.readouterr().out.splitlines()
  runs = sweep.expand_sweep(config_file, 'smoke', str(workdir))
  assert printed == [f'sbatch {run.workdir}/job.sbatch' for run in runs]
  for run in runs:
    script = (Path(run.workdir) / 'job.sbatch').read_text()
    assert f'#SBATCH --job-name={run.name}\n' in script
    assert f'#SBATCH --output={run.workdir}/slurm-%j.out\n' in script
    assert 'srun --kill-on-bad-exit=1 python -m restoration.main' in script
    assert "'--config.method=gan hinge' --config.distributed=True\n" in script
    assert '"$@"' not in script
    subprocess.run(['bash', '-n', f'{run.workdir}/job.sbatch'], check=True)


@pytest.mark.parametrize(
  'args, message',
  [
    (['--config=CONFIG'], "sweep: error: --config must be FILE.py:SIZE, got 'CONFIG'"),
    (['--config=CONFIG:smoke', '--mode=run'], 'sweep: error: flag --mode=run: value should be one'),
    (
      ['--config=missing.py:smoke'],
      'sweep: error: --config: config file missing.py does not exist',
    ),
    ([], 'sweep: error: flag --config=None: Flag --config must have a value other than None.'),
  ],
)
def test_sweep_bad_flags_end_in_one_line(config_file, tmp_path, capsys, args, message):
  args = [a.replace('CONFIG', config_file) for a in args]
  with pytest.raises(SystemExit) as info:
    sweep.main([*args, f'--workdir={tmp_path}'])
  err = capsys.readouterr().err
  assert info.value.code == 2 and err.startswith(message.replace('CONFIG', config_file))
  assert err.count('\n') == 1


def test_shell_scripts_parse():
  for script in ('slurm.sbatch', 'tpu_vm.sh'):
    subprocess.run(['bash', '-n', str(REPO / 'launch' / script)], check=True)


def test_gpu_throughput_script_measures_every_method_and_dtype(tmp_path):
  """The accelerator script at smoke size on the CPU, where TensorFlow cannot be imported (as
  on the lent GPU image): one train-section result per (method, dtype) and per extra run, in
  one process; the profiled run's costliest ops; a run past the time budget is listed as not
  run. Two methods keep it short; the benchmark's sections have their own tests."""
  import json
  import os

  blocked = tmp_path / 'no_tf'
  (blocked / 'tensorflow').mkdir(parents=True)
  (blocked / 'tensorflow' / '__init__.py').write_text('raise ImportError("blocked")\n')
  env = dict(os.environ, PYTHONPATH=str(blocked))
  out = tmp_path / 'out'
  p = subprocess.run(
    [
      sys.executable,
      'launch/gpu_throughput.py',
      f'--out={out}',
      '--size=smoke',
      '--steps=1',
      '--methods=regression,predictive_bridge',
      '--profile=regression:bfloat16',
      '--extra=regression:float32:train.global_batch=16',
    ],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert p.returncode == 0, p.stderr[-2000:]
  results = json.loads((out / 'results.json').read_text())
  assert list(results) == [
    'regression:bfloat16',
    'predictive_bridge:bfloat16',
    'regression:float32',
    'predictive_bridge:float32',
    'regression:float32 train.global_batch=16',
  ]
  for name, r in results.items():
    method, dtype = name.split()[0].split(':')
    assert (r['method'], r['compute_dtype']) == (method, dtype)
    assert r['train_flops_per_step'] > 0 and 'input_examples_per_s' not in r
  assert results['regression:float32 train.global_batch=16']['train_flops_per_step'] > (
    1.5 * results['regression:float32']['train_flops_per_step']
  )
  profile = results['regression:bfloat16']['train_profile']
  assert profile['device_ms_per_step'] > 0 and profile['ops']
  assert 0.99 * sum(op['share'] for op in profile['ops']) <= 1.0
  assert 'train_profile' not in results['predictive_bridge:bfloat16']
  assert (out / 'trace' / 'regression-bfloat16' / 'step.hlo.txt.gz').is_file()
  table = (out / 'summary.md').read_text().splitlines()
  assert len(table) == 2 + len(results) and table[2].startswith('| regression:bfloat16 | ')

  over = subprocess.run(
    [sys.executable, 'launch/gpu_throughput.py', f'--out={tmp_path / "none"}', '--budget_s=0'],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert over.returncode == 0, over.stderr[-2000:]
  assert 'regression:bfloat16: not run (past --budget_s=0)' in over.stdout


def _local(*args, **kwargs):
  return subprocess.Popen(
    [sys.executable, str(REPO / 'launch' / 'local.py'), *args],
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    **kwargs,
  )


def test_local_sets_env_and_prefixes_lines():
  code = (
    "import os; e = os.environ; print(e['RESTORATION_PROCESS_ID'], "
    "e['RESTORATION_NUM_PROCESSES'], e['RESTORATION_COORDINATOR']); print('second line')"
  )
  proc = _local('--num_processes=3', '--', sys.executable, '-c', code)
  out, err = proc.communicate(timeout=60)
  assert proc.returncode == 0, err
  lines = out.splitlines()
  assert len(lines) == 6
  addresses = set()
  for i in range(3):
    mine = [line for line in lines if line.startswith(f'[{i}] ')]
    assert mine[1] == f'[{i}] second line'
    index, count, address = mine[0].split()[1:]
    assert (index, count) == (str(i), '3')
    addresses.add(address)
  assert len(addresses) == 1 and addresses.pop().startswith('127.0.0.1:')


def test_local_propagates_failure_and_stops_the_others():
  code = (
    "import os, sys, time; i = os.environ['RESTORATION_PROCESS_ID'];\n"
    "if i == '1': sys.exit(3)\n"
    'time.sleep(60)'
  )
  start = time.monotonic()
  proc = _local('--num_processes=2', '--', sys.executable, '-c', code)
  _, err = proc.communicate(timeout=60)
  assert proc.returncode == 3
  assert time.monotonic() - start < 20  # Process 0 was stopped, not waited for.
  assert 'process 1 exited with 3' in err


def test_local_forwards_sigterm():
  code = (
    'import os, signal, sys, time\n'
    "i = os.environ['RESTORATION_PROCESS_ID']\n"
    "def stop(*_):\n  print('stopping', i, flush=True); sys.exit(0)\n"
    'signal.signal(signal.SIGTERM, stop)\n'
    "print('ready', flush=True)\n"
    'time.sleep(60)'
  )
  proc = _local('--num_processes=2', '--', sys.executable, '-c', code)
  ready = [proc.stdout.readline(), proc.stdout.readline()]
  assert sorted(ready) == ['[0] ready\n', '[1] ready\n']
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=30)
  assert proc.returncode == 0, err
  assert sorted(out.splitlines()) == ['[0] stopping 0', '[1] stopping 1']


def test_local_help_lists_its_flags():
  proc = _local('--help')
  out, err = proc.communicate(timeout=30)
  assert proc.returncode == 0, err
  assert out.startswith('Runs one command as an N-process') and '--num_processes' in out


@pytest.mark.parametrize(
  'args, message',
  [
    (['--num_processes=2'], 'local: error: no command given'),
    (
      ['--num_processes=0', '--', 'true'],
      'local: error: flag --num_processes=0: 0 is not a positive integer',
    ),
    (['--processes=2', '--', 'true'], 'local: error: Unknown command line flag'),
  ],
)
def test_local_bad_flags_end_in_one_line(args, message):
  proc = _local(*args)
  _, err = proc.communicate(timeout=30)
  assert proc.returncode == 2 and err.startswith(message) and err.count('\n') == 1, err


def test_sweep_prints_local_and_tpu_commands(config_file, capsys):
  sweep.main([f'--config={config_file}:smoke', '--workdir=runs/s'])
  assert capsys.readouterr().out.splitlines() == [
    f'python -m restoration.main --config={config_file}:smoke '
    f'--workdir=runs/s/seed={s},train.learning_rate=0.0003,method=gan_hinge --config.seed={s} '
    f"--config.train.learning_rate=0.0003 '--config.method=gan hinge'"
    for s in (1, 2)
  ]
  sweep.main([f'--config={config_file}:smoke', '--workdir=runs/s', '--mode=tpu'])
  for line in capsys.readouterr().out.splitlines():
    assert line.startswith('launch/tpu_vm.sh run -m restoration.main --config=')
    assert line.endswith(' --config.distributed=True')


SMOKE_SWEEP = textwrap.dedent("""
    from restoration.config import load_config

    def get_config(size):
      c = load_config('regression', size)
      c.data.data_dir = DATA_DIR
      # Validated twice (a curve), raw weights (EMA would hide 4 steps), full rate from step 1.
      c.train.update(eval_every=2, ema_decay=0.0, warmup_steps=1)
      return c

    def get_sweep(size):
      return [{'train.learning_rate': lr} for lr in (1e-9, 3e-3)]
    """)


def test_sweep_summary_sorts_trained_runs_by_validation_metric(smoke_data_dir, tmp_path, capsys):
  """A real two-run smoke sweep (one at a learning rate too small to move): the summary lists the runs by
  their best validation LSD from their logged curves, and writes the learning curves."""
  from restoration.config import set_field
  from restoration.study.report import learning_curve
  from restoration.train import loop

  path = tmp_path / 'sweep_config.py'
  path.write_text(SMOKE_SWEEP.replace('DATA_DIR', repr(smoke_data_dir)))
  workdir = tmp_path / 'sweep'
  runs = sweep.expand_sweep(str(path), 'smoke', str(workdir))
  for run in runs:
    config = sweep.load_config_module(str(path)).get_config('smoke')
    for key, value in run.overrides.items():
      set_field(config, key, value)
    loop.train_and_evaluate(config, run.workdir)
  capsys.readouterr()

  assert sweep.main([f'--config={path}:smoke', f'--workdir={workdir}', '--mode=summary']) == 0
  lines = capsys.readouterr().out.splitlines()
  best = {run.name: min(p['lsd'] for p in learning_curve(run.workdir)) for run in runs}
  assert len(set(best.values())) == 2  # the 1e-9 run stayed near its initial score
  assert lines[0] == (
    '| run | train.learning_rate | best validation lsd | at step | steps | wall time (s) |'
  )
  rows = [line.split(' | ') for line in lines[2:4]]
  assert [row[0].lstrip('| ') for row in rows] == sorted(best, key=best.get)
  for row in rows:
    name = row[0].lstrip('| ')
    assert float(row[1]) == {run.name: run.overrides for run in runs}[name]['train.learning_rate']
    assert float(row[2]) == pytest.approx(best[name], rel=1e-3)
    assert row[4] == '4/4'
  assert lines[-1] == f'Learning curves: {workdir}/learning_curves.png'
  assert (workdir / 'learning_curves.png').stat().st_size > 0


def test_sweep_summary_before_any_run_says_so(config_file, tmp_path, capsys):
  workdir = tmp_path / 'runs'
  (workdir / 'seed=1,train.learning_rate=0.0003,method=gan_hinge').mkdir(parents=True)
  assert (
    sweep.main([f'--config={config_file}:smoke', f'--workdir={workdir}', '--mode=summary']) == 1
  )
  assert capsys.readouterr().err == (
    f'[sweep] {workdir}: none of the 2 run workdirs has a checkpoint yet\n'
  )
  assert not (workdir / 'learning_curves.png').exists()
