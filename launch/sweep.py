"""Expands a config file's sweep into runs, and prints, runs, or writes jobs for them.

A config file may define `get_sweep(size) -> list[dict]`, each dict one run's overrides with
dotted keys, e.g. `[{'seed': s, 'train.learning_rate': lr} for s in (0, 1) for lr in ...]`.

  python launch/sweep.py --config=configs/gan.py:demo --workdir=runs/sweep [--mode=print]

  print   the commands, one per line (default)
  local   run them here one after another; exit code 1 if any failed
  slurm   write WORKDIR/<run>/job.sbatch from launch/slurm.sbatch and print the sbatch lines
  tpu     print `launch/tpu_vm.sh run ...` lines (TPU_NAME and ZONE from the environment)
  summary print the runs so far as a table sorted by their validation metric (the overridden
          fields as columns, steps done, wall time) and write WORKDIR/learning_curves.png
Commands for slurm and tpu add --config.distributed=True.

Each run's workdir is WORKDIR/<name>, the name built from its overrides, so rerunning a sweep
resumes every run from its latest checkpoint.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ml_collections
from absl import flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from restoration import cli  # noqa: E402
from restoration.errors import ConfigError, FlagError, UserError, exit_with  # noqa: E402

LAUNCH_DIR = Path(__file__).resolve().parent
SLURM_TEMPLATE = LAUNCH_DIR / 'slurm.sbatch'
COMMAND_SLOT = '"$@"'  # Where slurm.sbatch runs the command it is given.
DISTRIBUTED = '--config.distributed=True'  # SLURM and TPU jobs join hosts via jax.distributed.
MODES = ('print', 'local', 'slurm', 'tpu', 'summary')


@dataclasses.dataclass(frozen=True)
class Run:
  name: str
  workdir: str
  overrides: dict[str, Any]
  argv: list[str]  # Starts with 'python'; `--mode=local` swaps in this interpreter.


def load_config_module(config_path: str):
  """Imports a config file by path, as ml_collections' config_flags does."""
  path = Path(config_path)
  if not path.is_file():
    raise FlagError(f'--config: config file {config_path} does not exist')
  spec = importlib.util.spec_from_file_location(f'_sweep_config_{path.stem}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def format_value(value: Any) -> str:
  """The text config_flags parses back into `value` (strings as is, bools as True/False)."""
  return value if isinstance(value, str) else repr(value)


def run_name(overrides: dict[str, Any]) -> str:
  """'seed=1,train.learning_rate=0.0003': readable, and unique per override set."""
  if not overrides:
    return 'base'
  text = ','.join(f'{key}={format_value(value)}' for key, value in overrides.items())
  return re.sub(r'[^A-Za-z0-9._=,+-]', '_', text)


def _check_override(config: ml_collections.ConfigDict, key: str, value: Any, where: str) -> None:
  """Applies `key=value` to `config`, so unknown fields and wrong types fail before launch."""
  parts = key.split('.')
  node = config
  for i, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ConfigError(
        f'{where}: override {key!r} names no config field ({".".join(parts[: i + 1])!r} is missing)'
      )
    if i < len(parts) - 1:
      node = node[part]
  try:
    node[parts[-1]] = value
  except (TypeError, ValueError) as e:
    raise ConfigError(f'{where}: override {key}={value!r} does not fit the field: {e}') from None


def expand_sweep(config_path: str, size: str, workdir: str) -> list[Run]:
  """One Run per entry of `get_sweep(size)` in `config_path`, checked against `get_config(size)`."""
  module = load_config_module(config_path)
  if not hasattr(module, 'get_sweep'):
    raise ConfigError(f'{config_path} defines no get_sweep(size); nothing to sweep')
  sweep = module.get_sweep(size)
  runs, seen = [], {}
  for i, overrides in enumerate(sweep):
    where = f'{config_path}:{size} get_sweep entry {i}'
    if not isinstance(overrides, dict):
      raise ConfigError(f'{where} is {type(overrides).__name__}; expected a dict of overrides')
    config = module.get_config(size)
    for key, value in overrides.items():
      _check_override(config, key, value, where)
    name = run_name(overrides)
    if name in seen:
      raise ConfigError(f'{where} repeats entry {seen[name]} (run name {name!r})')
    seen[name] = i
    run_dir = f'{workdir.rstrip("/")}/{name}'
    argv = [
      'python',
      '-m',
      'restoration.main',
      f'--config={config_path}:{size}',
      f'--workdir={run_dir}',
    ]
    argv += [f'--config.{key}={format_value(value)}' for key, value in overrides.items()]
    runs.append(Run(name=name, workdir=run_dir, overrides=dict(overrides), argv=argv))
  return runs


def slurm_script(run: Run, template: str) -> str:
  """The SLURM template with this run's job name, log file and command filled in."""
  if template.count(COMMAND_SLOT) != 1:
    raise ValueError(f'{SLURM_TEMPLATE} must contain {COMMAND_SLOT} exactly once')
  script = template.replace(COMMAND_SLOT, shlex.join([*run.argv, DISTRIBUTED]))
  script = re.sub(r'(?m)^#SBATCH --job-name=.*$', f'#SBATCH --job-name={run.name}', script)
  return re.sub(
    r'(?m)^#SBATCH --output=.*$', f'#SBATCH --output={run.workdir}/slurm-%j.out', script
  )


_FLAGS = flags.FlagValues()
_CONFIG = flags.DEFINE_string(
  'config', None, 'FILE.py:SIZE, as for restoration.main.', required=True, flag_values=_FLAGS
)
_WORKDIR = flags.DEFINE_string(
  'workdir', None, "Parent of the runs' workdirs.", required=True, flag_values=_FLAGS
)
_MODE = flags.DEFINE_enum('mode', 'print', MODES, 'What to do with the runs.', flag_values=_FLAGS)


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the CLI on ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
  cli.parse('sweep', _FLAGS, argv, __doc__)
  config_path, sep, size = _CONFIG.value.partition(':')
  mode, workdir = _MODE.value, _WORKDIR.value
  try:
    if not sep or not size:
      raise FlagError(f'--config must be FILE.py:SIZE, got {_CONFIG.value!r}')
    runs = expand_sweep(config_path, size, workdir)
  except UserError as e:
    exit_with('sweep', e)

  if mode == 'print':
    for run in runs:
      print(shlex.join(run.argv))
  elif mode == 'tpu':
    for run in runs:
      print(shlex.join(['launch/tpu_vm.sh', 'run', *run.argv[1:], DISTRIBUTED]))
  elif mode == 'summary':
    from restoration import sweeps

    figure = f'{workdir.rstrip("/")}/learning_curves.png'
    columns = list(dict.fromkeys(key for run in runs for key in run.overrides))
    try:
      lines = sweeps.write_summary([run.workdir for run in runs], figure, columns=columns)
    except FileNotFoundError as e:
      print(f'[sweep] {e}', file=sys.stderr)
      return 1
    print('\n'.join([*lines, '', f'Learning curves: {figure}']))
  elif mode == 'slurm':
    template = SLURM_TEMPLATE.read_text()
    for run in runs:
      script = Path(run.workdir) / 'job.sbatch'
      script.parent.mkdir(parents=True, exist_ok=True)
      script.write_text(slurm_script(run, template))
      print(f'sbatch {shlex.quote(str(script))}')
  else:
    failed = []
    for run in runs:
      print(f'[sweep] {run.name}: {shlex.join(run.argv)}', flush=True)
      if subprocess.run([sys.executable, *run.argv[1:]]).returncode:
        failed.append(run.name)
    if failed:
      print(f'[sweep] {len(failed)}/{len(runs)} runs failed: {", ".join(failed)}', file=sys.stderr)
      return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
