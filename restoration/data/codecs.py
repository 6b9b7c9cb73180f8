"""Lossy codec round trips (encode, decode, re-align) that make the degraded half of each pair.

Encoders: MP3 with LAME (``lameenc``, exact CBR), Opus and Vorbis with libsndfile (Ogg in
memory), AAC with ffmpeg's native encoder (MP4 in a temporary directory). The decoded wave has
the input's shape and rate and is sample-aligned with it:

- MP3: the stream carries no gapless (LAME/Xing) tag, so the delay is the LAME encoder delay
  (576) plus the mpg123 decoder delay (529); measured: 1105 samples at every rate, both layouts.
- Opus and Vorbis: libsndfile trims the Opus pre-skip and the start/end padding that the Ogg
  granule positions describe, so the decoded stream starts at the first input sample.
- AAC: the MP4 edit list records the encoder priming (1024 samples), which ffmpeg's decoder
  removes; the stream length comes from the same edit list.

Bitrates: MP3 is CBR at the bitrates MPEG allows for the rate; AAC is ffmpeg's ABR inside
its measured working range; Opus and Vorbis are VBR in libsndfile, so the compression level
is searched on the clip itself until its audio stream is within 5% of the request (content
that needs fewer bits even at the best quality, e.g. silence, stays below). A bitrate a codec
cannot honour at that rate raises CodecError naming the valid range (see ``validate``).

Codecs run at a rate they support; other rates are resampled around the round trip (soxr HQ,
linear phase, so alignment is kept). "Encoded bytes" count what scales with duration: MP3
frames, the Ogg pages carrying audio packets (the one-off Opus/Vorbis header packets, ~0.6 kB
and ~4 kB, are left out), and the AAC frames of the MP4 ``mdat`` box (the ``moov`` index is
left out).
"""

from __future__ import annotations

import functools
import io
import os
import struct
import subprocess
import tempfile
from collections.abc import Callable, Generator
from typing import NamedTuple

import lameenc
import numpy as np
import soundfile as sf

from restoration.data import audio
from restoration.errors import UserError

CODECS = ('mp3', 'opus', 'vorbis', 'aac')


class CodecError(UserError, ValueError):
  """A codec, bitrate or sample rate the round trip cannot honour."""


def parse_degradation(spec: str) -> tuple[str, float]:
  """``'mp3:32'`` -> ``('mp3', 32.0)``: a codec name and a bitrate in kbps."""
  codec, sep, kbps = str(spec).partition(':')
  codec = codec.strip().lower()
  if not sep or codec not in CODECS:
    raise CodecError(
      f'degradation {spec!r}: expected "codec:kbps" with codec one of '
      f'{", ".join(CODECS)}, e.g. "mp3:32"'
    )
  try:
    bitrate = float(kbps)
  except ValueError:
    raise CodecError(f'degradation {spec!r}: bitrate {kbps!r} is not a number of kbps') from None
  if not np.isfinite(bitrate) or bitrate <= 0:
    raise CodecError(f'degradation {spec!r}: bitrate must be a positive number of kbps')
  return codec, bitrate


def achieved_kbps(encoded_bytes: int, num_samples: int, sample_rate: int) -> float:
  """Bitrate of a round trip in kbps: encoded bits per second of input audio."""
  return encoded_bytes * 8 / (num_samples / sample_rate) / 1000


def _layout(channels: int) -> str:
  return 'mono' if channels == 1 else 'stereo'


# --- MP3 (LAME encoder, libsndfile/mpg123 decoder) ---

_MP3_BITRATES = {  # kbps allowed by MPEG audio layer III, by sample-rate family
  (32000, 44100, 48000): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
  (16000, 22050, 24000): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
  (8000, 11025, 12000): (8, 16, 24, 32, 40, 48, 56, 64),
}
_MP3_DELAY = 576 + 529  # LAME encoder delay + mpg123 decoder delay, in samples


def _mp3_check(sr: int, channels: int, kbps: float) -> None:
  allowed = next(b for rates, b in _MP3_BITRATES.items() if sr in rates)
  if kbps not in allowed:
    raise CodecError(f'mp3 at {sr} Hz allows {", ".join(map(str, allowed))} kbps; got {kbps:g}')


def _mp3(x: np.ndarray, sr: int, kbps: float) -> tuple[np.ndarray, int]:
  encoder = lameenc.Encoder()
  encoder.set_bit_rate(int(kbps))
  encoder.set_in_sample_rate(sr)
  encoder.set_out_sample_rate(sr)  # else LAME may pick a lower rate at low bitrates
  encoder.set_channels(x.shape[1])
  encoder.set_quality(2)  # highest quality: the damage should come from the bitrate
  encoder.silence()
  pcm = np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype('<i2')
  data = bytes(encoder.encode(pcm.tobytes())) + bytes(encoder.flush())
  y, _ = sf.read(io.BytesIO(data), dtype='float32', always_2d=True)
  return y[_MP3_DELAY:], len(data)


# --- Opus and Vorbis (libsndfile, Ogg in memory) ---


def _ogg_encode(x: np.ndarray, sr: int, subtype: str, level: float) -> bytes:
  buf = io.BytesIO()
  sf.write(buf, x, sr, format='OGG', subtype=subtype, compression_level=level)
  return buf.getvalue()


def _ogg_decode(data: bytes) -> np.ndarray:
  return sf.read(io.BytesIO(data), dtype='float32', always_2d=True)[0]


def _ogg_audio_bytes(data: bytes, header_packets: int) -> int:
  """Bytes of the Ogg pages after those carrying the first ``header_packets`` packets.

  libsndfile flushes the codec headers to pages of their own, so this is the audio stream
  with its page framing and without the one-off headers.
  """
  pos = packets = total = 0
  while pos < len(data):
    segments = data[pos + 26]
    lacing = data[pos + 27 : pos + 27 + segments]
    size = 27 + segments + sum(lacing)
    if packets >= header_packets:
      total += size
    packets += sum(v < 255 for v in lacing)  # a lacing value below 255 ends a packet
    pos += size
  return total


_OGG_HEADER_PACKETS = {'OPUS': 2, 'VORBIS': 3}
_RATE_TOLERANCE = 0.05  # rate control stops this close (relative) to the requested bitrate


def _rate_controlled(
  x: np.ndarray, sr: int, subtype: str, kbps: float, levels: Generator[float, float, None]
) -> tuple[np.ndarray, int]:
  """Encodes at the compression levels that ``levels`` proposes (it is sent each measured
  rate) and keeps the stream closest to ``kbps``: libsndfile's Opus and Vorbis are VBR, so
  the rate of a given level depends on the content."""
  header_packets = _OGG_HEADER_PACKETS[subtype]
  best, best_err, level = b'', np.inf, next(levels)
  while True:
    data = _ogg_encode(x, sr, subtype, level)
    rate = achieved_kbps(_ogg_audio_bytes(data, header_packets), x.shape[0], sr)
    err = abs(rate / kbps - 1)
    if err < best_err:
      best, best_err = data, err
    if err <= _RATE_TOLERANCE:
      break
    try:
      level = levels.send(rate)
    except StopIteration:
      break
  return _ogg_decode(best), _ogg_audio_bytes(best, header_packets)


_OPUS_KBPS_PER_CHANNEL = (6, 256)  # libsndfile maps compression level 1..0 linearly onto this


def _opus_check(sr: int, channels: int, kbps: float) -> None:
  lo, hi = (channels * b for b in _OPUS_KBPS_PER_CHANNEL)
  if not lo <= kbps <= hi:
    raise CodecError(f'opus {_layout(channels)} supports {lo}-{hi} kbps; got {kbps:g}')


def _opus_levels(kbps: float, channels: int) -> Generator[float, float, None]:
  """The level of the requested target first, then targets corrected by the measured rate:
  Opus VBR misses its target by up to ~18% (measured on tones and noise at 8-48 kbps)."""
  lo, hi = _OPUS_KBPS_PER_CHANNEL
  target = kbps
  for _ in range(4):
    rate = yield float(1.0 - (np.clip(target / channels, lo, hi) - lo) / (hi - lo))
    if rate <= 0:
      return
    target = float(np.clip(target * kbps / rate, kbps / 2, kbps * 2))


def _opus(x: np.ndarray, sr: int, kbps: float) -> tuple[np.ndarray, int]:
  return _rate_controlled(x, sr, 'OPUS', kbps, _opus_levels(kbps, x.shape[1]))


@functools.cache
def _vorbis_range(sr: int, channels: int) -> tuple[float, float]:
  """libvorbis' nominal kbps at its lowest and highest quality, read from the ident header."""

  def nominal(level: float) -> float:
    data = _ogg_encode(np.zeros((sr // 10, channels), np.float32), sr, 'VORBIS', level)
    ident = data.find(b'\x01vorbis')  # then version, channels, rate, max, nominal, min bitrate
    return struct.unpack_from('<i', data, ident + 20)[0] / 1000

  return nominal(1.0), nominal(0.0)


def _vorbis_check(sr: int, channels: int, kbps: float) -> None:
  lo, hi = _vorbis_range(sr, channels)
  if not lo <= kbps <= hi:
    raise CodecError(
      f'vorbis at {sr} Hz {_layout(channels)} supports {lo:.3g}-{hi:.3g} kbps '
      f'(libvorbis quality 0 to 1); got {kbps:g}'
    )


def _vorbis_levels(kbps: float) -> Generator[float, float, None]:
  """Bisection: libsndfile encodes Vorbis in quality mode only, and the rate falls
  monotonically with the level. Content that needs fewer bits than requested even at the best
  quality (silence, a pure tone) keeps the closest rate reached."""
  lo, hi = 0.0, 1.0
  for _ in range(10):
    level = (lo + hi) / 2
    rate = yield level
    lo, hi = (level, hi) if rate > kbps else (lo, level)


def _vorbis(x: np.ndarray, sr: int, kbps: float) -> tuple[np.ndarray, int]:
  return _rate_controlled(x, sr, 'VORBIS', kbps, _vorbis_levels(kbps))


# --- AAC (ffmpeg's native encoder and decoder, MP4 container) ---

_AAC_MIN_KBPS = {1: 16, 2: 24}  # below, the native encoder overshoots by > 15% (measured)
_AAC_MAX_KBPS_PER_CHANNEL = 160


def _aac_check(sr: int, channels: int, kbps: float) -> None:
  # Above ~4 bits per sample per channel the native encoder saturates (measured, ffmpeg 9.0).
  lo = _AAC_MIN_KBPS[channels]
  hi = channels * min(4 * sr // 1000, _AAC_MAX_KBPS_PER_CHANNEL)
  if not lo <= kbps <= hi:
    raise CodecError(f'aac at {sr} Hz {_layout(channels)} supports {lo}-{hi} kbps; got {kbps:g}')


def _mp4_mdat_bytes(data: bytes) -> int:
  """Payload size of the top-level ``mdat`` box (the AAC frames) of an MP4 file."""
  pos = 0
  while pos + 8 <= len(data):
    size, kind = struct.unpack_from('>I4s', data, pos)
    if size == 1:  # 64-bit box size follows the type
      size = struct.unpack_from('>Q', data, pos + 8)[0]
      header = 16
    else:
      header = 8
    if kind == b'mdat':
      return size - header
    if size < header:
      break
    pos += size
  raise CodecError('ffmpeg wrote an MP4 file without an mdat box')


def _aac(x: np.ndarray, sr: int, kbps: float) -> tuple[np.ndarray, int]:
  ffmpeg = audio.find_ffmpeg()
  if ffmpeg is None:
    raise CodecError(f'aac needs the ffmpeg binary; {audio.FFMPEG_HINT}')
  with tempfile.TemporaryDirectory() as tmp:
    m4a = os.path.join(tmp, 'encoded.m4a')
    done = subprocess.run(
      [
        ffmpeg,
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'f32le',
        '-ar',
        str(sr),
        '-ac',
        str(x.shape[1]),
        '-i',
        'pipe:0',
        '-c:a',
        'aac',
        '-b:a',
        str(round(kbps * 1000)),
        '-f',
        'mp4',
        m4a,
      ],
      input=np.ascontiguousarray(x, '<f4').tobytes(),
      capture_output=True,
    )
    if done.returncode != 0:
      reason = (done.stderr.decode(errors='replace').strip().splitlines() or ['failed'])[-1]
      raise CodecError(f'ffmpeg could not encode aac at {kbps:g} kbps, {sr} Hz: {reason}')
    with open(m4a, 'rb') as f:
      nbytes = _mp4_mdat_bytes(f.read())
    y, _ = audio.read_with_ffmpeg(m4a)
  return y, nbytes


class _Codec(NamedTuple):
  rates: tuple[int, ...]  # rates it encodes at; others are resampled to the next one up
  check: Callable[[int, int, float], None]  # (rate, channels, kbps), raises CodecError
  run: Callable[[np.ndarray, int, float], tuple[np.ndarray, int]]  # [n, ch] -> (decoded, bytes)


_CODECS = {
  'mp3': _Codec(tuple(sorted(r for rates in _MP3_BITRATES for r in rates)), _mp3_check, _mp3),
  'opus': _Codec((8000, 12000, 16000, 24000, 48000), _opus_check, _opus),
  'vorbis': _Codec((8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000), _vorbis_check, _vorbis),
  'aac': _Codec(
    (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000),
    _aac_check,
    _aac,
  ),
}


def _codec_rate(codec: str, sample_rate: int) -> int:
  rates = _CODECS[codec].rates
  return next((r for r in rates if r >= sample_rate), rates[-1])


def validate(codec: str, bitrate_kbps: float, sample_rate: int, channels: int = 1) -> None:
  """Raises CodecError unless ``codec`` can encode that layout at that bitrate and rate."""
  if codec not in _CODECS:
    raise CodecError(f'codec {codec!r}: expected one of {", ".join(CODECS)}')
  if channels not in (1, 2):
    raise CodecError(f'{codec}: {channels} channels; expected mono or stereo')
  if not sample_rate > 0:
    raise CodecError(f'{codec}: sample rate {sample_rate!r}; expected a positive rate in Hz')
  if not np.isfinite(bitrate_kbps) or bitrate_kbps <= 0:
    raise CodecError(f'{codec}: bitrate {bitrate_kbps!r}; expected a positive number of kbps')
  rate = _codec_rate(codec, sample_rate)
  try:
    _CODECS[codec].check(rate, channels, bitrate_kbps)
  except CodecError as e:
    if rate == sample_rate:
      raise
    raise CodecError(f'{e} ({codec} encodes {sample_rate} Hz input at {rate} Hz)') from None


def encode_decode(
  wave: np.ndarray, sample_rate: int, codec: str, bitrate_kbps: float
) -> tuple[np.ndarray, int]:
  """Round-trips ``wave`` ([samples] or [samples, channels]) through ``codec``.

  Returns the decoded wave (the input's shape and rate, sample-aligned, float32) and the
  number of encoded bytes (see the module docstring for what they count).
  """
  wave = audio.check_wave(wave, codec, CodecError)
  x = wave.reshape(wave.shape[0], -1)
  validate(codec, bitrate_kbps, sample_rate, x.shape[1])
  rate = _codec_rate(codec, sample_rate)
  y, nbytes = _CODECS[codec].run(audio.resample(x, sample_rate, rate), rate, bitrate_kbps)
  y = audio.resample(y, rate, sample_rate)[: x.shape[0]]
  y = np.pad(y, ((0, x.shape[0] - y.shape[0]), (0, 0)))
  return y.reshape(wave.shape).astype(np.float32), nbytes


def degrade(wave: np.ndarray, sample_rate: int, codec: str, bitrate_kbps: float) -> np.ndarray:
  """The decoded wave of :func:`encode_decode` alone."""
  return encode_decode(wave, sample_rate, codec, bitrate_kbps)[0]
