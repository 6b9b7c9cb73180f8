"""Pure train steps, one per method: ``(state, batch, rng, *, axis_name) -> (state, metrics)``.

Everything a method shares with another lives here once: :func:`_update` (gradient mean
across devices, non-finite guard, optimizer, EMA), the generator forward, the reconstruction
terms. ``axis_name`` is None under jit (the batch mean is already global) and 'data' under
pmap (gradients and metrics are ``pmean``-ed), see ``train.sharding.compile_step``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from restoration import spectral
from restoration.objectives import adversarial, diffusion, reconstruction
from restoration.spectral import SpectralParams
from restoration.train.sharding import per_example_keys, pmean
from restoration.train.state import GAN_METHODS, Networks

Step = Callable[..., tuple[dict, dict]]


def _finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _update(state: dict, nets: Networks, name: str, grads, loss, axis_name) -> tuple[dict, dict]:
  """Applies ``grads`` to network ``name`` unless the loss or a gradient is non-finite."""
  grads = pmean(grads, axis_name)
  ok = jnp.isfinite(loss) & _finite(grads)
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


def _finish(
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


def _recon_weights(config) -> dict[str, float]:
  return {k: float(v) for k, v in dict(config.objective.reconstruction).items()}


def regression_step(config, nets: Networks) -> Step:
  """The shared backbone trained with reconstruction losses only (the baseline)."""
  p = SpectralParams.from_config(config.spectral)
  weights, sr = _recon_weights(config), config.data.sample_rate

  def step(state, batch, rng, *, axis_name=None):
    del rng  # deterministic objective
    length = batch['clean_wave'].shape[-1]

    def loss_fn(params):
      pred = nets.merge('generator', params, state['rest']['generator'])(batch['degraded'])
      return reconstruction.reconstruction_loss(
        pred, batch['clean'], params=p, length=length, weights=weights, sample_rate=sr
      )

    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params']['generator'])
    state, info = _update(state, nets, 'generator', grads, loss, axis_name)
    metrics = {
      'loss': loss,
      'generator_grad_norm': info['generator_grad_norm'],
      **{f'recon/{k}': v for k, v in terms.items()},
    }
    return _finish(state, nets, config.train.ema_decay, info['ok'], metrics, axis_name)

  return step


def gan_step(config, nets: Networks) -> Step:
  """n_critic critic updates (on the same batch, fresh penalty noise), then one generator
  update with adversarial + feature-matching + reconstruction terms."""
  o = config.objective
  p = SpectralParams.from_config(config.spectral)
  critic_loss_fn, generator_loss_fn = adversarial.get_adversarial(o.adversarial)
  weights, sr = _recon_weights(config), config.data.sample_rate
  on_spectrogram = config.critic.kind == 'projected'

  def step(state, batch, rng, *, axis_name=None):
    length = batch['clean_wave'].shape[-1]
    view = (lambda s: s) if on_spectrogram else (lambda s: spectral.synthesis(s, p, length))
    real = view(batch['clean'])

    def generate(params):
      return nets.merge('generator', params, state['rest']['generator'])(batch['degraded'])

    metrics = {}
    ok = jnp.array(True)
    fake = jax.lax.stop_gradient(view(generate(state['params']['generator'])))
    for i in range(o.n_critic):
      k = jax.random.fold_in(rng, i)

      def critic_loss(cparams):
        critic_fn = lambda x: nets.merge('critic', cparams, state['rest']['critic'])(x)[0]
        real_logits = critic_fn(real)
        loss = critic_loss_fn(real_logits, critic_fn(fake))
        # What a critic that cannot tell real from fake scores (all logits 0), for the logs.
        zeros = [jnp.zeros_like(l) for l in real_logits]
        terms = {'critic/adversarial': loss, 'critic/at_chance': critic_loss_fn(zeros, zeros)}
        if o.gp_weight:
          keys = per_example_keys(k, real.shape[0], axis_name)
          terms['critic/gradient_penalty'] = adversarial.gradient_penalty(
            critic_fn, real, fake, keys
          )
          loss = loss + o.gp_weight * terms['critic/gradient_penalty']
        if o.r1_weight:
          terms['critic/r1'] = adversarial.r1_penalty(critic_fn, real)
          loss = loss + o.r1_weight * terms['critic/r1']
        return loss, terms

      (closs, cterms), cgrads = jax.value_and_grad(critic_loss, has_aux=True)(
        state['params']['critic']
      )
      state, info = _update(state, nets, 'critic', cgrads, closs, axis_name)
      ok = ok & info['ok']
    metrics.update(cterms, critic_loss=closs, critic_grad_norm=info['critic_grad_norm'])
    critic = nets.merge('critic', state['params']['critic'], state['rest']['critic'])
    _, real_features = critic(real)

    def generator_loss(gparams):
      pred = generate(gparams)
      logits, features = critic(view(pred))
      adv = generator_loss_fn(logits)
      fm = adversarial.feature_matching(real_features, features)
      recon, rterms = reconstruction.reconstruction_loss(
        pred, batch['clean'], params=p, length=length, weights=weights, sample_rate=sr
      )
      loss = o.adversarial_weight * adv + o.feature_matching_weight * fm + recon
      return loss, {
        'generator/adversarial': adv,
        'generator/feature_matching': fm,
        **{f'recon/{k}': v for k, v in rterms.items()},
      }

    (gloss, gterms), ggrads = jax.value_and_grad(generator_loss, has_aux=True)(
      state['params']['generator']
    )
    state, info = _update(state, nets, 'generator', ggrads, gloss, axis_name)
    metrics.update(gterms, loss=gloss, generator_grad_norm=info['generator_grad_norm'])
    return _finish(state, nets, config.train.ema_decay, ok & info['ok'], metrics, axis_name)

  return step


def denoiser_fn(nets: Networks, params, rest) -> Callable:
  """``net_fn(x_in, cond, c_noise)`` of the conditional denoiser (degraded spectrogram as cond)."""
  model = nets.merge('denoiser', params, rest)
  return lambda x, cond, c_noise: model(x, cond=cond, noise_level=c_noise)


def diffusion_step(config, nets: Networks) -> Step:
  """Denoising objective (EDM or VP-cosine) conditioned on the degraded spectrogram."""
  o = config.objective

  def step(state, batch, rng, *, axis_name=None):
    if axis_name is not None:  # distinct noise per device
      rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))

    x0 = diffusion.to_process(batch['clean'], batch['degraded'], o.space, o.residual_scale)

    def loss_fn(params):
      net_fn = denoiser_fn(nets, params, state['rest']['denoiser'])
      return diffusion.diffusion_loss(
        rng,
        net_fn,
        x0,
        batch['degraded'],
        schedule=o.schedule,
        target=o.target,
        sigma_data=o.sigma_data,
        p_mean=o.p_mean,
        p_std=o.p_std,
      )

    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params']['denoiser'])
    state, info = _update(state, nets, 'denoiser', grads, loss, axis_name)
    metrics = {
      'loss': loss,
      'diffusion/x0_mse': terms['x0_mse'],
      'denoiser_grad_norm': info['denoiser_grad_norm'],
    }
    return _finish(state, nets, config.train.ema_decay, info['ok'], metrics, axis_name)

  return step


def features_step(config, nets: Networks) -> Step:
  """Pretrains the projected critic's feature network: classify clean vs codec:bitrate."""

  def step(state, batch, rng, *, axis_name=None):
    del rng
    x = jnp.concatenate([batch['clean'], batch['degraded']])
    labels = jnp.concatenate([jnp.zeros_like(batch['degradation']), 1 + batch['degradation']])

    def loss_fn(params):
      logits = nets.merge('classifier', params, state['rest']['classifier'])(x)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
      return loss, jnp.mean(jnp.argmax(logits, -1) == labels)

    (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params']['classifier'])
    state, info = _update(state, nets, 'classifier', grads, loss, axis_name)
    metrics = {'loss': loss, 'accuracy': acc, 'classifier_grad_norm': info['classifier_grad_norm']}
    return _finish(state, nets, config.train.ema_decay, info['ok'], metrics, axis_name)

  return step


def make_step(config, nets: Networks) -> Step:
  """The pure step of ``config.method``."""
  if config.method in GAN_METHODS:
    return gan_step(config, nets)
  return {'regression': regression_step, 'diffusion': diffusion_step, 'features': features_step}[
    config.method
  ](config, nets)
