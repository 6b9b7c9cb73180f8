"""GANs: the shared U-Net as generator, judged by critics (minimax, hinge/LSGAN, Wasserstein-GP,
and the projected critic on frozen features). One class, three registered variants that differ
in the words the report prints; the loss, penalty and critic come from the config.

``model.noise_channels > 0`` makes the generator stochastic (Lattner & Nistal 2021): that many
channels of N(0, 1) join its input, drawn from the train step's rng and, at inference, from the
enhancer's (a chunk's sampling key), so a seed picks one of many plausible restorations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from restoration import spectral
from restoration.methods import base, common
from restoration.objectives import adversarial, reconstruction
from restoration.spectral import SpectralParams
from restoration.train import steps

# What the train step folds into its rng for the generator's noise (the critic updates fold in
# 0 .. n_critic - 1 for their penalty keys).
_NOISE_KEY = 2**31 - 1


def noise_channels(config) -> int:
  """The generator's N(0, 1) input channels (0: deterministic)."""
  return int(config.model.noise_channels)


def _noise(rng, degraded, channels: int, axis_name=None) -> jax.Array | None:
  """``[B, T, F, channels]`` of N(0, 1) beside ``degraded [B, T, F, 2]``, one key per global
  example (so jit and pmap, a batch and its parts, draw alike); None without noise channels."""
  if not channels:
    return None
  shape = (*degraded.shape[1:-1], channels)
  keys = steps.example_keys(rng, degraded.shape[0], axis_name)
  return jax.vmap(lambda k: jax.random.normal(k, shape, degraded.dtype))(keys)


def _score(logits) -> jax.Array:
  """A critic's verdict per example: its mean logit over heads and positions."""
  return sum(l.reshape(l.shape[0], -1).mean(axis=1) for l in logits) / len(logits)


class GAN(base.Method):
  family = 'GAN'
  history = ('loss', 'critic/adversarial', 'critic/at_chance', 'critic/accuracy')
  architecture = 'shared band-split U-Net + critic'
  specific_modules = (
    'restoration.objectives.adversarial',
    'restoration.models.discriminators',
  )

  def networks(self, config, rngs):
    from restoration.models import discriminators, features

    # The generator draws its initial weights first: a seed gives it the same ones, any critic.
    generator = common.unet(config, rngs, noise_channels=noise_channels(config))
    # Every caller passes ``noise=`` (drawn from its rng), so the generator keeps no rng stream
    # of its own: a typed key the checkpoint refuses, frozen inside a pure step anyway.
    generator.noise_rngs = nnx.data(None)
    feature_net = None
    if config.critic.kind == 'projected':
      feature_net = (
        features.load_feature_net(config.critic.feature_checkpoint, config.critic.preset)
        if config.critic.feature_checkpoint
        else features.random_feature_net(config.critic.preset, rngs)
      )
    critic = discriminators.make_critic(
      config.critic.kind,
      config.critic.preset,
      spectral=SpectralParams.from_config(config.spectral),
      feature_net=feature_net,
      rngs=rngs,
    )
    return {'generator': generator, 'critic': critic}

  def optimizers(self, config):
    return {
      'generator': common.make_optimizer(config, config.train.learning_rate),
      'critic': common.make_optimizer(config, config.train.critic_learning_rate),
    }

  def forward_inputs(self, config, name, spectrogram):
    if name == 'critic' and config.critic.kind != 'projected':  # waveform critics
      return (jnp.zeros((1, config.data.sample_rate)),), {}
    if name == 'generator' and noise_channels(config):  # values do not change the count
      return (spectrogram,), {'noise': jnp.zeros((*spectrogram.shape[:-1], noise_channels(config)))}
    return (spectrogram,), {}

  def enhancer(self, config, nets, *, steps=None):
    """One generator pass; a stochastic generator's noise comes from ``rng`` (same rng, same
    output)."""
    del steps
    n = noise_channels(config)

    def run(params, rest, degraded, rng):
      return nets.merge(self.main, params, rest)(degraded, noise=_noise(rng, degraded, n))

    return run

  def check(self, config, need):
    from restoration.models import discriminators

    kinds, losses = discriminators.CRITIC_KINDS, tuple(adversarial.ADVERSARIAL)
    a = config.objective.adversarial
    need(a.loss in losses, 'objective.adversarial.loss', f'one of {losses}')
    need(config.critic.kind in kinds, 'critic.kind', f'one of {", ".join(kinds)}')
    need(a.n_critic >= 1, 'objective.adversarial.n_critic', 'an integer >= 1')
    need(
      a.critic_warmup_steps >= 0,
      'objective.adversarial.critic_warmup_steps',
      'an integer >= 0 (generator steps without adversarial terms)',
    )
    need(config.train.critic_learning_rate > 0, 'train.critic_learning_rate', 'a positive float')
    n = config.model.noise_channels
    need(
      isinstance(n, int) and not isinstance(n, bool) and n >= 0,
      'model.noise_channels',
      'an integer >= 0 (N(0, 1) input channels of the generator; 0: deterministic)',
    )

  def describe(self, config):
    words = super().describe(config)
    if noise_channels(config):
      words['architecture'] += f'; noise input ({noise_channels(config)} N(0, 1) channels)'
    return words

  def validation_scores(self, config, nets):
    """Critic accuracy on held-out (clean, restored) pairs: the share of pairs whose clean
    clip scores higher (mean logit over heads) than its restoration, 0.5 at chance. It works
    for every loss, Wasserstein included, where a logit has no threshold."""
    p = SpectralParams.from_config(config.spectral)
    on_spectrogram = config.critic.kind == 'projected'

    def scores(state, batch, restored):
      length = batch['clean_wave'].shape[-1]
      view = (lambda s: s) if on_spectrogram else (lambda s: spectral.synthesis(s, p, length))
      critic = nets.merge('critic', state['params']['critic'], state['rest']['critic'])
      real, fake = (_score(critic(view(x))[0]) for x in (batch['clean'], restored))
      return {'critic_accuracy': (real > fake).astype(jnp.float32)}

    return scores

  def step(self, config, nets) -> base.Step:
    """n_critic critic updates (on the same batch, fresh penalty noise), then one generator
    update with adversarial + feature-matching + reconstruction terms."""
    o = config.objective.adversarial
    p = SpectralParams.from_config(config.spectral)
    critic_loss_fn, generator_loss_fn = adversarial.get_adversarial(o.loss)
    weights, sr = steps.reconstruction_weights(config), config.data.sample_rate
    on_spectrogram = config.critic.kind == 'projected'
    n_noise = noise_channels(config)

    def step(state, batch, rng, *, axis_name=None):
      length = batch['clean_wave'].shape[-1]
      view = (lambda s: s) if on_spectrogram else (lambda s: spectral.synthesis(s, p, length))
      real = view(batch['clean'])
      # A stochastic generator's noise: explicit (its own rng stream would not advance in a
      # pure step), one draw per step for the critic's fakes and the generator's loss alike.
      noise = _noise(jax.random.fold_in(rng, _NOISE_KEY), batch['degraded'], n_noise, axis_name)

      def generate(params):
        generator = nets.merge('generator', params, state['rest']['generator'])
        return generator(batch['degraded'], noise=noise)

      metrics = {}
      ok = jnp.array(True)
      fake = jax.lax.stop_gradient(view(generate(state['params']['generator'])))
      for i in range(o.n_critic):
        k = jax.random.fold_in(rng, i)

        def critic_loss(cparams):
          critic_fn = lambda x: nets.merge('critic', cparams, state['rest']['critic'])(x)[0]
          real_logits, fake_logits = critic_fn(real), critic_fn(fake)
          loss = critic_loss_fn(real_logits, fake_logits)
          # What a critic that cannot tell real from fake scores (all logits 0), for the logs.
          zeros = [jnp.zeros_like(l) for l in real_logits]
          terms = {
            'critic/adversarial': loss,
            'critic/at_chance': critic_loss_fn(zeros, zeros),
            'critic/accuracy': jnp.mean(_score(real_logits) > _score(fake_logits)),
          }
          if o.gp_weight:
            keys = steps.example_keys(k, real.shape[0], axis_name)
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
        state, info = steps.update(state, nets, 'critic', cgrads, closs, axis_name)
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
        # Critic warm-up: the generator ignores a critic that has not yet learnt anything.
        on = (state['step'] >= o.critic_warmup_steps).astype(recon.dtype)
        loss = on * (o.weight * adv + o.feature_matching_weight * fm) + recon
        return loss, {
          'generator/adversarial': adv,
          'generator/feature_matching': fm,
          **{f'recon/{k}': v for k, v in rterms.items()},
        }

      (gloss, gterms), ggrads = jax.value_and_grad(generator_loss, has_aux=True)(
        state['params']['generator']
      )
      state, info = steps.update(state, nets, 'generator', ggrads, gloss, axis_name)
      metrics.update(gterms, loss=gloss, generator_grad_norm=info['generator_grad_norm'])
      return steps.finish(state, nets, config.train.ema_decay, ok & info['ok'], metrics, axis_name)

    return step


base.register(
  GAN(
    'gan',
    objective='non-saturating minimax + feature matching + reconstruction; '
    'multi-resolution STFT critics',
    uses='real-time restoration (one network pass), streaming, on-device',
  )
)
base.register(
  GAN(
    'wgan',
    objective='Wasserstein + gradient penalty (n_critic critic steps) + reconstruction',
    uses='as GAN, when minimax training is unstable',
  )
)
base.register(
  GAN(
    'projected_gan',
    objective='hinge on a projected critic (frozen features, CCM, CSM, 4 heads) + feature matching',
    uses='as GAN; pretrained features speed up critic learning',
    specific_modules=GAN.specific_modules + ('restoration.models.features',),
  )
)
