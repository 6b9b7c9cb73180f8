"""Shared config defaults, size presets and start-up validation.

Every run is one ``configs/<method>.py`` whose ``get_config(size)`` calls :func:`base_config`
and overrides what the method needs (big_vision style). :func:`validate` runs at start so a
bad field stops the run with one clear line instead of failing deep inside a jit trace.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import ml_collections

from restoration.data import spec as data_spec
from restoration.errors import ConfigError

SIZES = ('smoke', 'demo', 'base', 'large')

# Every per-size value, as dotted fields over :func:`base_config`'s defaults, applied in one
# place before the presets and the method's config file.
SIZE_TABLE: dict[str, dict[str, Any]] = {
  'smoke': {
    'data.num_train': 16,
    'data.num_validation': 4,
    'data.num_test': 4,
    'data.clip_seconds': 1.0,
    'data.crop_seconds': 0.5,
    'data.degradations': ('mp3:24', 'opus:12'),
    'train.global_batch': 8,
    'train.num_steps': 4,
    'train.log_every': 2,
    'train.eval_every': 4,
    'train.checkpoint_every': 2,
    'train.eval_batches': 1,
  },
  'demo': {
    'data.num_train': 640,
    'data.num_validation': 32,
    'data.num_test': 48,
    'data.clip_seconds': 2.0,
    'data.crop_seconds': 1.0,
    'train.global_batch': 16,
    'train.log_every': 25,
    'train.eval_batches': 2,
    'train.warmup_steps': 20,  # of a few hundred steps
    # A few hundred steps leave a critic at 1e-3 near chance; a few times that rate
    # separates clean from codec output within them.
    'train.critic_learning_rate': 4e-3,
    # Each doubling of steps doubles the evaluation's cost, so the demo stops at 4.
    'sampling.eval_steps': (1, 2, 4),
    # train.num_steps, eval_every and checkpoint_every follow the method's ``demo_steps``.
  },
  'base': {
    'data.num_train': 20000,
    'data.num_validation': 256,
    'data.num_test': 512,
    'data.clip_seconds': 4.0,
    'data.crop_seconds': 2.0,
    'train.global_batch': 64,
    'train.num_steps': 200_000,
    'train.log_every': 100,
    'train.eval_every': 5000,
    'train.checkpoint_every': 2500,
    'train.eval_batches': 16,
  },
  'large': {
    'data.num_train': 100000,
    'data.num_validation': 512,
    'data.num_test': 1024,
    'data.clip_seconds': 4.0,
    'data.crop_seconds': 4.0,
    'train.global_batch': 256,
    'train.num_steps': 500_000,
    'train.log_every': 100,
    'train.eval_every': 10000,
    'train.checkpoint_every': 5000,
    'train.eval_batches': 32,
  },
}

# Domain presets, named after the size in the config string (``configs/gan.py:base,music44k``):
# per size, the fields they set after the size's defaults and before the method's config file.
_MUSIC_DEMO_DATA = {
  'data.num_train': 96,
  'data.num_validation': 8,
  'data.num_test': 16,
  'data.crop_seconds': 0.5,
}
_MUSIC_DEGRADATIONS = ('mp3:32', 'mp3:64', 'mp3:128', 'opus:48', 'opus:96', 'aac:64', 'aac:128')
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
  # Full-band stereo music at 44.1 kHz (what Apollo reports on), at music bitrates. STFT
  # 1024/256 (23 ms window, 5.8 ms hop, 513 bins) has as many time-frequency cells per second
  # as 2048/512, hence the same cost, and the finer hop that transients and codec pre-echo
  # need. Bands (12, 12, 24, 47 of them) keep each U-Net at the 16 kHz preset's cost per audio
  # second and channel (the benchmark reports both forward GFLOP). Smoke skips AAC, which needs
  # ffmpeg. At the demo size (``make demo`` trains it beside the 16 kHz models) half-second
  # crops and a smaller corpus keep a run near a 16 kHz run's minutes: a crop is still 22,050
  # samples per channel.
  'music44k': {
    size: {
      'data.sample_rate': 44100,
      'data.channels': 2,
      'data.degradations': ('mp3:64', 'opus:48') if size == 'smoke' else _MUSIC_DEGRADATIONS,
      'spectral.n_fft': 1024,
      'spectral.hop': 256,
      'model.overrides.band_size': band_size,
      **(_MUSIC_DEMO_DATA if size == 'demo' else {}),
    }
    for size, band_size in (('smoke', 43), ('demo', 43), ('base', 22), ('large', 11))
  },
  # Fine-tuning a trained run (``train.init_from``): the second stage of predictive +
  # generative training. A fifth of the learning rate keeps the adversarial gradient from
  # undoing the warm start (at the demo size, 1e-3 raised the projected GAN's validation LSD
  # from 1.00 to 1.19 in 100 steps, 2e-4 kept it at 1.01); the critic trains alone for its
  # first steps. The number of steps is each config's ``finetune_steps``.
  'finetune': {
    size: {
      'train.learning_rate': 2e-4,
      'train.warmup_steps': warmup,
      'objective.adversarial.critic_warmup_steps': warmup,
    }
    for size, warmup in (('smoke', 1), ('demo', 20), ('base', 1000), ('large', 2000))
  },
  # The study (``restoration.study``): 5 runs per method must fit 90 minutes on 2 cores, so a
  # run gets a quarter of the demo's compute (half the batch; :func:`base_config` halves the
  # steps and warm-ups) and validates four times, for its learning curve, on one batch.
  'study': {
    size: {'train.global_batch': 8, 'train.eval_batches': 1, 'train.log_every': log_every}
    for size, log_every in (('smoke', 1), ('demo', 5), ('base', 100), ('large', 100))
  },
}
STUDY_EVALS = 4  # validations per run under the 'study' preset: the learning curve's points


def _parse_arg(arg: str) -> tuple[str, tuple[str, ...]]:
  """``'base,music44k'`` -> ``('base', ('music44k',))``: a size, then optional presets."""
  size, *presets = (part.strip() for part in arg.split(','))
  for name in presets:
    if name not in PRESETS:
      raise ConfigError(
        f'config option {name!r} in {arg!r}: expected "size[,preset...]" with presets from '
        f'{", ".join(PRESETS)}'
      )
  return size, tuple(presets)


def set_field(c: ml_collections.ConfigDict, field: str, value: Any) -> None:
  """``c.<field> = value`` for a dotted ``field`` (``'train.learning_rate'``)."""
  *parents, leaf = field.split('.')
  node = c
  for part in parents:
    node = node[part]
  node[leaf] = value


def _set_fields(c: ml_collections.ConfigDict, fields: dict[str, Any]) -> None:
  for field, value in fields.items():
    set_field(c, field, value)


def base_config(
  method: str, size: str, *, demo_steps: int = 300, finetune_steps: int | None = None
) -> ml_collections.ConfigDict:
  """Defaults shared by every method; ``configs/<method>.py`` overrides what differs.

  ``demo_steps``: training steps at the demo size, which each config sets so that the method
  trains in about 5 minutes on 2 CPU cores, compile included; ``finetune_steps``
  replaces it under the ``finetune`` preset. ``size`` may name presets after it,
  comma-separated (``'base,music44k'``, see :data:`PRESETS`).
  """
  size, presets = _parse_arg(size)
  if 'finetune' in presets and finetune_steps:
    demo_steps = finetune_steps
  if size not in SIZES:
    raise ConfigError(f'config size {size!r}: expected one of {", ".join(SIZES)}')
  c = ml_collections.ConfigDict()
  c.method = method
  c.size = size
  c.seed = 0
  c.distributed = False  # call jax.distributed.initialize() (the launchers set it)

  c.data = ml_collections.ConfigDict(
    {
      **data_spec.config_defaults(),  # the dataset's fields (data.spec.DataSpec)
      'data_dir': 'data/tfds',  # where our prepared pairs dataset is written
      'loader': 'auto',  # 'auto' | 'tfdata' | 'grain' (data.pipeline: auto = tf.data if TF imports)
      'workers': 0,  # Grain worker processes (0: threads in this process)
      'prefetch': 4,  # host batches the loader prepares ahead
      'device_prefetch': 1,  # batches transferred to the devices ahead of the step's
      'spectra_on': 'auto',  # where the STFTs run: 'auto' | 'host' | 'device' (data.pipeline)
      # per size (SIZE_TABLE): num_train, num_validation, num_test, clip_seconds, crop_seconds
    }
  )
  c.spectral = ml_collections.ConfigDict(dict(n_fft=512, hop=128, alpha=0.5, beta=0.15))

  # remat: recompute each residual block's activations in the backward pass (models.unet)
  c.model = ml_collections.ConfigDict(
    dict(preset=size, overrides={}, noise_channels=0, remat=False)
  )
  c.critic = ml_collections.ConfigDict(dict(kind='mrstft', preset=size, feature_checkpoint=''))
  # Shared fields at the top, one section per family (read by the methods of that family).
  c.objective = ml_collections.ConfigDict(
    dict(
      reconstruction=dict(mse=1.0, mrstft=1.0, mel=0.0),
      # diffusion and bridges: what is diffused, 'residual' (clean - degraded) | 'clean'
      space='residual',
      residual_scale=0.1,  # residual / this ~ sigma_data (demo corpus residual RMS 0.049)
      adversarial=dict(
        loss='non_saturating',  # 'non_saturating' | 'hinge' | 'lsgan' | 'wasserstein'
        weight=1.0,
        gp_weight=0.0,  # WGAN-GP penalty weight
        r1_weight=0.0,
        n_critic=1,  # critic updates per generator update
        critic_warmup_steps=0,  # first steps: the generator trains without adversarial terms
        feature_matching_weight=2.0,
      ),
      diffusion=dict(
        schedule='edm',  # 'edm' | 'vp_cosine'
        target='x0',  # 'x0' | 'eps' | 'v' (vp_cosine only)
        sigma_data=0.5,
        p_mean=-1.2,
        p_std=1.2,
      ),
      bridge=dict(
        sigma=1.0,  # sigma(t) = sigma * sqrt(t (1 - t)) on residual / residual_scale
        p_start=0.25,  # share of training at t = 0 (the one-step pass)
      ),
    )
  )
  c.sampling = ml_collections.ConfigDict(
    dict(
      sampler='heun',
      steps=8,
      sigma_min=0.002,
      sigma_max=20.0,
      rho=7.0,
      start_sigma=0.0,  # > 0: start sampling from the degraded input noised to this level
      eval_steps=(1, 2, 4, 8, 16, 32),
    )
  )

  c.train = ml_collections.ConfigDict(
    dict(
      learning_rate=1e-3,
      critic_learning_rate=1e-3,
      warmup_steps=100,
      b1=0.8,
      b2=0.99,
      adam_eps=1e-8,
      weight_decay=0.0,
      grad_clip=1.0,
      ema_decay=0.999,
      max_nonfinite_steps=20,
      keep_checkpoints=3,
      # Resuming, an unreadable newest step (truncated files) is moved to
      # checkpoints/unreadable/ and the run resumes from the newest readable one; False stops.
      checkpoint_fallback=True,
      # A trained run whose main network this run starts from (same shapes; restoration.train.
      # warm_start): the GAN fine-tunes the regression model. Only a fresh run reads it.
      init_from='',
      best_metric='lsd',
      # Network compute: 'float32' | 'bfloat16' (params, optimizer, EMA, losses stay float32).
      compute_dtype='float32',
      # > 0: this invocation ends after that many seconds of training (compile excluded), as if
      # it were the last step (validated, saved), so methods can share a wall budget; 0: off.
      max_train_seconds=0.0,
      # per size (SIZE_TABLE): global_batch, num_steps, log_every, eval_every,
      # checkpoint_every, eval_batches
    )
  )
  c.parallel = ml_collections.ConfigDict(
    dict(
      backend='jit',  # 'jit' (NamedSharding over a Mesh) | 'pmap'
      model_axis=1,  # devices on the 'model' mesh axis; the rest go to 'data'
    )
  )
  _set_fields(c, SIZE_TABLE[size])
  if size == 'demo':
    c.train.num_steps = demo_steps
    c.train.eval_every = c.train.num_steps
    c.train.checkpoint_every = c.train.num_steps // 2
  c.presets = presets
  for name in presets:
    _set_fields(c, PRESETS[name][size])
  if 'study' in presets and size == 'demo':
    t = c.train
    t.num_steps = max(1, t.num_steps // 2)
    t.warmup_steps //= 2
    c.objective.adversarial.critic_warmup_steps //= 2
  if 'study' in presets:
    c.train.eval_every = -(-c.train.num_steps // STUDY_EVALS)
    c.train.checkpoint_every = c.train.num_steps
  return c


def validate(
  config: ml_collections.ConfigDict, *, num_devices: int | None = None, num_processes: int = 1
) -> None:
  """Stops the run at start with one clear line when a field is invalid."""

  def need(ok: bool, field: str, expected: str) -> None:
    if not ok:
      value = config
      for part in field.split('.'):
        value = value.get(part) if hasattr(value, 'get') else None
      raise ConfigError(f'config.{field}={value!r}: expected {expected}')

  from restoration import methods  # local: keeps config import light (no JAX)

  try:
    method = methods.get(config.method)
  except KeyError:
    need(False, 'method', f'one of {", ".join(methods.names())}')
  need(config.size in SIZES, 'size', f'one of {", ".join(SIZES)}')
  d = config.data
  try:
    data_spec.DataSpec.from_config(d)
  except data_spec.DataSpecError as e:
    need(False, f'data.{data_spec.config_keys(e.field)[0]}', e.expected)
  need(
    0 < d.crop_seconds <= d.clip_seconds,
    'data.crop_seconds',
    f'> 0 and <= data.clip_seconds ({d.clip_seconds})',
  )
  from restoration.data import pipeline

  need(d.loader in pipeline.LOADERS, 'data.loader', f'one of {", ".join(pipeline.LOADERS)}')
  need(
    d.loader != 'tfdata' or pipeline.tensorflow_available(),
    'data.loader',
    "'grain' or 'auto' (TensorFlow does not import here)",
  )
  need(
    isinstance(d.workers, int) and d.workers >= 0,
    'data.workers',
    'a non-negative integer (Grain worker processes)',
  )
  need(
    d.spectra_on in pipeline.SPECTRA_ON,
    'data.spectra_on',
    f'one of {", ".join(pipeline.SPECTRA_ON)}',
  )
  need(
    d.spectra_on != 'device' or config.parallel.backend == 'jit',
    'data.spectra_on',
    "'host' or 'auto' under parallel.backend='pmap' (it feeds host batches)",
  )
  need(d.device_prefetch >= 0, 'data.device_prefetch', 'a non-negative integer')
  need(
    d.num_train > 0 and d.num_validation > 0 and d.num_test > 0,
    'data.num_train',
    'positive item counts for train/validation/test',
  )
  s = config.spectral
  need(s.n_fft > 0 and s.n_fft % 2 == 0, 'spectral.n_fft', 'a positive even integer')
  need(0 < s.hop <= s.n_fft // 2, 'spectral.hop', f'in (0, n_fft/2 = {s.n_fft // 2}]')
  need(0 < s.alpha <= 1, 'spectral.alpha', 'in (0, 1]')
  t = config.train
  need(t.global_batch > 0, 'train.global_batch', 'a positive integer')
  need(
    t.global_batch % num_processes == 0,
    'train.global_batch',
    f'divisible by the number of processes ({num_processes})',
  )
  if num_devices is not None:
    need(
      t.global_batch % num_devices == 0,
      'train.global_batch',
      f'divisible by the number of devices ({num_devices})',
    )
    need(
      num_devices % config.parallel.model_axis == 0,
      'parallel.model_axis',
      f'a divisor of the number of devices ({num_devices})',
    )
  need(t.num_steps > 0, 'train.num_steps', 'a positive integer')
  need(
    isinstance(t.max_train_seconds, (int, float)) and t.max_train_seconds >= 0,
    'train.max_train_seconds',
    'seconds of training >= 0 (0: no wall-time limit)',
  )
  need(
    not t.init_from or os.path.isdir(os.path.join(t.init_from, 'checkpoints')),
    'train.init_from',
    'a trained run directory (with checkpoints/) or empty',
  )
  need(t.learning_rate > 0, 'train.learning_rate', 'a positive float')
  need(0 <= t.ema_decay < 1, 'train.ema_decay', 'in [0, 1)')
  dtypes = methods.COMPUTE_DTYPES
  need(t.compute_dtype in dtypes, 'train.compute_dtype', f'one of {", ".join(dtypes)}')
  from restoration.train import sharding

  backends = sharding.BACKENDS
  need(config.parallel.backend in backends, 'parallel.backend', f'one of {", ".join(backends)}')
  from restoration.objectives import reconstruction

  for term, weight in config.objective.reconstruction.items():
    need(
      term in reconstruction.TERMS,
      f'objective.reconstruction.{term}',
      f'a weight of one of the terms {", ".join(reconstruction.TERMS)}',
    )
    need(
      isinstance(weight, (int, float)) and weight >= 0,
      f'objective.reconstruction.{term}',
      'a weight >= 0 (0: the term is off)',
    )
  method.check(config, need)


# Fields of configs saved before the objective had per-family sections -> their section.
_FLAT_OBJECTIVE = {
  'adversarial': ('adversarial', 'loss'),
  'adversarial_weight': ('adversarial', 'weight'),
  'gp_weight': ('adversarial', 'gp_weight'),
  'r1_weight': ('adversarial', 'r1_weight'),
  'n_critic': ('adversarial', 'n_critic'),
  'critic_warmup_steps': ('adversarial', 'critic_warmup_steps'),
  'feature_matching_weight': ('adversarial', 'feature_matching_weight'),
  'schedule': ('diffusion', 'schedule'),
  'target': ('diffusion', 'target'),
  'sigma_data': ('diffusion', 'sigma_data'),
  'p_mean': ('diffusion', 'p_mean'),
  'p_std': ('diffusion', 'p_std'),
  'bridge_sigma': ('bridge', 'sigma'),
  'bridge_p_start': ('bridge', 'p_start'),
}


def upgrade(saved: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A run's saved config in today's layout, so readers of trained runs read every field
  directly: flat objective fields move to their section, and fields the run predates take
  :func:`base_config`'s default for its method and size (what training with them gave)."""
  tree = ml_collections.ConfigDict(saved).to_dict()  # a deep copy, nested dicts
  objective = tree.get('objective', {})
  moved = {
    old: objective.pop(old)
    for old in _FLAT_OBJECTIVE
    if old in objective and not isinstance(objective[old], dict)
  }
  for old, value in moved.items():
    section, field = _FLAT_OBJECTIVE[old]
    objective.setdefault(section, {})[field] = value
  _fill_missing(tree, base_config(tree['method'], tree['size']).to_dict())
  return ml_collections.ConfigDict(tree)


def _fill_missing(tree: dict[str, Any], defaults: dict[str, Any]) -> None:
  for key, value in defaults.items():
    if key not in tree:
      tree[key] = value
    elif isinstance(value, dict) and isinstance(tree[key], dict):
      _fill_missing(tree[key], value)


CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / 'configs'


def load_config(name: str, arg: str) -> ml_collections.ConfigDict:
  """``configs/<name>.py``'s ``get_config(arg)`` (``name`` may also be a path to a .py file);
  ``arg`` is what follows the colon of ``--config``: a size and optional presets."""
  path = pathlib.Path(name) if name.endswith('.py') else CONFIG_DIR / f'{name}.py'
  if not path.is_file():
    raise ConfigError(f'{path}: no such config file (expected configs/<method>.py)')
  spec = importlib.util.spec_from_file_location(f'configs.{path.stem}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)
