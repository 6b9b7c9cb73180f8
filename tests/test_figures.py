"""The damage figure: the clip rule, the codec cut-off, and the figure written at smoke size."""

import json
import os

import numpy as np
import pytest
from matplotlib import image

from restoration import compare, metrics
from restoration.data import builder, codecs
from restoration.evaluate import evaluate, figures, report
from restoration.inference import load_workdir

SR = 16000


def lowpass(x: np.ndarray, cutoff_hz: float) -> np.ndarray:
  spec = np.fft.rfft(x)
  spec[np.fft.rfftfreq(len(x), 1 / SR) >= cutoff_hz] = 0
  return np.fft.irfft(spec, len(x))


def test_rule_picks_the_clip_with_the_largest_high_band_loss():
  rng = np.random.default_rng(0)
  clips = []
  for key, cutoff in (('a', 7000), ('b', 4500), ('c', 6000)):
    clean = rng.standard_normal(SR) * 0.1
    clips.append(figures.Clip(key, 'music', 'test', clean, lowpass(clean, cutoff)))
  speech = rng.standard_normal(SR) * 0.1
  clips.append(figures.Clip('s', 'speech', 'validation', speech, lowpass(speech, 7500)))
  picks = figures.most_damaged(clips, SR)
  assert set(picks) == {'music', 'speech'}
  clip, loss, count = picks['music']
  assert (clip.key, count) == ('b', 3)
  assert loss == pytest.approx(metrics.lsd(clip.clean, clip.degraded, SR, band='high'))
  assert loss > max(metrics.lsd(c.clean, c.degraded, SR, band='high') for c in clips[:3:2])
  assert picks['speech'][0].key == 's' and picks['speech'][2] == 1


def test_codec_cutoff():
  x = np.random.default_rng(1).standard_normal(2 * SR) * 0.1
  assert figures.codec_cutoff_hz(x, lowpass(x, 5000), SR) == pytest.approx(5000, abs=100)
  assert figures.codec_cutoff_hz(x, x, SR) == SR / 4  # nothing removed
  mp3 = codecs.degrade(x[:, None], SR, 'mp3', 16)[:, 0]
  assert 4000 < figures.codec_cutoff_hz(x, mp3, SR) < 7000
  # Tones every 250 Hz to 6.75 kHz, and faint ones (-70 dB) near Nyquist that the codec's
  # output holds as loud as the clean clip: the cut-off is where the content ends (the codec
  # removed the tones from 5 kHz on), not at those faint bins.
  t = np.arange(2 * SR) / SR

  def tones(freqs, level=0.05):
    return sum(level * np.sin(2 * np.pi * f * t) for f in freqs)

  faint = tones((7250, 7500, 7750), 0.05 * 10 ** (-70 / 20))
  clean, coded = tones(range(250, 7000, 250)) + faint, tones(range(250, 5000, 250)) + faint
  assert figures.codec_cutoff_hz(clean, coded, SR) == pytest.approx(4750, abs=50)
  # A clip whose content ends below the codec's cut lost nothing.
  assert figures.codec_cutoff_hz(lowpass(x, 3000), lowpass(x, 3000), SR) == SR / 4


@pytest.fixture(scope='module')
def demo_out(smoke_run, tmp_path_factory):
  """An ``out`` directory as compare.run lays it out, over the shared smoke workdirs."""
  out = tmp_path_factory.mktemp('demo')
  for m in ('regression', 'diffusion'):
    os.symlink(smoke_run(m), out / m)
  return out


def test_figure_rows_panels_examples_and_caption(demo_out, tmp_path):
  methods = ['regression', 'diffusion']
  path = compare.write_figure_and_examples(str(demo_out), methods)
  info = json.loads((demo_out / 'spectrograms.json').read_text())
  # Smoke degradations are mp3:24 and opus:12: the lowest-bitrate MP3 stands in for mp3:16.
  assert info['degradation'] == 'mp3:24' and 'mp3:16 is not' in info['degradation_rule']
  assert [c['kind'] for c in info['clips']] == ['speech', 'music']
  # The smoke test split is all music: speech comes from the (held-out) validation split.
  assert [c['split'] for c in info['clips']] == ['validation', 'test']
  columns = ['clean', 'degraded mp3:24', *methods]
  assert info['panels'] == [
    [f'{kind}: {col}, {band}' for col in columns]
    for kind, cutoff in ((c['kind'], c['cutoff_hz']) for c in info['clips'])
    for band in ('full band', f'above {0.8 * cutoff / 1000:.1f} kHz')
  ]
  assert all(4000 < c['cutoff_hz'] < 7500 for c in info['clips'])
  # The music clip is the test item with the highest input LSD-high, recomputed here.
  config = load_workdir(str(demo_out / 'regression'))[0]
  d = list(config.data.degradations).index('mp3:24')
  source = builder.get_builder(config.data).as_data_source('test')
  losses = {
    ex['key'].decode(): metrics.lsd(
      ex['clean'][:, 0] / 32768, ex['degraded'][d, :, 0] / 32768, SR, band='high'
    )
    for ex in (source[i] for i in range(len(source)))
  }
  music = info['clips'][1]
  assert music['key'] == max(losses, key=losses.get) and music['candidates'] == len(losses)
  assert music['lsd_high'] == pytest.approx(losses[music['key']], rel=1e-4)
  assert sorted(os.listdir(demo_out / 'examples')) == sorted(
    f'{kind}_{col.split(" ")[0]}.wav' for kind in ('speech', 'music') for col in columns
  )
  png = image.imread(path)
  assert png.shape[0] > 500 and png.shape[1] > 800 and np.ptp(png[..., :3]) > 0.5

  evals = {
    'regression': evaluate.evaluate_workdir(
      str(demo_out / 'regression'),
      optional_metrics=False,
      perceptual_items=1,
      out_dir=str(tmp_path),
    )
  }
  text = open(report.write_demo_report(str(demo_out), ['regression'], evals, None, {}, path)).read()
  assert '| quality, perceptual subset: ViSQOL (music) (higher) |' in text
  assert 'PESQ-WB (speech)' not in text  # the smoke test split has no speech
  assert 'Perceptual subset: the first 1 music test clips (ViSQOL), at mp3:24 only' in text
  assert f'{music["split"]} clip {music["key"]}, LSD-high' in text
  assert 'Spectrograms at mp3:24 (the lowest-bitrate MP3 configured (mp3:16 is not))' in text
