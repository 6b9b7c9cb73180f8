"""restore CLI and Restorer on a smoke-trained model: shapes, rates, alignment, cross-fades,
one-line errors, and memory that does not grow with the length of the file."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from restoration import benchmark, inference, restore, streaming
from restoration.data import audio

ROOT = Path(__file__).resolve().parents[1]
CLI_ENV = dict(
  os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS='--xla_force_host_platform_device_count=1'
)


@pytest.fixture(scope='module')
def workdir(smoke_run):
  # 4 smoke steps with EMA 0.999 leave the residual U-Net (zero-initialised output layer)
  # within ~1e-2 of the identity, so outputs can be compared sample by sample with inputs.
  return smoke_run('regression')


def chirp(seconds, sr, channels):
  """100 Hz -> 6 kHz sweep with a slow envelope: correlates with itself only at lag 0."""
  t = np.arange(int(seconds * sr)) / sr
  x = 0.3 * np.sin(2 * np.pi * (100 * t + 5900 * t**2 / (2 * t[-1])))
  x *= 0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t)
  return (x if channels == 1 else np.stack([x, -0.5 * x], axis=1)).astype(np.float32)


def lag(ref, est, max_lag=50):
  """The shift (samples) that best aligns est with ref."""
  core = ref[max_lag:-max_lag]
  scores = [
    np.dot(core, est[max_lag + k : len(est) - max_lag + k]) for k in range(-max_lag, max_lag + 1)
  ]
  return int(np.argmax(scores)) - max_lag


@pytest.mark.parametrize('channels', [1, 2])
def test_cli_round_trip_keeps_rate_channels_length_and_alignment(
  workdir, tmp_path, capsys, channels
):
  sr = 44100
  src = tmp_path / 'in.flac'
  sf.write(src, chirp(5.3, sr, channels), sr, subtype='PCM_24')
  before = src.read_bytes()
  out = tmp_path / 'out.wav'
  # 1 s chunks with 0.25 s cross-fades: several seams inside the clip.
  assert (
    restore.main(
      [f'--workdir={workdir}', str(src), str(out), '--chunk_seconds=1', '--overlap_seconds=0.25']
    )
    == 0
  )
  assert 'real-time factor' in capsys.readouterr().out
  x, _ = sf.read(src, always_2d=True)
  y, out_sr = sf.read(out, always_2d=True)
  assert out_sr == sr and y.shape == x.shape
  assert src.read_bytes() == before
  assert sorted(p.name for p in tmp_path.iterdir()) == ['in.flac', 'out.wav']  # no leftovers
  for c in range(channels):
    assert abs(lag(x[:, c], y[:, c])) <= 1
  # Near-identity model: a misaligned chunk or fades that do not sum to one would show.
  assert np.max(np.abs(y - x)) < 0.03


def test_restorer_array_and_file_agree(workdir, tmp_path):
  r = inference.Restorer(workdir, chunk_seconds=1.0, overlap_seconds=0.25)
  assert r.sample_rate == 16000
  wave = chirp(2.6, 22050, 2)
  src, out = tmp_path / 'in.wav', tmp_path / 'out.wav'
  sf.write(src, wave, 22050, subtype='FLOAT')
  stats = r.restore_file(src, out, progress=False)
  from_file, rate = sf.read(out, dtype='float32')
  from_array = r.restore_array(wave, 22050)
  assert rate == 22050 and from_array.shape == wave.shape
  np.testing.assert_allclose(from_array, from_file, atol=1e-6)
  np.testing.assert_allclose(r.restore_array(wave[:, 0], 22050), from_array[:, 0], atol=1e-6)
  assert stats['audio_seconds'] == pytest.approx(2.6, abs=1e-4)
  assert stats['real_time_factor'] == pytest.approx(stats['wall_seconds'] / stats['audio_seconds'])


class Gain(streaming.ChunkedRestorer):
  """A 16 kHz "model" that scales its input by ``gain`` (1: the identity), no JAX: shows which
  band of the output is the model's and which the input's."""

  sample_rate, chunk_length, overlap = 16000, 16000, 4000
  tail_lengths = streaming.tail_lengths(16000)

  def __init__(self, gain: float = 1.0):
    self.gain = gain

  def restore_waves(self, waves, index=0):
    return self.gain * np.asarray(waves, np.float32)


def noise(seconds, sr, channels, seed=0):
  """White noise: energy at every frequency, the band above the model's included."""
  rng = np.random.default_rng(seed)
  return (0.1 * rng.standard_normal((int(seconds * sr), channels))).astype(np.float32)


def band(x, sr, low, high):
  """``x [samples, channels]`` with only ``low <= f < high`` Hz kept (FFT mask)."""
  f = np.fft.rfftfreq(x.shape[0], 1 / sr)
  spectrum = np.fft.rfft(x, axis=0) * ((f >= low) & (f < high))[:, None]
  return np.fft.irfft(spectrum, x.shape[0], axis=0)


def band_gains(x, y, sr, low, high, width=100):
  """Per ``width`` Hz band from ``low`` to ``high``: the complex gain of ``y`` over ``x``
  (cross-spectrum over power, summed over the band and the channels)."""
  f = np.fft.rfftfreq(x.shape[0], 1 / sr)
  X, Y = np.fft.rfft(x, axis=0), np.fft.rfft(y, axis=0)
  gains = []
  for lo in np.arange(low, high, width):
    m = (f >= lo) & (f < lo + width)
    gains.append(np.sum(Y[m] * np.conj(X[m])) / np.sum(np.abs(X[m]) ** 2))
  return np.array(gains)


def assert_band_above_passes_through(x, y, sr, low=8500):
  """Above ``low`` Hz the output is the input: its energy and its waveform."""
  hx, hy = band(x, sr, low, sr / 2), band(y, sr, low, sr / 2)
  assert abs(np.sum(hy**2) / np.sum(hx**2) - 1) < 1e-2
  assert np.sqrt(np.mean((hy - hx) ** 2) / np.mean(hx**2)) < 1e-2


def test_the_band_above_the_model_passes_through_every_channel():
  sr = 44100
  x = noise(3.3, sr, 3)
  y = Gain().restore_array(x, sr)
  assert y.shape == x.shape and y.dtype == np.float32
  for c in range(3):  # every channel restored in place, none dropped or swapped
    assert_band_above_passes_through(x[:, c : c + 1], y[:, c : c + 1], sr)
  # An identity model gives the input back: no comb, dip or step at the crossover.
  inner = slice(2000, -2000)  # the resamplers' edges
  assert np.max(np.abs(y[inner] - x[inner])) < 1e-3
  levels = 20 * np.log10(np.abs(band_gains(x, y, sr, 5000, 9000)))
  assert np.max(np.abs(levels)) < 0.5, levels
  # A model at -6 dB: its output below the crossover, the input's above, in phase between
  # (a real gain from one to the other: a misaligned sum would comb).
  y = Gain(0.5).restore_array(x, sr)
  gains = band_gains(x, y, sr, 3000, 12000)
  low, high = streaming.crossover_band(16000)
  freqs = np.arange(3000, 12000, 100)
  np.testing.assert_allclose(gains[freqs + 100 <= low], 0.5, atol=2e-3)
  np.testing.assert_allclose(gains[freqs >= high], 1.0, atol=2e-3)
  assert np.all(np.abs(gains.imag) < 2e-3) and np.all(np.diff(gains.real) > -2e-3)
  assert_band_above_passes_through(x, y, sr)
  # At or below the model's rate nothing changes: the output is the model's alone.
  assert Gain()._stream(16000, 1).crossover is None and Gain()._stream(8000, 1).crossover is None
  np.testing.assert_allclose(Gain(0.5).restore_array(x, 16000), 0.5 * x, atol=1e-6)


def test_the_band_note_is_said_once_and_file_agrees_with_array(tmp_path, caplog):
  sr = 44100
  x = noise(5.3, sr, 2, seed=1)
  (tmp_path / 'in').mkdir()
  src = tmp_path / 'in' / 'in.wav'
  sf.write(src, x, sr, subtype='FLOAT')
  r = Gain(0.5)
  with caplog.at_level('WARNING', logger='restoration'):
    Gain().restore_array(x[:, 0], 16000)  # at the model's rate: nothing to say
    assert not [rec for rec in caplog.records if rec.name == 'restoration']
    r.restore_file(src, tmp_path / 'a.wav', progress=False)
    r.restore_file(src, tmp_path / 'b.flac', progress=False)
    r.restore_tree(tmp_path / 'in', tmp_path / 'tree', progress=False)
    from_array = r.restore_array(x, sr)
  notes = [rec.getMessage() for rec in caplog.records if rec.name == 'restoration']
  assert notes == [
    'the model is band-limited to 8000 Hz (it runs at 16000 Hz): the output is the '
    "model's below 6800 Hz and above 7200 Hz the input's own, passed through unchanged"
  ]
  from_file, rate = sf.read(tmp_path / 'a.wav', dtype='float32')
  assert rate == sr and from_file.shape == x.shape
  np.testing.assert_allclose(from_file, from_array, atol=1e-6)  # blocks stream the crossover


def test_non_finite_input_or_output_is_refused_and_nothing_written(tmp_path):
  x = noise(1.3, 22050, 2)
  x[777, 1] = np.nan
  with pytest.raises(audio.NonFiniteAudioError) as e:
    Gain().restore_array(x, 22050)
  assert str(e.value) == (
    'wave: non-finite sample (NaN) at frame 777, channel 1 (counting from 0); '
    'expected finite samples'
  )
  src, out = tmp_path / 'in.wav', tmp_path / 'out.wav'
  sf.write(src, np.nan_to_num(x), 22050, subtype='FLOAT')
  with pytest.raises(audio.NonFiniteAudioError) as e:  # a model that went wrong
    Gain(np.nan).restore_file(src, out, progress=False)
  assert str(e.value).startswith(f'{out}: refusing to write a non-finite sample (NaN) at frame')
  assert sorted(p.name for p in tmp_path.iterdir()) == ['in.wav']  # no output, no .part


def test_smoke_model_keeps_the_input_above_its_band(workdir, tmp_path, caplog):
  sr = 44100
  x = 0.5 * noise(2.7, sr, 2, seed=2) + chirp(2.7, sr, 2)
  src, out = tmp_path / 'in.wav', tmp_path / 'out.wav'
  sf.write(src, x, sr, subtype='FLOAT')
  r = inference.Restorer(workdir, chunk_seconds=1.0, overlap_seconds=0.25)
  with caplog.at_level('WARNING', logger='restoration'):
    r.restore_file(src, out, progress=False)
  notes = [rec.getMessage() for rec in caplog.records if rec.name == 'restoration']
  assert len(notes) == 1 and 'band-limited to 8000 Hz' in notes[0], notes
  y, _ = sf.read(out, dtype='float32')
  assert_band_above_passes_through(x, y, sr)
  # Near the identity (see the workdir fixture): no level step around the crossover.
  levels = 20 * np.log10(np.abs(band_gains(x, y, sr, 5000, 9000)))
  assert np.max(np.abs(levels)) < 0.5, levels


def _restore_cli(*args, python=('-m', 'restoration.restore')):
  return subprocess.Popen(
    [sys.executable, *python, *map(str, args)],
    cwd=ROOT,
    env=CLI_ENV,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


def test_a_chunk_whose_band_the_codec_kept_is_left_as_it_is(workdir):
  sr = 16000
  full = noise(4.0, sr, 1)[:, 0]
  cut = band(noise(4.0, sr, 1, seed=1), sr, 0, 4000)[:, 0].astype(np.float32)  # MP3 16 kbps-like
  gated = inference.Restorer(workdir)
  always = inference.Restorer(workdir, identity_above=None)
  assert gated.identity_above == inference.IDENTITY_ABOVE
  waves = np.stack([full, cut])
  kept, restored = gated.restore_waves(waves), always.restore_waves(waves)
  np.testing.assert_array_equal(kept[0], full)  # its content reaches the top bin: unchanged
  assert not np.array_equal(restored[0], full)  # the model alone changes it
  np.testing.assert_allclose(kept[1], restored[1], atol=1e-6)  # cut at half the band: restored
  stereo = np.stack([full, 0.5 * full], axis=1)  # whole files too, each channel
  np.testing.assert_allclose(gated.restore(stereo, sr), stereo, atol=1e-6)  # the cross-fades
  with pytest.raises(streaming.RestoreError, match=r'identity_above=1\.5: expected'):
    inference.Restorer(workdir, identity_above=1.5)


def test_bad_input_is_one_line_error(workdir, tmp_path):
  good = tmp_path / 'good.wav'
  sf.write(good, chirp(0.5, 16000, 1), 16000)
  before = good.read_bytes()
  (tmp_path / 'empty.wav').write_bytes(b'')
  (tmp_path / 'noise.mp3').write_bytes(np.random.default_rng(0).bytes(3000))
  nan = chirp(2.5, 44100, 2)
  nan[54321, 1] = np.nan
  sf.write(tmp_path / 'nan.wav', nan, 44100, subtype='FLOAT')
  out = tmp_path / 'out.wav'
  cases = {  # name: (workdir, IN, OUT, what the message must name)
    'missing': (workdir, tmp_path / 'missing.wav', out, tmp_path / 'missing.wav'),
    'non-finite': (
      workdir,
      tmp_path / 'nan.wav',
      out,
      'nan.wav: non-finite sample (NaN) at frame 54321, channel 1',
    ),
    'empty': (workdir, tmp_path / 'empty.wav', out, tmp_path / 'empty.wav'),
    'garbage': (workdir, tmp_path / 'noise.mp3', out, tmp_path / 'noise.mp3'),
    'same file': (workdir, good, os.path.join(tmp_path, '.', 'good.wav'), good),
    'no checkpoint': (tmp_path / 'untrained', good, out, tmp_path / 'untrained'),
  }
  running = {
    name: _restore_cli(f'--workdir={run}', src, dst)  # in parallel: start-up dominates
    for name, (run, src, dst, _) in cases.items()
  }
  for name, p in running.items():
    _, err = p.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert p.returncode != 0, name
    assert len(lines) == 1 and lines[0].startswith('restore: error: '), (name, err)
    assert str(cases[name][3]) in lines[0], (name, err)
  assert good.read_bytes() == before
  assert not out.exists()


def assert_memory_is_flat(workdir, tmp_path, long_minutes: int = 10, margin_mb: float = 30):
  """Restores a 1- and a ``long_minutes`` file with the CLI, in parallel processes: the peak
  RSS must not grow with the length (shared with methods that restore through another path,
  e.g. the waveform vocoder's tests)."""
  # The short file is about a minute long and ends like the long one, a whole number of chunk
  # hops shorter: its last chunk takes the same padded length, hence the same compiled programs.
  defaults = inspect.signature(inference.Restorer).parameters
  hop = defaults['chunk_seconds'].default - defaults['overlap_seconds'].default
  seconds = {long_minutes: 60.0 * long_minutes}
  seconds[1] = seconds[long_minutes] - hop * ((seconds[long_minutes] - 60) // hop)
  running = {}
  for minutes in (1, long_minutes):
    src = tmp_path / f'{minutes}min.wav'
    benchmark.write_test_signal(src, seconds[minutes])
    running[minutes] = _restore_cli(
      f'--workdir={workdir}', src, tmp_path / f'{minutes}.wav', python=benchmark.PEAK_RSS_WRAPPER
    )
  peak_mb = {}
  for minutes, p in running.items():
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    peak_mb[minutes] = benchmark.peak_rss_mb(err)
    assert (
      sf.info(tmp_path / f'{minutes}.wav').frames
      == sf.info(tmp_path / f'{minutes}min.wav').frames
      == round(seconds[minutes] * 16000)
    )
  print(f'peak RSS: 1 min {peak_mb[1]:.0f} MB, {long_minutes} min {peak_mb[long_minutes]:.0f} MB')
  # Holding the long input or output whole would take 3.8 MB per minute (float32) more than
  # the 1-minute run (37 MB at 10); separate processes differ by up to ~12 MB (measured, up to
  # ~31 MB on a loaded machine for the vocoder) for other reasons.
  assert peak_mb[long_minutes] < peak_mb[1] + margin_mb, peak_mb


def test_memory_does_not_grow_with_file_length(workdir, tmp_path):
  assert_memory_is_flat(workdir, tmp_path)


def _folder(root):
  """Nested folders of mixed formats, rates and layouts, one garbage file and one non-audio
  file; two inputs (c.mp3, c.wav) whose outputs would collide."""
  (root / 'sub' / 'deep').mkdir(parents=True)
  sf.write(root / 'a.wav', chirp(1.3, 16000, 1), 16000)
  sf.write(root / 'sub' / 'b.flac', chirp(2.2, 44100, 2), 44100, subtype='PCM_24')
  mp3 = root / 'sub' / 'deep' / 'c.mp3'
  sf.write(mp3, chirp(1.5, 22050, 1), 22050, format='MP3', subtype='MPEG_LAYER_III')
  sf.write(root / 'sub' / 'deep' / 'c.wav', chirp(0.7, 8000, 2), 8000)
  (root / 'sub' / 'bad.ogg').write_bytes(np.random.default_rng(0).bytes(4000))
  (root / 'notes.txt').write_text('not audio')
  return {
    'a.wav': 'a.flac',
    'sub/b.flac': 'sub/b.flac',
    'sub/deep/c.mp3': 'sub/deep/c.mp3.flac',
    'sub/deep/c.wav': 'sub/deep/c.wav.flac',
  }


def _files(root):
  return sorted(p.relative_to(root).as_posix() for p in root.rglob('*') if p.is_file())


def test_folder_restore_mirrors_inputs_lists_bad_files_and_resumes(workdir, tmp_path, capsys):
  src, out = tmp_path / 'in', tmp_path / 'out'
  expected = _folder(src)
  before = {p: (src / p).read_bytes() for p in _files(src)}
  args = [f'--workdir={workdir}', str(src), str(out), '--format=flac', '--chunk_seconds=1']
  assert restore.main(args) == 0
  captured = capsys.readouterr()
  failed = [line for line in captured.err.splitlines() if line.startswith('restore: failed: ')]
  assert len(failed) == 1 and str(src / 'sub' / 'bad.ogg') in failed[0], captured.err
  assert 'restored 4 files' in captured.out and '1 failed' in captured.out
  assert _files(out) == sorted(expected.values())  # mirrored, nothing else (no .part files)
  for name, restored in expected.items():
    with audio.open_audio(src / name) as x:  # the length the decoder gives, mp3 included
      info = sf.info(out / restored)
      assert (info.frames, info.samplerate, info.channels) == (x.frames, x.samplerate, x.channels)
      assert info.subtype == 'PCM_24'
  assert {p: (src / p).read_bytes() for p in _files(src)} == before

  # A re-run skips what is done; a stale partial file does not count as done.
  stamps = {p: (out / p).stat().st_mtime_ns for p in expected.values()}
  (out / 'a.flac').unlink()
  (out / '.a.flac.0123abcd.part').write_bytes(b'half')
  assert restore.main(args) == 0
  assert 'restored 1 files' in capsys.readouterr().out
  assert (out / 'a.flac').exists() and sf.info(out / 'a.flac').frames == 1.3 * 16000
  assert all((out / p).stat().st_mtime_ns == t for p, t in stamps.items() if p != 'a.flac')
  assert restore.main(args) == 0
  summary = capsys.readouterr().out
  assert 'restored 0 files' in summary and '4 already there, 1 failed' in summary


def test_folder_restore_of_only_bad_files_exits_1(workdir, tmp_path, capsys):
  src = tmp_path / 'in'
  src.mkdir()
  (src / 'x.mp3').write_bytes(np.random.default_rng(1).bytes(3000))
  assert restore.main([f'--workdir={workdir}', str(src), str(tmp_path / 'out')]) == 1
  assert 'restore: failed: ' in capsys.readouterr().err
  assert not list((tmp_path / 'out').rglob('*.*'))


@pytest.mark.parametrize('out', ['in', 'in/restored', 'in/sub/restored', '.'])
def test_folder_restore_never_writes_inside_the_input(tmp_path, capsys, out):
  src = tmp_path / 'in'
  _folder(src)
  before = _files(tmp_path)
  with pytest.raises(SystemExit) as e:  # before any model is loaded: the workdir is not one
    restore.main([f'--workdir={tmp_path / "none"}', str(src), str(tmp_path / out)])
  assert e.value.code == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('restore: error: '), lines
  assert 'must not be, or lie inside' in lines[0]
  assert _files(tmp_path) == before


def test_public_api_loads_lazily_and_restores(workdir):
  code = (
    'import sys, restoration\n'
    "heavy = [m for m in sys.modules if m.split('.')[0] in ('flax', 'orbax', 'optax')]\n"
    "assert not heavy and 'restoration.inference' not in sys.modules, heavy\n"
    'from restoration import Restorer\n'
    "assert 'flax' in sys.modules and Restorer.__module__ == 'restoration.inference'\n"
  )
  p = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=CLI_ENV, capture_output=True)
  assert p.returncode == 0, p.stderr.decode()[-2000:]
  import restoration

  r = restoration.load(workdir, chunk_seconds=1.0, overlap_seconds=0.25)
  assert isinstance(r, restoration.Restorer)
  wave = chirp(1.7, 22050, 2)
  np.testing.assert_array_equal(r.restore(wave, 22050), r.restore_array(wave, 22050))


def test_the_last_chunk_is_padded_to_the_shortest_tail_length():
  """A stream's last chunk costs about its own length, not a whole chunk, and the tail
  lengths change nothing else: the joined output is the model's, sample for sample."""
  from restoration.streaming import Chunker, tail_lengths

  assert tail_lengths(16000) == (4000, 8000, 12000, 16000)
  seen = []

  def fn(x, index):  # a model that shows what it was given
    seen.append(x.shape[0])
    return 2 * x

  x = np.random.default_rng(0).standard_normal((16000 + 12000 + 2000, 1)).astype(np.float32)
  chunker = Chunker(fn, 16000, 4000, 1, tail_lengths(16000))
  y = np.concatenate([chunker.push(x), chunker.finish()])
  # Hops of 12000: chunks at 0 and 12000, then 6000 samples left (4000 of overlap + 2000).
  assert seen == [16000, 16000, 8000]
  np.testing.assert_allclose(y, 2 * x, atol=1e-6)  # fades sum to one across every seam
  seen.clear()
  short = Chunker(fn, 16000, 4000, 1, tail_lengths(16000))
  assert short.push(x[:5000]).shape == (0, 1)  # not a whole chunk yet
  np.testing.assert_allclose(short.finish(), 2 * x[:5000])
  assert seen == [8000]


def test_folder_restore_in_threads_matches_one_at_a_time(workdir, tmp_path):
  r = inference.Restorer(workdir, chunk_seconds=1.0, overlap_seconds=0.25)
  src = tmp_path / 'in'
  src.mkdir()
  for i, seconds in enumerate([0.3, 1.0, 1.6, 2.9, 0.8, 2.2]):
    sf.write(src / f'{i}.wav', chirp(seconds, 16000, 1 + i % 2), 16000, subtype='FLOAT')
  (src / 'bad.wav').write_bytes(b'RIFF junk')
  nan = chirp(0.5, 16000, 1)
  nan[100] = np.inf
  sf.write(src / 'nan.wav', nan, 16000, subtype='FLOAT')
  one = r.restore_tree(src, tmp_path / 'one', progress=False, workers=1)
  three = r.restore_tree(src, tmp_path / 'three', progress=False, workers=3)
  assert [Path(p).name for p in three.restored] == [f'{i}.wav' for i in range(6)]  # plan order
  assert [Path(p).name for p, _ in three.failed] == ['bad.wav', 'nan.wav']
  assert 'non-finite sample (+inf) at frame 100, channel 0' in three.failed[1][1]
  assert not (tmp_path / 'three' / 'nan.wav').exists()
  assert three.audio_seconds == pytest.approx(one.audio_seconds)
  for name in (Path(p).name for p in one.restored):
    a, b = sf.read(tmp_path / 'one' / name)[0], sf.read(tmp_path / 'three' / name)[0]
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match='workers=0: expected at least 1'):
    r.restore_tree(src, tmp_path / 'none', workers=0)
  whole = inference.Restorer(workdir, chunk_seconds=1.0, overlap_seconds=0.25, tail_parts=1)
  assert r.tail_lengths == (4000, 8000, 12000, 16000) and whole.tail_lengths == (16000,)
  with pytest.raises(ValueError, match='tail_parts=0: expected at least 1'):
    inference.Restorer(workdir, tail_parts=0)
