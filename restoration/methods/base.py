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
import pkgutil
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from restoration.methods.common import make_optimizer, unet

# ``fn(state, batch, rng, *, axis_name) -> (state, metrics)``: a method's pure train step.
Step = Callable[..., tuple[dict, dict]]
# ``fn(params, rest, degraded [B, T, F, 2], rng) -> restored [B, T, F, 2]`` (jit-able).
Enhancer = Callable[[Any, Any, jax.Array, jax.Array], jax.Array]

_REGISTRY: dict[str, Method] = {}
_NOT_METHODS = ('base', 'common', 'costs')  # modules of this package that register nothing


class Method:
  """The defaults of a one-pass spectrogram restorer; subclasses override what differs.

  The class attributes are the words the report prints; ``main`` names the network that gets
  EMA weights and serves inference.
  """

  name: str = ''
  family: str = ''  # 'regression' | 'GAN' | 'diffusion' | 'bridge' | 'pretraining'
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
  # Logged metrics that are learning signals, kept at every log step in the run record's
  # history (what the study reads to judge training, e.g. whether a critic is at chance).
  history: tuple[str, ...] = ('loss',)

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
