"""TensorBoard event files written with tensorboard's own writer: no TensorFlow needed.

clu's writers import TensorFlow, which a JAX-only training host (a GPU node or TPU VM without
it) lacks; the event format is tensorboard's protos, which its package writes alone. Scalars,
images (PNG), audio (WAV) and text (the hyperparameters) are what the training loop logs.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Mapping

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter


def _png(image: np.ndarray) -> bytes:
  """``[H, W, 1 | 3]`` floats in [0, 1] as PNG bytes."""
  import matplotlib.image

  image = np.clip(np.asarray(image, np.float32), 0, 1)
  buf = io.BytesIO()
  matplotlib.image.imsave(
    buf, image[..., 0] if image.shape[-1] == 1 else image, cmap='gray', vmin=0, vmax=1, format='png'
  )
  return buf.getvalue()


def _wav(audio: np.ndarray, sample_rate: int) -> bytes:
  """``[samples, channels]`` floats in [-1, 1] as 16-bit PCM WAV bytes."""
  pcm = (np.clip(np.asarray(audio, np.float32), -1, 1) * 32767).astype('<i2')
  buf = io.BytesIO()
  with wave.open(buf, 'wb') as w:
    w.setnchannels(pcm.shape[1])
    w.setsampwidth(2)
    w.setframerate(sample_rate)
    w.writeframes(pcm.tobytes())
  return buf.getvalue()


class TensorBoardWriter:
  """Writes a run's summaries to ``logdir`` (nothing when ``enabled`` is False: the processes of
  a multi-host job other than the first). Images are ``[N, H, W, C]`` in [0, 1]; audio
  ``[N, samples, channels]`` in [-1, 1]; each of the N gets its own tag suffix when N > 1."""

  def __init__(self, logdir: str, *, enabled: bool = True):
    self._writer = EventFileWriter(logdir) if enabled else None

  def _write(self, step: int, values: list[summary_pb2.Summary.Value]) -> None:
    if self._writer is not None:
      summary = summary_pb2.Summary(value=values)
      self._writer.add_event(event_pb2.Event(step=step, summary=summary))

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    self._write(
      step, [summary_pb2.Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()]
    )

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    values = []
    for tag, batch in images.items():
      for i, image in enumerate(np.asarray(batch)):
        h, w, c = image.shape
        encoded = summary_pb2.Summary.Image(
          height=h, width=w, colorspace=c, encoded_image_string=_png(image)
        )
        values.append(summary_pb2.Summary.Value(tag=_tag(tag, i, len(batch)), image=encoded))
    self._write(step, values)

  def write_audios(self, step: int, audios: Mapping[str, np.ndarray], *, sample_rate: int) -> None:
    values = []
    for tag, batch in audios.items():
      for i, audio in enumerate(np.asarray(batch)):
        encoded = summary_pb2.Summary.Audio(
          sample_rate=sample_rate,
          num_channels=audio.shape[1],
          length_frames=audio.shape[0],
          encoded_audio_string=_wav(audio, sample_rate),
          content_type='audio/wav',
        )
        values.append(summary_pb2.Summary.Value(tag=_tag(tag, i, len(batch)), audio=encoded))
    self._write(step, values)

  def write_text(self, step: int, texts: Mapping[str, str]) -> None:
    from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2

    values = []
    for tag, text in texts.items():
      tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        string_val=[text.encode()],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
      )
      metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name='text')
      )
      values.append(summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata))
    self._write(step, values)

  def write_hparams(self, hparams: Mapping[str, object]) -> None:
    """The hyperparameters as one markdown table (text tab) at step 0."""
    rows = ['| field | value |', '|---|---|'] + [f'| {k} | {v} |' for k, v in hparams.items()]
    self.write_text(0, {'hparams': '\n'.join(rows)})

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


def _tag(tag: str, i: int, n: int) -> str:
  return tag if n == 1 else f'{tag}/{i}'
