"""What a method is, and the registry that finds one by ``config.method``.

A method is one module in ``restoration/methods/`` that registers one (or, for variants that
differ only in words and defaults, several) :class:`Method` instances. Everything outside this
package (loop, evaluation, restore, benchmark, report, config validation) asks the registry
and never branches on a method's name: adding a method is one module plus one config file
(docs/DESIGN.md, "How to add a method"). The style follows score_sde's ``register_model`` and
big_vision's import-by-name; every module of the package is imported on the first lookup.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from restoration.spectral import SpectralParams

# ``fn(state, batch, rng, *, axis_name) -> (state, metrics)``: a method's pure train step.
Step = Callable[..., tuple[dict, dict]]
# ``fn(params, rest, degraded [B, T, F, 2], rng) -> restored [B, T, F, 2]`` (jit-able).
Enhancer = Callable[[Any, Any, jax.Array, jax.Array], jax.Array]

_REGISTRY: dict[str, Method] = {}
_NOT_METHODS = ('base',)  # modules of this package that register nothing


class Method:
  """The defaults of a one-pass spectrogram restorer; subclasses override what differs.

  The class attributes are the words the report prints; ``main`` names the network that gets
  EMA weights and serves inference.
  """

  name: str = ''
  family: str = ''  # 'regression' | 'GAN' | 'diffusion' | 'pretraining'
  architecture: str = 'shared band-split U-Net'
  objective: str = ''
  uses: str = ''
  main: str = 'generator'
  restores: bool = True  # False: trains something that is not a restorer (no validation)
  iterative: bool = False  # True: quality and cost depend on a sampler step count
  # A method that cannot train without a trained run of another (``train.init_from``) names
  # that method here (the demo and the tests provide it).
  starts_from: str = ''
  # Modules the method composes beyond its own file and the shared backbone/steps, for the
  # "implementation complexity" row (restoration.methods.code_lines).
  specific_modules: tuple[str, ...] = ()

  def __init__(self, name: str | None = None, **words: str):
    self.name = name or self.name
    for key, value in words.items():
      if not hasattr(type(self), key):
        raise TypeError(f'{type(self).__name__}: unknown attribute {key!r}')
      setattr(self, key, value)

  def __repr__(self) -> str:
    return f'<method {self.name}>'

  def networks(self, config, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    """The networks it trains, with fresh parameters."""
    raise NotImplementedError

  def optimizers(self, config) -> dict[str, optax.GradientTransformation]:
    """One optimizer per trained network (default: the main one only)."""
    return {self.main: make_optimizer(config, config.train.learning_rate)}

  def step(self, config, nets) -> Step:
    """The pure train step ``(state, batch, rng, *, axis_name) -> (state, metrics)``."""
    raise NotImplementedError

  def enhancer(self, config, nets, *, steps: int | None = None) -> Enhancer:
    """How a trained main network restores a degraded spectrogram (default: one pass)."""
    del config, steps
    if not self.restores:
      raise ValueError(f'method {self.name!r} ({self.objective}) does not restore audio')
    return lambda params, rest, degraded, rng: nets.merge(self.main, params, rest)(degraded)

  def network_calls(self, config, steps: int | None = None) -> int:
    """Network evaluations per restored batch."""
    del config, steps
    return 1

  def eval_steps(self, config) -> list[int | None]:
    """The step counts evaluation scores (``[None]``: one pass)."""
    del config
    return [None]

  def forward_inputs(self, config, name: str, spectrogram: jax.Array) -> tuple[tuple, dict]:
    """``(args, kwargs)`` of network ``name`` on one second of audio, for its FLOP count."""
    del config, name
    return (spectrogram,), {}

  def warm_start_target(self, config) -> tuple[str, ...]:
    """Where ``train.init_from``'s main network goes in the train state (default: this run's
    main network, which then fine-tunes; a predictive + generative method may freeze it)."""
    del config
    return ('params', self.main)

  def validation_scores(self, config, nets) -> Callable | None:
    """``fn(state, batch, restored) -> {name: [B] scores}`` (the full train state: critics
    live beside the main network) that validation averages beside LSD, or None (jit-able).
    GANs report their critic's accuracy."""
    del config, nets
    return None

  def check(self, config, need: Callable[[bool, str, str], None]) -> None:
    """Method-specific config checks: ``need(ok, 'field', 'what was expected')``."""

  def describe(self, config) -> dict[str, str]:
    """The words the report prints, resolved against ``config`` (recorded at train time)."""
    del config
    return {
      'family': self.family,
      'architecture': self.architecture,
      'objective': self.objective,
      'uses': self.uses,
    }


class ConditionalDenoiser(Method):
  """Iterative methods whose main network is the shared U-Net taking the noisy process
  variable, the degraded spectrogram as condition and a noise level (diffusion, bridge)."""

  main = 'denoiser'
  iterative = True

  def networks(self, config, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    return {
      'denoiser': unet(
        config, rngs, in_channels=2, cond_channels=2, noise_embedding=True, residual=False
      )
    }

  def forward_inputs(self, config, name: str, spectrogram: jax.Array) -> tuple[tuple, dict]:
    return (spectrogram,), {'cond': spectrogram, 'noise_level': jnp.zeros((1,))}

  def eval_steps(self, config) -> list[int | None]:
    return [int(s) for s in config.sampling.eval_steps]


def register(method: Method) -> Method:
  """Adds ``method`` to the registry under ``method.name`` (names are unique)."""
  if not method.name:
    raise ValueError(f'{method!r}: a registered method needs a name')
  if method.name in _REGISTRY and _REGISTRY[method.name] is not method:
    raise ValueError(f'method {method.name!r} is registered twice')
  _REGISTRY[method.name] = method
  return method


@functools.cache
def _load_all() -> None:
  """Imports every method module once (each registers itself on import)."""
  package = importlib.import_module('restoration.methods')
  for info in pkgutil.iter_modules(package.__path__):
    if info.name not in _NOT_METHODS:
      importlib.import_module(f'restoration.methods.{info.name}')


def names() -> tuple[str, ...]:
  """Every registered method, in registration order."""
  _load_all()
  return tuple(_REGISTRY)


def get(name: str) -> Method:
  """The method registered as ``name``; a one-line error lists the known ones."""
  _load_all()
  if name not in _REGISTRY:
    raise KeyError(f'method {name!r} is not registered; expected one of {", ".join(_REGISTRY)}')
  return _REGISTRY[name]


def module_of(method: Method) -> str:
  """The module that registered ``method`` (its own code)."""
  return type(method).__module__


# Shared by the methods: backbone construction, compute dtype and the optimizer recipe.

# ``train.compute_dtype``: what every network computes in (parameters stay float32).
COMPUTE_DTYPES = ('float32', 'bfloat16')


def compute_dtype(config) -> jnp.dtype:
  """The networks' compute dtype, ``train.compute_dtype`` (float32 for runs saved before the
  field existed)."""
  return jnp.dtype(config.train.get('compute_dtype', 'float32'))


def with_compute_dtype(config, modules: dict[str, nnx.Module]) -> dict[str, nnx.Module]:
  """``modules`` with every layer that takes a compute ``dtype`` and leaves it unset (flax's
  convolutions, dense maps, norms and attention; ``BandLinear``) set to ``compute_dtype``.

  One pass over the built graphs instead of a ``dtype=`` argument through every builder: each
  network (U-Net, critics, vocoder, frozen feature nets) is covered, a new one too. Parameters
  keep their float32 ``param_dtype`` (so optimizer state, EMA and checkpoints stay float32);
  each layer casts its inputs and weights to bfloat16, norms take their statistics in float32,
  and every network returns float32 (U-Net, vocoder, critics, classifier), so losses, metrics
  and the spectral transforms around the networks run in float32. Called where the train
  state is built (``train.state``), so training, restore and export all see it.
  """
  dtype = compute_dtype(config)
  for module in modules.values():
    for _, node in list(nnx.iter_graph(module)):
      if isinstance(node, nnx.Module) and hasattr(node, 'dtype') and node.dtype is None:
        node.dtype = dtype
  return modules


def unet(config, rngs: nnx.Rngs, **kwargs) -> nnx.Module:
  """The shared U-Net at ``config.model.preset`` plus ``config.model.overrides``.

  ``config.model.noise_channels`` (a noise input) reaches only a U-Net whose method passes
  ``noise_channels=`` (the GAN's generator); any other stops the run at start rather than
  ignore the field.
  """
  from restoration.config import ConfigError
  from restoration.models import unet as unet_lib

  m = config.model
  if 'noise_channels' in m.overrides:
    raise ConfigError(
      f'config.model.overrides.noise_channels={m.overrides.noise_channels!r}: expected no such '
      'override (set config.model.noise_channels)'
    )
  if m.get('noise_channels', 0) and 'noise_channels' not in kwargs:
    raise ConfigError(
      f'config.model.noise_channels={m.noise_channels!r}: expected 0: only the GAN family '
      f'takes a noise input ({config.method} does not)'
    )
  args = dict(unet_lib.UNET_PRESETS[config.model.preset])
  args.update(dict(config.model.overrides))
  args['n_freq'] = SpectralParams.from_config(config.spectral).n_freq
  args['remat'] = m.get('remat', False)  # configs saved before the field lack it
  args.update(kwargs)
  return unet_lib.UNet(**args, rngs=rngs)


def lr_schedule(config, learning_rate: float) -> optax.Schedule:
  """Linear warm-up, then cosine decay to a tenth (also logged by the loop)."""
  t = config.train
  return optax.warmup_cosine_decay_schedule(
    0.0,
    learning_rate,
    max(1, min(t.warmup_steps, t.num_steps // 2)),
    max(2, t.num_steps),
    end_value=learning_rate * 0.1,
  )


def make_optimizer(config, learning_rate: float) -> optax.GradientTransformation:
  """AdamW with linear warm-up then cosine decay, after global-norm clipping."""
  t = config.train
  return optax.chain(
    optax.clip_by_global_norm(t.grad_clip) if t.grad_clip else optax.identity(),
    optax.adamw(
      lr_schedule(config, learning_rate),
      b1=t.b1,
      b2=t.b2,
      eps=t.adam_eps,
      weight_decay=t.weight_decay,
    ),
  )


def one_second_spectrogram(config) -> jax.Array:
  """A zero spectrogram of one second of audio: the input of the FLOP counts."""
  p = SpectralParams.from_config(config.spectral)
  return jnp.zeros((1, p.n_frames(config.data.sample_rate), p.n_freq, 2))


def forward_gflops_per_audio_second(config, modules: dict[str, nnx.Module]) -> dict[str, float]:
  """XLA's FLOP count of each network's forward pass on one second of audio, in GFLOP
  (``models.unet.forward_flops``: the lowered program, well under a second per network)."""
  from restoration.models.unet import forward_flops

  method = get(config.method)
  x = one_second_spectrogram(config)
  out = {}
  for name, module in modules.items():
    args, kwargs = method.forward_inputs(config, name, x)
    out[name] = forward_flops(module, *args, **kwargs) / 1e9
  return out


def _source_lines(module: str) -> int:
  """Non-blank lines of a module's source file (read as text, not imported code)."""
  path = importlib.util.find_spec(module).origin
  with open(path) as f:
    return sum(1 for line in f if line.strip())


SHARED_MODULES = (
  'restoration.methods.base',
  'restoration.train.steps',
  'restoration.models.unet',
  'restoration.objectives.reconstruction',
)


def code_lines(name: str) -> dict[str, int]:
  """Implementation size of a method: its own module, the modules only some methods use
  (``specific_modules``: critics, diffusion objectives...), and the code every method shares.

  Variants registered by one module share its count; that is the honest reading.
  """
  method = get(name)
  return {
    'own': _source_lines(module_of(method)),
    'specific': sum(_source_lines(m) for m in method.specific_modules),
    'shared': sum(_source_lines(m) for m in SHARED_MODULES),
  }


def run_facts(config) -> dict[str, Any]:
  """What the report prints about a run that is not a measured quality: the method's words,
  each network's forward GFLOP per audio second and the code size. Written by training into
  ``train_log.jsonl`` so the report renders data and never rebuilds networks."""
  method = get(config.method)
  modules = nnx.eval_shape(lambda: method.networks(config, nnx.Rngs(0)))
  return {
    'describe': method.describe(config),
    'gflops_per_audio_second': forward_gflops_per_audio_second(config, modules),
    'code_lines': code_lines(method.name),
  }
