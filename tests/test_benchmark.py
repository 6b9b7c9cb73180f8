"""The benchmark's restore section on smoke runs: one real-time factor per method and diffusion
step count, and the restore CLI's peak memory on a short and a longer file."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_restore_section_reports_rtf_per_step_count_and_peak_memory(smoke_run, tmp_path):
  runs = [smoke_run('regression'), smoke_run('diffusion')]
  out = tmp_path / 'bench.json'
  p = subprocess.run(
    [
      sys.executable,
      '-m',
      'restoration.benchmark',
      '--sections=restore',
      f'--workdirs={",".join(runs)}',
      '--long_minutes=2',
      f'--json={out}',
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert p.returncode == 0, p.stderr[-2000:]
  result = json.loads(out.read_text())
  rtf = result['restore_real_time_factor']
  from restoration.inference import saved_config

  steps = saved_config(runs[1]).sampling.eval_steps
  assert sorted(rtf) == sorted(
    ['regression:smoke_run_regression']
    + [f'diffusion:smoke_run_diffusion steps={s}' for s in steps]
  )
  assert all(v > 0 for v in rtf.values())
  # More sampler steps cost more network calls, hence more time.
  assert (
    rtf[f'diffusion:smoke_run_diffusion steps={max(steps)}']
    > rtf[f'diffusion:smoke_run_diffusion steps={min(steps)}']
  )
  peak = result['restore_peak_rss_mb']
  assert set(peak) == {'1min', '2min'} and all(v > 100 for v in peak.values())
  assert peak['2min'] < peak['1min'] + 30  # chunked streaming: memory does not grow with length


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
