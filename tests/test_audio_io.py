"""Audio file I/O (load, resample, layouts, errors, atomic save) and the degrade CLI."""

import os
import pathlib
import subprocess
import sys

import lameenc
import numpy as np
import pytest
import soundfile as sf

from restoration.data import audio

REPO = pathlib.Path(__file__).resolve().parents[1]


def tone(freq: float, sample_rate: int, seconds: float = 1.0) -> np.ndarray:
  return (
    0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sample_rate)) / sample_rate)
  ).astype(np.float32)


def chirp(sample_rate: int, seconds: float = 2.0, f0: float = 100.0, f1: float = 4000.0):
  """A linear sweep: broadband and never periodic, so a misalignment cannot hide."""
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  return (0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds)))).astype(np.float32)


def test_load_keeps_rate_and_layout(tmp_path):
  stereo = np.stack([tone(440, 22050), tone(660, 22050)], axis=-1)
  sf.write(tmp_path / 's.wav', stereo, 22050, subtype='FLOAT')
  sf.write(tmp_path / 'm.wav', stereo[:, 0], 22050, subtype='FLOAT')
  wave, sr = audio.load(tmp_path / 's.wav')
  assert sr == 22050 and wave.dtype == np.float32
  np.testing.assert_array_equal(wave, stereo)
  wave, _ = audio.load(tmp_path / 'm.wav')
  assert wave.shape == (22050,)


def test_load_resamples_without_shifting_or_scaling(tmp_path):
  sf.write(tmp_path / 'a.wav', tone(1000, 48000), 48000, subtype='FLOAT')
  wave, sr = audio.load(tmp_path / 'a.wav', sample_rate=16000)
  assert sr == 16000 and wave.shape == (16000,)
  inner = slice(1000, 15000)  # away from the edges, where the filter sees zeros
  np.testing.assert_allclose(wave[inner], tone(1000, 16000)[inner], atol=2e-3)


def test_load_channels(tmp_path):
  left, right = tone(440, 8000), tone(550, 8000)
  sf.write(tmp_path / 's.wav', np.stack([left, right], -1), 8000, subtype='FLOAT')
  sf.write(tmp_path / 'm.wav', left, 8000, subtype='FLOAT')
  mono, _ = audio.load(tmp_path / 's.wav', channels=1)
  np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)
  stereo, _ = audio.load(tmp_path / 'm.wav', channels=2)
  assert stereo.shape == (8000, 2)
  np.testing.assert_array_equal(stereo[:, 0], stereo[:, 1])
  with pytest.raises(ValueError, match='channels'):
    audio.load(tmp_path / 'm.wav', channels=3)


def test_load_compressed_formats(tmp_path):
  x = tone(440, 16000, seconds=2.0)
  sf.write(tmp_path / 'a.flac', x, 16000)
  sf.write(tmp_path / 'a.ogg', x, 16000, format='OGG', subtype='VORBIS')
  encoder = lameenc.Encoder()
  encoder.set_bit_rate(64)
  encoder.set_in_sample_rate(16000)
  encoder.set_channels(1)
  encoder.silence()
  pcm = (x * 32767).astype('<i2').tobytes()
  (tmp_path / 'a.mp3').write_bytes(bytes(encoder.encode(pcm)) + bytes(encoder.flush()))
  subprocess.run(
    [
      audio.find_ffmpeg(),
      '-loglevel',
      'error',
      '-f',
      'f32le',
      '-ar',
      '16000',
      '-ac',
      '1',
      '-i',
      'pipe:0',
      '-c:a',
      'aac',
      str(tmp_path / 'a.m4a'),
    ],
    input=x.tobytes(),
    check=True,
  )
  for name in ('a.flac', 'a.ogg', 'a.mp3', 'a.m4a'):  # the m4a goes through ffmpeg
    wave, sr = audio.load(tmp_path / name, sample_rate=16000)
    assert sr == 16000 and wave.ndim == 1, name
    assert len(x) <= len(wave) < len(x) + 2000, name  # MP3 adds its codec delay
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * 16000 / len(wave) - 440) < 2, name


@pytest.mark.parametrize(
  'kind,message',
  [
    ('missing', 'no such file'),
    ('empty', 'empty file'),
    ('no_samples', 'no audio samples'),
    ('garbage', 'cannot decode'),
    ('directory', 'not a regular file'),
  ],
)
def test_load_errors_name_the_file(tmp_path, kind, message):
  path = make_bad_input(tmp_path, kind)
  with pytest.raises(audio.AudioError, match=message) as e:
    audio.load(path)
  assert str(path) in str(e.value) and '\n' not in str(e.value)


def make_bad_input(tmp_path: pathlib.Path, kind: str) -> pathlib.Path:
  path = tmp_path / f'{kind}.wav'
  if kind == 'empty':
    path.write_bytes(b'')
  elif kind == 'no_samples':
    sf.write(path, np.zeros(0, np.float32), 16000)
  elif kind == 'garbage':
    path.write_bytes(b'this is not audio, just text pretending to be a wave file\n' * 200)
  elif kind == 'directory':
    path.mkdir()
  return path


def test_save_writes_float_wav_that_reads_back_exactly(tmp_path):
  wave = np.stack([tone(440, 16000), 1.5 * tone(330, 16000)], -1)  # above full scale too
  audio.save(tmp_path / 'out.wav', wave, 16000)
  back, sr = sf.read(tmp_path / 'out.wav', dtype='float32')
  assert sr == 16000 and sf.info(str(tmp_path / 'out.wav')).subtype == 'FLOAT'
  np.testing.assert_array_equal(back, wave)


def test_save_refuses_the_input_path(tmp_path):
  source = tmp_path / 'in.wav'
  audio.save(source, tone(440, 8000), 8000)
  before = source.read_bytes()
  (tmp_path / 'link.wav').symlink_to(source)
  for out in (source, tmp_path / '.' / 'in.wav', tmp_path / 'link.wav'):
    with pytest.raises(audio.AudioError, match='refusing to overwrite the input'):
      audio.save(out, tone(880, 8000), 8000, refuse=[source])
  assert source.read_bytes() == before


def test_save_replaces_atomically(tmp_path):
  path = tmp_path / 'out.wav'
  audio.save(path, tone(440, 8000), 8000)
  inode, before = path.stat().st_ino, path.read_bytes()
  with pytest.raises(audio.AudioError, match='NaN'):
    audio.save(path, np.full(100, np.nan, np.float32), 8000)
  assert path.read_bytes() == before  # a failed save leaves the old file alone
  audio.save(path, tone(880, 8000), 8000)
  assert path.stat().st_ino != inode  # written beside and renamed over, not truncated in place
  assert sorted(os.listdir(tmp_path)) == ['out.wav']  # no temporary files left behind
  with pytest.raises(audio.AudioError, match='does not exist'):
    audio.save(tmp_path / 'missing' / 'out.wav', tone(440, 8000), 8000)


@pytest.mark.parametrize('bad,shown', [(np.nan, 'NaN'), (-np.inf, '-inf')])
def test_non_finite_samples_are_refused_by_file_and_position(tmp_path, bad, shown):
  wave = np.stack([tone(440, 8000), tone(550, 8000)], -1)
  wave[4321, 1] = bad
  path = tmp_path / 'bad.wav'
  sf.write(path, wave, 8000, subtype='FLOAT')
  expected = (
    f'{path}: non-finite sample ({shown}) at frame 4321, channel 1 (counting from 0); '
    'expected finite samples'
  )
  with pytest.raises(audio.NonFiniteAudioError) as loaded:
    audio.load(path)
  with pytest.raises(audio.NonFiniteAudioError) as opened:  # the restore path's reader
    with audio.open_audio(path):
      pass
  assert str(loaded.value) == str(opened.value) == expected
  assert isinstance(loaded.value, audio.AudioError)
  sf.write(path, np.clip(np.nan_to_num(wave), -1, 1), 8000, subtype='PCM_16')
  with audio.open_audio(path) as f:  # integer samples are finite: no first pass
    assert f.tell() == 0 and f.frames == 8000


def test_writer_refuses_non_finite_blocks_and_leaves_no_file(tmp_path):
  path = tmp_path / 'out.flac'
  good = np.stack([tone(440, 8000), tone(550, 8000)], -1)
  bad = good.copy()
  bad[17, 0] = np.nan
  with pytest.raises(audio.NonFiniteAudioError) as e:
    with audio.writing(path, 8000, 2, format='FLAC', subtype='PCM_24') as write:
      write(good)  # the position is the file's: 8000 frames went before
      write(bad)
  assert str(e.value).startswith(f'{path}: refusing to write a non-finite sample (NaN)')
  assert 'at frame 8017, channel 0' in str(e.value) and 'nothing was written' in str(e.value)
  assert os.listdir(tmp_path) == []  # no output, no temporary file
  audio.save(path, good, 8000)
  before = path.read_bytes()
  with pytest.raises(audio.NonFiniteAudioError, match='at frame 17, channel 0'):
    audio.save(path, bad, 8000)
  assert path.read_bytes() == before and os.listdir(tmp_path) == ['out.flac']
  with audio.writing(path, 8000, 2, format='FLAC', subtype='PCM_24') as write:
    write(2 * good)  # over full scale: clipped, not wrapped around
  back, _ = sf.read(path)
  assert np.abs(back).max() <= 1 and np.allclose(back[good > 0.5], 1, atol=1e-6)


def test_find_ffmpeg(monkeypatch):
  assert os.access(audio.find_ffmpeg(), os.X_OK)  # imageio-ffmpeg is in the dev extra
  monkeypatch.setenv('PATH', '')
  monkeypatch.setitem(sys.modules, 'imageio_ffmpeg', None)
  assert audio.find_ffmpeg() is None


def degrade_cli(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run(
    [sys.executable, '-m', 'restoration.degrade', *map(str, args)],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=120,
  )


def test_cli_writes_input_rate_and_length(tmp_path):
  wave = np.stack([chirp(22050), chirp(22050, f0=3000, f1=200)], -1)
  sf.write(tmp_path / 'in.flac', wave, 22050)
  done = degrade_cli(tmp_path / 'in.flac', tmp_path / 'out.wav', '--codec=mp3', '--bitrate=32')
  assert done.returncode == 0, done.stderr
  achieved = float(done.stdout.split(' kbps achieved')[0].split()[-1])
  assert abs(achieved / 32 - 1) < 0.15
  out, sr = sf.read(tmp_path / 'out.wav')
  assert sr == 22050 and out.shape == wave.shape
  for channel in range(2):  # a sweep correlates only with itself aligned
    assert np.corrcoef(out[:, channel], wave[:, channel])[0, 1] > 0.9


def test_cli_refuses_output_equal_to_input(tmp_path):
  source = tmp_path / 'in.wav'
  sf.write(source, tone(440, 16000), 16000)
  before = source.read_bytes()
  for out in (source, tmp_path / '.' / 'in.wav'):
    done = degrade_cli(source, out, '--codec=opus', '--bitrate=12')
    assert done.returncode != 0 and 'refusing to overwrite' in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
  assert source.read_bytes() == before


@pytest.mark.parametrize('kind', ['missing', 'empty', 'garbage', 'bad_bitrate'])
def test_cli_bad_input_is_one_line_error(tmp_path, kind):
  if kind == 'bad_bitrate':
    source = tmp_path / 'in.wav'
    sf.write(source, tone(440, 44100), 44100)
  else:
    source = make_bad_input(tmp_path, kind)
  done = degrade_cli(source, tmp_path / 'out.wav', '--codec=mp3', '--bitrate=16')
  assert done.returncode != 0
  assert len(done.stderr.strip().splitlines()) == 1 and 'Traceback' not in done.stderr
  assert done.stderr.startswith('degrade: error:')
  assert not (tmp_path / 'out.wav').exists()
