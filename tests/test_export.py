"""Exported models (restoration.export -> restoration.exported) on smoke runs: the loader needs
no training code and restores exactly what the in-process Restorer does."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from restoration import export, exported, inference, restore

ROOT = Path(__file__).resolve().parents[1]
CLI_ENV = dict(
  os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS='--xla_force_host_platform_device_count=1'
)
CHUNKS = ['--chunk_seconds=1', '--overlap_seconds=0.25']  # several seams in a short wave
STEPS = {'regression': None, 'diffusion': 2}
FORBIDDEN = (
  'restoration.train',
  'restoration.methods',
  'restoration.inference',
  'restoration.checkpoint',
  'orbax',
  'flax',
)


def wave():
  """Stereo noise at another rate than the model's (resampling, two channels, seams), cut at
  4 kHz as a low-bitrate codec would, so that the model restores it rather than leave it."""
  noise = 0.1 * np.random.default_rng(0).standard_normal((int(2.6 * 22050), 2))
  spectrum = np.fft.rfft(noise, axis=0) * (np.fft.rfftfreq(len(noise), 1 / 22050) < 4000)[:, None]
  return np.fft.irfft(spectrum, len(noise), axis=0).astype(np.float32)


@pytest.fixture(scope='module')
def models(smoke_run, tmp_path_factory):
  out = tmp_path_factory.mktemp('exported')
  paths = {}
  for method, steps in STEPS.items():
    paths[method] = out / f'{method}.zip'
    args = [f'--workdir={smoke_run(method)}', f'--out={paths[method]}', *CHUNKS, '--seed=3']
    assert export.main(args + ([f'--steps={steps}'] if steps else [])) == 0
  return paths


def test_export_header_describes_the_model(models, smoke_run):
  with zipfile.ZipFile(models['diffusion']) as z:
    meta = json.loads(z.read('meta.json'))
    # The 1 s chunk and the quarter lengths a stream's last chunk is padded to.
    assert meta['tail_samples'] == [4000, 8000, 12000, 16000]
    assert sorted(z.namelist()) == sorted(
      ['meta.json'] + [f'model_{n}.stablehlo' for n in meta['tail_samples']]
    )
  config = inference.saved_config(smoke_run('diffusion'))
  assert meta['method'] == 'diffusion' and meta['steps'] == 2 and meta['seed'] == 3
  assert meta['sample_rate'] == config.data.sample_rate == 16000
  assert (meta['chunk_samples'], meta['overlap_samples']) == (16000, 4000)
  assert meta['spectral'] == dict(config.spectral)


def test_loader_imports_no_training_code_and_matches_the_restorer(models, smoke_run, tmp_path):
  code = (
    'import json, sys\n'
    'import numpy as np\n'
    'import restoration.exported as exported\n'
    'wave = np.load(sys.argv[1])\n'
    'for name in sys.argv[3:]:\n'
    "  np.save(f'{sys.argv[2]}/{name}.npy', exported.load(f'{sys.argv[2]}/{name}.zip').restore(wave, 22050))\n"
    'print(json.dumps(sorted(sys.modules)))\n'
  )
  np.save(tmp_path / 'wave.npy', wave())
  for name, path in models.items():
    (tmp_path / f'{name}.zip').symlink_to(path)
  p = subprocess.run(
    [sys.executable, '-c', code, tmp_path / 'wave.npy', tmp_path, *models],
    cwd=ROOT,
    env=CLI_ENV,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert p.returncode == 0, p.stderr[-2000:]
  modules = json.loads(p.stdout.strip().splitlines()[-1])
  assert 'restoration.streaming' in modules
  assert not [m for m in modules if m.startswith(FORBIDDEN)]
  for method, steps in STEPS.items():
    r = inference.Restorer(
      smoke_run(method), steps=steps, chunk_seconds=1, overlap_seconds=0.25, seed=3
    )
    expected = r.restore(wave(), 22050)
    got = np.load(tmp_path / f'{method}.npy')
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=method)
    assert np.abs(expected - wave()).max() > 1e-3  # the model did something to compare
  # Another seed gives other diffusion noise: the seed really reaches the exported sampler.
  other = exported.load(models['diffusion'], seed=4).restore(wave(), 22050)
  assert np.abs(other - np.load(tmp_path / 'diffusion.npy')).max() > 1e-4


def test_restore_cli_with_an_exported_model(models, tmp_path, capsys):
  src = tmp_path / 'in.wav'
  sf.write(src, wave(), 22050, subtype='FLOAT')
  assert (
    restore.main([f'--model={models["regression"]}', str(src), str(tmp_path / 'out.flac')]) == 0
  )
  info = sf.info(tmp_path / 'out.flac')
  assert (info.frames, info.samplerate, info.channels, info.subtype) == (
    len(wave()),
    22050,
    2,
    'PCM_24',
  )
  capsys.readouterr()
  out = str(tmp_path / 'x.wav')
  for bad in ([f'--model={models["regression"]}', '--steps=4'], [f'--model={src}']):
    with pytest.raises(SystemExit):  # fixed at export; not an exported model
      restore.main([*bad, str(src), out])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[-1].startswith('restore: error: '), lines
  assert not (tmp_path / 'x.wav').exists()
