"""Every bad input or fault a user can fix ends the CLI with one stderr line
``<prog>: error: <message>`` and exit code 2, and no traceback (Orbax's background threads
included): real processes, from flag parsing through data preparation to training."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from absl import flags
from test_train import truncate_step

from restoration import cli, restore

ROOT = Path(__file__).resolve().parents[1]
REGRESSION = f'--config={ROOT}/configs/regression.py:smoke'

# id: (module, prog, args, words the error line must contain). In args, {tmp}, {data}, {empty},
# {junk}, {trained}, {damaged}, {no_config}, {wav} and {nan_wav} are replaced by the paths made
# below.
CASES = {
  'unknown_config_field': (
    'restoration.main',
    'main',
    [REGRESSION, '--workdir={tmp}/run', '--config.nosuch=1'],
    ['--config.nosuch=1', "no field 'nosuch'"],
  ),
  'misspelt_nested_field': (
    'restoration.main',
    'main',
    [REGRESSION, '--workdir={tmp}/run', '--config.train.num_step=3'],
    ["config.train has no field 'num_step'", 'num_steps'],
  ),
  'unknown_size_preset': (
    'restoration.main',
    'main',
    [f'--config={ROOT}/configs/gan.py:huge', '--workdir={tmp}/run'],
    ['gan.py:huge', "config size 'huge'", 'expected one of smoke'],
  ),
  'missing_config_file': (
    'restoration.main',
    'main',
    ['--config={tmp}/nosuch.py:smoke', '--workdir={tmp}/run'],
    ['nosuch.py', 'No such file'],
  ),
  'prepare_unknown_config_field': (
    'restoration.data.prepare',
    'prepare',
    [REGRESSION, '--config.nosuch=1'],
    ["no field 'nosuch'"],
  ),
  'benchmark_unknown_config_field': (
    'restoration.benchmark',
    'benchmark',
    [REGRESSION, '--config.nosuch=1'],
    ["no field 'nosuch'"],
  ),
  'batch_not_divisible_by_devices': (
    'restoration.main',
    'main',
    [REGRESSION, '--workdir={tmp}/run', '--config.train.global_batch=3'],
    ['train.global_batch=3', 'divisible by the number of devices (2)'],
  ),
  'empty_audio_dir': (
    'restoration.main',
    'main',
    [
      REGRESSION,
      '--workdir={tmp}/run',
      '--config.data.source=directory',
      '--config.data.audio_dir={empty}',
      '--config.data.data_dir={tmp}/tfds',
    ],
    ['{empty}', 'no audio files'],
  ),
  'undecodable_audio_dir': (
    'restoration.main',
    'main',
    [
      REGRESSION,
      '--workdir={tmp}/run',
      '--config.data.source=directory',
      '--config.data.audio_dir={junk}',
      '--config.data.data_dir={tmp}/tfds',
    ],
    ['{junk}', 'no usable audio file'],
  ),
  'other_model_shape': (
    'restoration.main',
    'main',
    [
      REGRESSION,
      '--workdir={trained}',
      '--config.data.data_dir={data}',
      '--config.model.preset=demo',
    ],
    ['checkpoint at', 'but the config builds', 'use a new --workdir'],
  ),
  'unreadable_step_without_fallback': (
    'restoration.main',
    'main',
    [
      REGRESSION,
      '--workdir={damaged}',
      '--config.data.data_dir={data}',
      '--config.train.checkpoint_fallback=False',
    ],
    ['checkpoint step 4 ', 'unreadable', 'checkpoint_fallback=False'],
  ),
  'restore_with_every_config_corrupt': (
    'restoration.restore',
    'restore',
    ['--workdir={no_config}', '{wav}', '{tmp}/out.wav'],
    ['no readable checkpoint', 'steps 4, 2'],
  ),
  'folder_restore_workers': (
    'restoration.restore',
    'restore',
    ['--workdir={tmp}/none', '{empty}', '{tmp}/out', '--workers=0'],
    ['--workers=0: expected at least 1'],
  ),
  'restore_non_finite_input': (
    'restoration.restore',
    'restore',
    ['--workdir={tmp}/none', '{nan_wav}', '{tmp}/out.wav'],  # refused before loading a model
    ['{nan_wav}: non-finite sample (NaN) at frame 12345, channel 1'],
  ),
  'restore_without_a_model': (
    'restoration.restore',
    'restore',
    ['{wav}', '{tmp}/out.wav'],
    ['expected exactly one of --workdir=DIR', '--model=FILE'],
  ),
  'restore_without_an_output': (
    'restoration.restore',
    'restore',
    ['--workdir={tmp}/none', '{wav}'],
    ['expected IN OUT; got {wav}'],
  ),
  'export_without_out': (
    'restoration.export',
    'export',
    ['--workdir={tmp}/none'],
    ['--out must have a value'],
  ),
  'evaluate_step_counts': (
    'restoration.evaluate',
    'evaluate',
    ['--workdir={tmp}/none', '--steps=4,0'],
    ['--steps=4,0: expected positive integers'],
  ),
  'degrade_unknown_codec': (
    'restoration.degrade',
    'degrade',
    ['{wav}', '{tmp}/out.wav', '--codec=flac', '--bitrate=32'],
    ['--codec=flac', 'one of <mp3|opus|vorbis|aac>'],
  ),
  'non_finite_loss': (
    'restoration.main',
    'main',
    [
      REGRESSION,
      '--workdir={tmp}/run',
      '--config.data.data_dir={data}',
      '--config.train.learning_rate=1e30',
      '--config.train.max_nonfinite_steps=1',
      '--config.train.checkpoint_every=1',  # async saves in flight when it stops
      '--config.train.eval_every=100',
    ],
    ['non-finite', 'max_nonfinite_steps=1'],
  ),
}
NEEDS_RUN = {'trained', 'damaged', 'no_config'}


def _paths(args, words, tmp_path, request) -> dict[str, str]:
  """Makes only the inputs a case names (the trained run costs a smoke training once)."""
  text = ' '.join(args + words)
  paths = {'tmp': str(tmp_path)}
  if '{data}' in text:
    paths['data'] = request.getfixturevalue('smoke_data_dir')
  if '{empty}' in text:
    (tmp_path / 'empty').mkdir()
    paths['empty'] = str(tmp_path / 'empty')
  if '{junk}' in text:
    junk = tmp_path / 'junk'
    junk.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):  # audio names, undecodable bytes: every split's files are skipped
      (junk / f'take{i}.wav').write_bytes(rng.integers(0, 256, 3000, np.uint8).tobytes())
    paths['junk'] = str(junk)
  for name in sorted(n for n in NEEDS_RUN if '{' + n + '}' in text):
    run = tmp_path / name
    shutil.copytree(request.getfixturevalue('smoke_run')('regression'), run)
    steps = sorted(int(p.name) for p in (run / 'checkpoints').iterdir() if p.name.isdigit())
    assert steps == [2, 4]
    if name == 'damaged':
      truncate_step(run / 'checkpoints' / '4')
    if name == 'no_config':
      for step in steps:
        truncate_step(run / 'checkpoints' / str(step) / 'config')
    paths[name] = str(run)
  if '{nan_wav}' in text:
    wave = np.zeros((44100, 2), np.float32)
    wave[12345, 1] = np.nan
    sf.write(tmp_path / 'nan.wav', wave, 44100, subtype='FLOAT')
    paths['nan_wav'] = str(tmp_path / 'nan.wav')
  if '{wav}' in text:
    sf.write(tmp_path / 'in.wav', np.zeros(16000, np.float32), 16000)
    paths['wav'] = str(tmp_path / 'in.wav')
  return paths


@pytest.mark.parametrize('case', list(CASES))
def test_cli_error_is_one_stderr_line_and_exit_code_2(case, tmp_path, request):
  module, prog, args, words = CASES[case]
  paths = _paths(args, words, tmp_path, request)
  env = dict(
    os.environ,
    XLA_FLAGS='--xla_force_host_platform_device_count=2',
    JAX_PLATFORMS='cpu',
    TF_CPP_MIN_LOG_LEVEL='2',
  )
  p = subprocess.run(
    [sys.executable, '-m', module, *(a.format(**paths) for a in args)],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
  )
  tail = p.stderr[-4000:]
  lines = p.stderr.strip().splitlines()
  print(lines[-1] if lines else '(no stderr)')
  assert p.returncode == 2, tail
  assert 'Traceback' not in p.stderr, tail
  assert [line for line in lines if ': error: ' in line] == lines[-1:], tail
  assert lines[-1].startswith(f'{prog}: error: '), tail
  for word in words:
    assert word.format(**paths) in lines[-1], tail
  if case == 'non_finite_loss':
    assert [line for line in lines if 'non-finite' in line] == lines[-1:], tail


def test_in_process_flags_start_from_their_defaults_on_every_call():
  """restore, export, degrade and evaluate parse into their own FlagValues, once per main()."""
  values = flags.FlagValues()
  flags.DEFINE_enum('format', None, ['wav', 'flac'], '', flag_values=values)
  flags.DEFINE_bool('optional_metrics', True, '', flag_values=values)
  args = cli.parse('x', values, ['a', '--format=flac', 'b', '--no-optional_metrics'], '', 'AB')
  assert args == ['a', 'b'] and values.format == 'flac' and not values.optional_metrics
  assert cli.parse('x', values, ['c', 'd'], '', 'AB') == ['c', 'd']
  assert values.format is None and values.optional_metrics and not values['format'].present


def test_help_lists_the_flags_and_exits_0(capsys):
  with pytest.raises(SystemExit) as done:
    restore.main(['--help'])
  assert done.value.code == 0
  out = capsys.readouterr().out
  assert out.startswith(restore.__doc__.strip().splitlines()[0])
  for name in ('--workdir', '--model', '--format', '--identity_above', '--workers'):
    assert f'\n  {name}: ' in out, name
