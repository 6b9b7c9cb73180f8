"""Losses against hand-computed or independent (numpy / librosa) formulas."""

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

from restoration import spectral
from restoration.objectives import adversarial as adv
from restoration.objectives import diffusion as dif
from restoration.objectives import reconstruction as rec

# ----------------------------------------------------------------------------- adversarial

# Two heads: a [B, 3] logit map and one logit per example.
REAL = [
  np.array([[0.5, -1.0, 2.0], [0.0, 1.5, -0.3]], np.float32),
  np.array([1.2, -0.7], np.float32),
]
FAKE = [
  np.array([[-0.2, 0.8, -1.5], [0.4, -2.0, 0.1]], np.float32),
  np.array([-0.9, 0.3], np.float32),
]


def _softplus(x):
  return np.logaddexp(0.0, x)


def _heads(fn, logits):
  return sum(np.mean(fn(l)) for l in logits)


@pytest.mark.parametrize(
  'name, critic, generator',
  [
    (
      'non_saturating',
      lambda r, f: _heads(lambda x: _softplus(-x), r) + _heads(_softplus, f),
      lambda f: _heads(lambda x: _softplus(-x), f),
    ),
    (
      'hinge',
      lambda r, f: (
        _heads(lambda x: np.maximum(0, 1 - x), r) + _heads(lambda x: np.maximum(0, 1 + x), f)
      ),
      lambda f: _heads(lambda x: -x, f),
    ),
    (
      'lsgan',
      lambda r, f: _heads(lambda x: (x - 1) ** 2, r) + _heads(lambda x: x**2, f),
      lambda f: _heads(lambda x: (x - 1) ** 2, f),
    ),
    (
      'wasserstein',
      lambda r, f: _heads(lambda x: x, f) - _heads(lambda x: x, r),
      lambda f: _heads(lambda x: -x, f),
    ),
  ],
)
def test_adversarial_losses_match_numpy(name, critic, generator):
  critic_fn, generator_fn = adv.get_adversarial(name)
  real, fake = [jnp.asarray(r) for r in REAL], [jnp.asarray(f) for f in FAKE]
  np.testing.assert_allclose(critic_fn(real, fake), critic(REAL, FAKE), rtol=1e-6)
  np.testing.assert_allclose(generator_fn(fake), generator(FAKE), rtol=1e-6)


def test_adversarial_rejects_unknown_name_and_head_mismatch():
  with pytest.raises(ValueError, match='hinge'):
    adv.get_adversarial('minimax')
  with pytest.raises(ValueError, match='heads'):
    adv.hinge_critic(REAL, FAKE[:1])


@jax.jit
def _linear_critic_penalties(w_map, w_vec, real, fake):
  """GP and R1 of a two-head linear critic: head 0 is ``x @ W``, a [B, k] logit map (mean
  over k); head 1 is ``x @ w``, one logit per example."""
  critic = lambda x: [x.reshape(x.shape[0], -1) @ w_map, x.reshape(x.shape[0], -1) @ w_vec]
  return adv.gradient_penalty(critic, real, fake, jax.random.key(1)), adv.r1_penalty(critic, real)


@pytest.mark.parametrize('scale', [0.5, 2.0, 3.0])
def test_gradient_penalty_and_r1_of_linear_critic(scale):
  rng = np.random.default_rng(0)
  w_map = rng.normal(size=(12, 3)).astype(np.float32)
  w_vec = rng.normal(size=(12,)).astype(np.float32)
  # Scale so that the gradient of the summed head means has norm `scale`.
  grad = w_map.mean(axis=1) + w_vec
  w_map, w_vec = w_map * scale / np.linalg.norm(grad), w_vec * scale / np.linalg.norm(grad)
  real, fake = (rng.normal(size=(4, 3, 4)).astype(np.float32) for _ in range(2))
  gp, r1 = _linear_critic_penalties(w_map, w_vec, real, fake)
  np.testing.assert_allclose(gp, (scale - 1.0) ** 2, rtol=1e-5, atol=1e-6)
  expected = 0.5 * (np.sum(w_map.mean(axis=1) ** 2) + np.sum(w_vec**2))  # summed over heads
  np.testing.assert_allclose(r1, expected, rtol=1e-5)


def test_gradient_penalty_and_r1_use_per_example_norms():
  # D(x) = 0.5 |x|^2 has gradient x; real == fake pins the interpolate to x.
  scales = [[0.2], [0.5], [1.0], [1.5], [3.0]]  # gradient norms below and above 1
  x = jnp.asarray(np.random.default_rng(2).normal(size=(5, 7)) * scales, jnp.float32)
  critic = lambda v: [0.5 * jnp.sum(jnp.square(v), axis=1)]
  gp, r1 = jax.jit(
    lambda x: (adv.gradient_penalty(critic, x, x, jax.random.key(0)), adv.r1_penalty(critic, x))
  )(x)
  norms = np.linalg.norm(np.asarray(x), axis=1)
  np.testing.assert_allclose(gp, np.mean((norms - 1.0) ** 2), rtol=1e-5)
  np.testing.assert_allclose(r1, 0.5 * np.mean(norms**2), rtol=1e-5)


def test_feature_matching_matches_numpy_and_stops_real_gradient():
  rng = np.random.default_rng(3)
  shapes = [[(2, 5, 4), (2, 3)], [(2, 6), (2, 2, 2), (2, 9)]]
  real = [[rng.normal(size=s).astype(np.float32) for s in sub] for sub in shapes]
  fake = [[rng.normal(size=s).astype(np.float32) for s in sub] for sub in shapes]
  expected = sum(
    np.mean([np.mean(np.abs(r - f)) for r, f in zip(rs, fs)]) for rs, fs in zip(real, fake)
  )
  value, (grad_real, grad_fake) = jax.jit(jax.value_and_grad(adv.feature_matching, argnums=(0, 1)))(
    real, fake
  )
  np.testing.assert_allclose(value, expected, rtol=1e-6)
  assert all(np.all(np.asarray(g) == 0) for sub in grad_real for g in sub)
  assert all(np.any(np.asarray(g) != 0) for sub in grad_fake for g in sub)


# --------------------------------------------------------------------------- reconstruction

SR = 16000


def _waves(seed, batch=2, n=4096):
  rng = np.random.default_rng(seed)
  t = np.arange(n) / SR
  tone = np.sin(2 * np.pi * rng.uniform(200, 3000, size=(batch, 1)) * t)
  return (0.5 * tone + 0.1 * rng.normal(size=(batch, n))).astype(np.float32)


def _np_stft_mag(x, n_fft, hop, power_floor=1e-7):
  """Independent numpy STFT magnitude: centred zero padding, periodic Hann."""
  xp = np.pad(x, [(0, 0), (n_fft // 2, n_fft // 2)])
  window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
  n_frames = 1 + x.shape[-1] // hop
  frames = np.stack([xp[:, i * hop : i * hop + n_fft] for i in range(n_frames)], axis=1)
  return np.sqrt(np.maximum(np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2, power_floor))


def _np_mrstft(pred, target, n_fft, hop):
  sp, st = (_np_stft_mag(x.astype(np.float64), n_fft, hop) for x in (pred, target))
  sc = np.mean([np.linalg.norm(st[b] - sp[b]) / np.linalg.norm(st[b]) for b in range(len(st))])
  return sc, sc + np.mean(np.abs(np.log(st) - np.log(sp)))


def test_mrstft_loss_is_zero_for_identical_and_matches_numpy():
  pred, target = _waves(0), _waves(1)
  loss_fn = jax.jit(rec.multi_resolution_stft_loss)
  assert float(loss_fn(target, target)) == pytest.approx(0.0, abs=1e-6)
  sc, single = _np_mrstft(pred, target, 512, 128)
  mag = lambda x: jnp.asarray(_np_stft_mag(x.astype(np.float64), 512, 128), jnp.float32)
  np.testing.assert_allclose(rec.spectral_convergence(mag(pred), mag(target)), sc, rtol=1e-5)
  np.testing.assert_allclose(
    rec.multi_resolution_stft_loss(pred, target, resolutions=((512, 128),)), single, rtol=1e-4
  )
  expected = np.mean([_np_mrstft(pred, target, *r)[1] for r in rec.DEFAULT_RESOLUTIONS])
  np.testing.assert_allclose(loss_fn(pred, target), expected, rtol=1e-4)


def test_mel_l1_matches_librosa():
  pred, target = _waves(2), _waves(3)
  # librosa's melspectrogram(power=1, center=True, pad_mode="constant"), in numpy.
  fb = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=80)  # [mels, bins]
  mel = lambda y: _np_stft_mag(y.astype(np.float64), 1024, 256, power_floor=0.0) @ fb.T
  log_mel = lambda y: np.log(np.maximum(mel(y), 1e-5))  # [B, frames, mels]
  mel_l1 = jax.jit(lambda p, t: rec.mel_l1(p, t, sample_rate=SR))
  np.testing.assert_allclose(
    mel_l1(pred, target), np.mean(np.abs(log_mel(target) - log_mel(pred))), rtol=1e-3
  )
  assert float(mel_l1(target, target)) == 0.0


def test_complex_mse_matches_numpy():
  rng = np.random.default_rng(4)
  p, t = (rng.normal(size=(2, 5, 7, 2)).astype(np.float32) for _ in range(2))
  expected = np.mean(np.abs((p[..., 0] + 1j * p[..., 1]) - (t[..., 0] + 1j * t[..., 1])) ** 2)
  np.testing.assert_allclose(rec.complex_mse(p, t), expected, rtol=1e-6)
  with pytest.raises(ValueError, match='shape'):
    rec.complex_mse(p, t[:, :4])


def test_reconstruction_loss_combines_terms_on_synthesised_waves():
  params, n = spectral.SpectralParams(), 2048
  weights = {'mse': 1.0, 'mrstft': 0.5, 'mel': 0.25}
  pred_spec, target_spec = (spectral.analysis(jnp.asarray(_waves(s, n=n)), params) for s in (5, 6))

  @jax.jit
  def loss_and_parts(p, t):
    total, terms = rec.reconstruction_loss(p, t, params=params, length=n, weights=weights)
    pw, tw = spectral.synthesis(p, params, n), spectral.synthesis(t, params, n)
    parts = {
      'mse': rec.complex_mse(p, t),
      'mrstft': rec.multi_resolution_stft_loss(pw, tw),
      'mel': rec.mel_l1(pw, tw, sample_rate=SR),
    }
    return total, terms, parts

  total, terms, parts = loss_and_parts(pred_spec, target_spec)
  for k in weights:
    np.testing.assert_allclose(terms[k], parts[k], rtol=1e-5, err_msg=k)
  np.testing.assert_allclose(total, sum(weights[k] * parts[k] for k in weights), rtol=1e-5)
  assert float(loss_and_parts(target_spec, target_spec)[0]) == pytest.approx(0.0, abs=1e-5)
  # Silence (e.g. a zero-initialised generator) still gets finite, non-zero gradients.
  grad = jax.jit(jax.grad(lambda p: loss_and_parts(p, target_spec)[0]))(jnp.zeros_like(pred_spec))
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  _, only_mse = rec.reconstruction_loss(
    pred_spec, target_spec, params=params, length=n, weights={'mse': 1.0, 'mel': 0.0}
  )
  assert set(only_mse) == {'mse'}
  with pytest.raises(ValueError, match='unknown term'):
    rec.reconstruction_loss(pred_spec, target_spec, params=params, length=n, weights={'l1': 1.0})


# -------------------------------------------------------------------------------- diffusion

MU, S, SIGMA_DATA = 0.3, 0.8, 0.5  # data N(MU, S^2) deliberately != sigma_data


def _optimal(x, sigma, mu=MU, shrink=1.0):
  """MMSE denoiser of N(mu, S^2) data (``shrink`` != 1 perturbs it)."""
  sigma = sigma.reshape(sigma.shape + (1,) * (x.ndim - 1))
  return mu + shrink * S**2 / (S**2 + sigma**2) * (x - mu)


def _edm_net(shrink=1.0):
  """Network whose preconditioned output is ``_optimal``; ``cond`` carries the data mean."""

  def net(x_in, cond, c_noise):
    sigma = jnp.exp(4.0 * c_noise)  # inverts c_noise = log(sigma) / 4
    c_skip, c_out, c_in, _ = dif.edm_preconditioning(sigma, SIGMA_DATA)
    x = x_in / c_in[:, None]
    return (_optimal(x, sigma, cond, shrink) - c_skip[:, None] * x) / c_out[:, None]

  return net


def _vp_net(kind, shrink=1.0):
  """VP network predicting ``kind`` from the optimal x0 estimate."""

  def net(x_t, cond, c_noise):
    sigma_edm = jnp.exp(4.0 * c_noise)[:, None]
    alpha = 1.0 / jnp.sqrt(1.0 + sigma_edm**2)
    x0_hat = _optimal(x_t / alpha, sigma_edm[:, 0], cond, shrink)
    eps_hat = (x_t / alpha - x0_hat) / sigma_edm
    return dif.vp_target(kind, x0_hat, eps_hat, alpha[:, 0], (alpha * sigma_edm)[:, 0])

  return net


def test_edm_preconditioning_formulas_and_unit_weighted_target():
  sigma = jnp.asarray([0.002, 0.1, 0.5, 1.0, 80.0])
  c_skip, c_out, c_in, c_noise = dif.edm_preconditioning(sigma, SIGMA_DATA)
  s, sd = np.asarray(sigma, np.float64), SIGMA_DATA
  np.testing.assert_allclose(c_skip, sd**2 / (s**2 + sd**2), rtol=1e-5)
  np.testing.assert_allclose(c_out, s * sd / np.sqrt(s**2 + sd**2), rtol=1e-5)
  np.testing.assert_allclose(c_in, 1 / np.sqrt(s**2 + sd**2), rtol=1e-5)
  np.testing.assert_allclose(c_noise, np.log(s) / 4, rtol=1e-5)
  np.testing.assert_allclose(dif.edm_loss_weight(sigma, SIGMA_DATA) * c_out**2, 1.0, rtol=1e-5)
  # A zero network leaves the skip path: D(x) = c_skip x.
  x = jnp.ones((5, 3))
  d = dif.edm_denoise(lambda x_in, cond, c: jnp.zeros_like(x_in), x, sigma, None, SIGMA_DATA)
  np.testing.assert_allclose(d, np.broadcast_to(np.asarray(c_skip)[:, None], (5, 3)), rtol=1e-6)


def test_lognormal_sigma_statistics():
  log_sigma = np.log(np.asarray(dif.sample_sigma_lognormal(jax.random.key(0), (20000,), -1.2, 1.2)))
  assert abs(log_sigma.mean() + 1.2) < 0.05 and abs(log_sigma.std() - 1.2) < 0.05


def _expect_over_lognormal(fn, p_mean=-1.2, p_std=1.2):
  z, w = np.polynomial.hermite_e.hermegauss(80)
  return np.sum(w * fn(np.exp(p_mean + p_std * z))) / np.sqrt(2 * np.pi)


def _expect_over_vp_t(fn):
  # sigma_edm = sigma_t / alpha = tan(pi t / 2), t uniform over the EDM noise range.
  t_min, t_max = (2 / np.pi * np.arctan(s) for s in (dif.SIGMA_MIN, dif.SIGMA_MAX))
  t = np.linspace(t_min, t_max, 200001)
  return np.mean(fn(np.tan(0.5 * np.pi * t)))


X0 = MU + S * jax.random.normal(jax.random.key(7), (8192, 8))
COND = jnp.asarray(MU)


def test_edm_loss_optimal_denoiser_is_minimal_and_matches_analytic():
  rng = jax.random.split(jax.random.key(11), X0.shape[0])
  loss_fn = jax.jit(
    lambda shrink: dif.diffusion_loss(rng, _edm_net(shrink), X0, COND, sigma_data=SIGMA_DATA)[0]
  )
  best = float(loss_fn(1.0))
  assert best < float(loss_fn(0.9)) and best < float(loss_fn(1.1))
  mmse = lambda s: S**2 * s**2 / (S**2 + s**2)
  weight = lambda s: (s**2 + SIGMA_DATA**2) / (s * SIGMA_DATA) ** 2
  analytic = _expect_over_lognormal(lambda s: weight(s) * mmse(s))
  assert best == pytest.approx(analytic, rel=0.03)


# x0-space weight that each VP target's plain MSE implies (see restoration.objectives.diffusion).
_VP_WEIGHT = {'x0': lambda s: 1.0, 'eps': lambda s: 1.0 / s**2, 'v': lambda s: (1.0 + s**2) / s**2}


@pytest.mark.parametrize('kind', dif.VP_TARGETS)
def test_vp_loss_optimal_predictor_is_minimal_and_matches_analytic(kind):
  rng = jax.random.split(jax.random.key(12), X0.shape[0])
  loss_fn = jax.jit(
    lambda shrink: dif.diffusion_loss(
      rng, _vp_net(kind, shrink), X0, COND, schedule='vp_cosine', target=kind
    )
  )
  best, metrics = loss_fn(1.0)
  assert float(best) < float(loss_fn(0.9)[0]) and float(best) < float(loss_fn(1.1)[0])
  mmse = lambda s: S**2 * s**2 / (S**2 + s**2)
  assert float(metrics['x0_mse']) == pytest.approx(_expect_over_vp_t(mmse), rel=0.03)
  analytic = _expect_over_vp_t(lambda s: _VP_WEIGHT[kind](s) * mmse(s))
  assert float(best) == pytest.approx(analytic, rel=0.03)


def test_vp_targets_round_trip_to_x0():
  rng = np.random.default_rng(5)
  x0, eps = (rng.normal(size=(6, 4, 5, 2)).astype(np.float32) for _ in range(2))
  t = np.linspace(0.05, 0.9, 6, dtype=np.float32)
  alpha, sigma = (np.asarray(v) for v in dif.cosine_alpha_sigma(t))
  x_t = alpha[:, None, None, None] * x0 + sigma[:, None, None, None] * eps

  @jax.jit
  def round_trips(x0, eps, x_t, alpha, sigma):
    return [
      dif.vp_denoised(k, dif.vp_target(k, x0, eps, alpha, sigma), x_t, alpha, sigma)
      for k in dif.VP_TARGETS
    ]

  for kind, x0_back in zip(dif.VP_TARGETS, round_trips(x0, eps, x_t, alpha, sigma)):
    np.testing.assert_allclose(x0_back, x0, atol=2e-5, err_msg=kind)


@pytest.mark.parametrize(
  'schedule, kind', [('edm', 'x0')] + [('vp_cosine', k) for k in dif.VP_TARGETS]
)
def test_denoiser_adapter_recovers_optimal_denoiser(schedule, kind):
  net = _edm_net() if schedule == 'edm' else _vp_net(kind)
  denoise = dif.denoiser(net, COND, schedule=schedule, target=kind, sigma_data=SIGMA_DATA)
  sigma = jnp.asarray([0.01, 0.3, 1.0, 5.0, 60.0])
  x = jax.random.normal(jax.random.key(4), (5, 8)) * jnp.sqrt(S**2 + sigma[:, None] ** 2) + MU
  np.testing.assert_allclose(jax.jit(denoise)(x, sigma), _optimal(x, sigma), rtol=1e-4, atol=1e-5)


def test_diffusion_config_errors():
  with pytest.raises(ValueError, match='schedule'):
    dif.diffusion_loss(jax.random.key(0), _edm_net(), X0, COND, schedule='ddpm')
  with pytest.raises(ValueError, match='vp_cosine'):
    dif.diffusion_loss(jax.random.key(0), _edm_net(), X0, COND, target='eps')
  with pytest.raises(ValueError, match='target'):
    dif.denoiser(_edm_net(), COND, schedule='vp_cosine', target='score')


def test_residual_process_round_trips_and_rejects_unknown_space():
  clean, degraded = X0[:2], X0[2:4]
  x = dif.to_process(clean, degraded, 'residual', 0.1)
  np.testing.assert_allclose(x, (clean - degraded) / 0.1, rtol=1e-6)
  np.testing.assert_allclose(dif.from_process(x, degraded, 'residual', 0.1), clean, atol=1e-6)
  assert dif.to_process(clean, degraded, 'clean', 0.1) is clean
  assert dif.from_process(x, degraded, 'clean', 0.1) is x
  with pytest.raises(ValueError, match="space 'wave'"):
    dif.to_process(clean, degraded, 'wave', 0.1)
