"""What every method's pure train step shares: ``(state, batch, rng, *, axis_name) -> (state,
metrics)`` steps are written in ``restoration/methods/`` from these pieces.

:func:`update` (gradient mean across devices, non-finite guard, optimizer), :func:`finish`
(EMA of the main network, counters, metric mean), :func:`reconstruction_weights`,
:func:`example_keys` (the one rule by which a step draws noise). ``axis_name`` is None under jit (the batch
mean is already global) and 'data' under pmap (gradients and metrics are ``pmean``-ed), see
``train.sharding.compile_step``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from restoration.state import Networks
from restoration.train.sharding import pmean


def finite(tree) -> jax.Array:
  """True when every leaf of ``tree`` is finite."""
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def example_keys(rng: jax.Array, batch_size: int, axis_name: str | None) -> jax.Array:
  """``[batch_size]`` keys, one per example of the local batch, folded from the step's ``rng``
  and the example's global index: every method draws its noise from these, so jit (one global
  batch) and pmap (one slice per device) draw the same numbers for the same example."""
  offset = 0 if axis_name is None else jax.lax.axis_index(axis_name) * batch_size
  return jax.vmap(lambda i: jax.random.fold_in(rng, i))(offset + jnp.arange(batch_size))


def update(state: dict, nets: Networks, name: str, grads, loss, axis_name) -> tuple[dict, dict]:
  """Applies ``grads`` to network ``name`` unless the loss or a gradient is non-finite."""
  grads = pmean(grads, axis_name)
  ok = jnp.isfinite(loss) & finite(grads)
  params, opt = state['params'][name], state['opt'][name]
  updates, new_opt = nets.txs[name].update(grads, opt, params)
  new_params = optax.apply_updates(params, updates)
  keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
  state = dict(
    state,
    params=dict(state['params'], **{name: keep(new_params, params)}),
    opt=dict(state['opt'], **{name: keep(new_opt, opt)}),
  )
  return state, {'ok': ok, f'{name}_grad_norm': optax.global_norm(grads)}


def finish(
  state: dict, nets: Networks, ema_decay: float, ok: jax.Array, metrics: dict, axis_name
) -> tuple[dict, dict]:
  """EMA of the main network, step and non-finite counters."""
  step = state['step']
  decay = jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))
  main = state['params'][nets.main]
  ema = jax.tree.map(lambda e, p: jnp.where(ok, decay * e + (1 - decay) * p, e), state['ema'], main)
  nonfinite = jnp.where(ok, 0, state['nonfinite'] + 1)
  state = dict(
    state,
    ema=ema,
    step=step + 1,
    nonfinite=nonfinite,
    skipped=state['skipped'] + (1 - ok.astype(jnp.int32)),
  )
  metrics = pmean(metrics, axis_name)
  metrics.update(nonfinite=nonfinite, skipped=state['skipped'])
  return state, metrics


def single_network_step(
  state: dict, nets: Networks, name: str, loss_fn, ema_decay: float, axis_name
) -> tuple[dict, dict]:
  """One update of network ``name`` by ``loss_fn(params) -> (loss, terms)``, ``terms`` logged
  as ``recon/*``: the whole step of the methods that train one network on the reconstruction
  losses (regression, bridge, vocoder)."""
  (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'][name])
  state, info = update(state, nets, name, grads, loss, axis_name)
  metrics = {
    'loss': loss,
    f'{name}_grad_norm': info[f'{name}_grad_norm'],
    **{f'recon/{k}': v for k, v in terms.items()},
  }
  return finish(state, nets, ema_decay, info['ok'], metrics, axis_name)


def reconstruction_weights(config) -> dict[str, float]:
  """``config.objective.reconstruction`` as plain floats (static inside the jitted step)."""
  return {k: float(v) for k, v in dict(config.objective.reconstruction).items()}
