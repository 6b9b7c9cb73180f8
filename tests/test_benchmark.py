"""The benchmark's restore and folder sections on smoke runs: one real-time factor per method and
diffusion step count, the restore CLI's peak memory on a short and a longer file, and folder
restore in one process against separate CLI calls; the train section's FLOPs, MFU (none on a
CPU), printed line and profiler trace; the peak table's lookup."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from restoration.benchmark import device_peak_tflops

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(*args, json_out: Path) -> subprocess.CompletedProcess:
  """``python -m restoration.benchmark ARGS --json=json_out``, which must succeed."""
  p = subprocess.run(
    [sys.executable, '-m', 'restoration.benchmark', *args, f'--json={json_out}'],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert p.returncode == 0, p.stderr[-2000:]
  return p


def test_restore_section_reports_rtf_per_step_count_and_peak_memory(smoke_run, tmp_path):
  runs = [smoke_run('regression'), smoke_run('diffusion')]
  out = tmp_path / 'bench.json'
  p = _benchmark(
    '--sections=restore', f'--workdirs={",".join(runs)}', '--long_minutes=2', json_out=out
  )
  result = json.loads(out.read_text())
  rtf = result['restore_real_time_factor']
  from restoration.inference import saved_config

  steps = saved_config(runs[1]).sampling.eval_steps
  assert sorted(rtf) == sorted(
    ['regression:smoke_run_regression']
    + [f'diffusion:smoke_run_diffusion steps={s}' for s in steps]
  )
  for key, value in rtf.items():  # printed for the record; how they compare is not asserted
    assert f'restore {key}: real-time factor {value:.4f}' in p.stdout
  peak = result['restore_peak_rss_mb']
  assert set(peak) == {'1min', '2min'} and all(v > 100 for v in peak.values())
  assert peak['2min'] < peak['1min'] + 30  # chunked streaming: memory does not grow with length


def test_folder_section_compares_in_process_with_separate_calls(smoke_run, tmp_path):
  out = tmp_path / 'bench.json'
  p = _benchmark('--sections=folder', f'--workdirs={smoke_run("regression")}', json_out=out)
  print(p.stdout.splitlines()[0])  # the measured numbers, for the record
  assert '5 calls timed, scaled to 50' in p.stdout
  result = json.loads(out.read_text())
  assert (result['folder_files'], result['folder_cli_calls_timed']) == (50, 5)
  r = result['folder']['regression:smoke_run_regression']
  assert r['in_process_audio_seconds_per_s'] == pytest.approx(3 * r['in_process_files_per_s'])
  assert r['separate_calls_total_seconds'] == pytest.approx(50 / r['separate_calls_files_per_s'])
  line = p.stdout.splitlines()[0]
  assert f'{r["in_process_files_per_s"]:.1f} files/s' in line
  assert f'separate CLI calls: {r["separate_calls_files_per_s"]:.2f} files/s' in line
  assert f'44.1 kHz stereo: {r["music_audio_seconds_per_s"]:.0f} audio s/s' in line


def test_benchmark_without_config_or_workdirs_is_a_usage_error():
  p = subprocess.run(
    [sys.executable, '-m', 'restoration.benchmark'],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert p.returncode != 0
  assert 'nothing to measure' in p.stderr


def test_train_section_reports_flops_mfu_and_writes_a_profile(smoke_data_dir, tmp_path):
  out, trace = tmp_path / 'bench.json', tmp_path / 'trace'
  p = _benchmark(
    '--config=configs/regression.py:smoke',
    f'--config.data.data_dir={smoke_data_dir}',
    '--config.train.compute_dtype=bfloat16',
    '--sections=input,train',
    '--steps=2',
    f'--profile={trace}',
    json_out=out,
  )
  r = json.loads(out.read_text())
  print(next(line for line in p.stdout.splitlines() if line.startswith('train (')))
  assert r['compute_dtype'] == 'bfloat16' and r['device_kind'] == 'cpu'
  assert r['train_flops_per_step'] > 0 and r['train_tflops_per_s'] > 0
  assert r['device_peak_tflops'] is None and r['train_mfu'] is None  # no peak for a CPU
  assert r['train_audio_seconds_per_s'] == pytest.approx(0.5 * r['train_examples_per_s'])
  assert 'MFU –' in p.stdout and 'input/train ratio' in p.stdout
  assert r['train_temp_mb'] > 0 and r['train_argument_mb'] > 0  # XLA's buffer assignment
  assert r['input_spectra_on'] == 'host' and r['host_cpus'] == os.cpu_count()
  assert r['input_host_examples_per_s'] > 0 and r['input_examples_per_s'] > 0
  assert r['input_loader'] == 'tfdata' and set(r['input_by_loader']) == {'tfdata', 'grain'}
  assert r['input_by_loader']['grain']['examples_per_s'] > 0
  assert 'input (grain, spectra on the host):' in p.stdout
  made = f'made at {r["input_synthesis_x_real_time"]:.0f}x real time'
  assert f'input (synthetic corpus): {made} (CPU time)' in p.stdout
  assert list(trace.rglob('*.xplane.pb'))  # the jax.profiler trace of the extra steps


def test_peak_table_matches_device_kinds():
  assert device_peak_tflops('NVIDIA H200', 'bfloat16') == 989.4
  assert device_peak_tflops('NVIDIA H100 80GB HBM3', 'float32') == 494.7  # TF32 at default
  assert device_peak_tflops('NVIDIA H100 PCIe', 'bfloat16') == 756.0
  assert device_peak_tflops('NVIDIA A100-SXM4-80GB', 'bfloat16') == 312.0
  assert device_peak_tflops('TPU v5 lite', 'bfloat16') == 197.0
  assert device_peak_tflops('TPU v5', 'bfloat16') == 459.0
  assert device_peak_tflops('TPU v4', 'bfloat16') == 275.0
  assert device_peak_tflops('cpu', 'bfloat16') is None
  assert device_peak_tflops('Some Future Accelerator', 'float32') is None
