"""Mixed precision, ``train.compute_dtype='bfloat16'``: every network's convolutions and dots run
in bfloat16 for every method, while parameters, optimizer state and EMA stay float32 in the
checkpoint; a 20-step bfloat16 run's logged loss tracks the float32 run's, and the bfloat16 run
restores in bfloat16 (the saved config rebuilds its networks); a bad value is a config error."""

import json
import re

import jax
import numpy as np
import pytest
from test_train import smoke_config

from restoration import inference, methods
from restoration import state as state_lib
from restoration.benchmark import synthetic_batch
from restoration.checkpoint import Checkpointer
from restoration.config import load_config
from restoration.errors import ConfigError
from restoration.inference import Restorer
from restoration.train import loop

# Tolerance: the relative difference of the mean logged loss over steps 11-20 (of 20; smoke logs
# every 2nd step) between the bfloat16 and the float32 run must stay under 1%. Measured on the
# 2-core CPU: 0.01% (regression) and 0.02% (GAN), at most 0.11% at any logged step; 1% leaves
# room for other machines' summation orders and still catches a loss computed in bfloat16.
LOSS_RTOL = 0.01


def conv_and_dot_types(text: str) -> list[str]:
  """The result type of every convolution and dot in lowered StableHLO text. The losses here
  have none (STFTs are FFTs), so these are the networks' layers."""
  ops = re.findall(r'stablehlo\.(?:convolution|dot_general).*-> tensor<[^>]*x(\w+)>', text)
  assert ops, 'no convolution or dot found in the lowered program'
  return ops


@pytest.mark.parametrize('method', methods.names())
def test_train_step_computes_in_bfloat16_and_keeps_float32_state(method):
  for dtype, want in (('float32', 'f32'), ('bfloat16', 'bf16')):
    c = load_config(method, 'smoke')
    c.train.compute_dtype = dtype
    state = state_lib.abstract_state(c, None)
    step = methods.get(method).step(c, state_lib.networks(c))
    lowered = jax.jit(step).lower(state, synthetic_batch(c), jax.random.key(0))
    assert set(conv_and_dot_types(lowered.as_text())) == {want}, (method, dtype)
    floats = {str(x.dtype) for x in jax.tree.leaves(state) if np.issubdtype(x.dtype, np.floating)}
    assert floats == {'float32'}, (method, dtype)


@pytest.mark.parametrize('method', ['regression', 'gan'])
def test_bfloat16_run_tracks_float32_and_restores_in_bfloat16(method, smoke_data_dir, tmp_path):
  mean_loss, curves = {}, {}
  for dtype in ('float32', 'bfloat16'):
    c = smoke_config(
      method, smoke_data_dir, num_steps=20, eval_every=20, checkpoint_every=20, compute_dtype=dtype
    )
    loop.train_and_evaluate(c, str(tmp_path / dtype))
    with open(tmp_path / dtype / 'train_log.jsonl') as f:
      history = json.loads(f.read().splitlines()[-1])['history']
    curves[dtype] = [h['loss'] for h in history]
    mean_loss[dtype] = np.mean([h['loss'] for h in history if h['step'] > 10])
  fp32, bf16 = mean_loss['float32'], mean_loss['bfloat16']
  print(f'{method}: mean loss, steps 11-20: float32 {fp32:.5f}, bfloat16 {bf16:.5f}')
  assert abs(bf16 - fp32) / abs(fp32) < LOSS_RTOL
  assert curves['bfloat16'] != curves['float32']  # bfloat16 really ran (not the same program)
  assert curves['float32'][-1] < curves['float32'][0]  # and the loss it tracks moved

  # The checkpoint stores exactly the float32 state's leaves, paths, shapes and dtypes.
  c_fp32 = smoke_config(method, smoke_data_dir, compute_dtype='float32')
  float32_state = state_lib.abstract_state(c_fp32, None)
  Checkpointer(tmp_path / 'bfloat16', read_only=True).check_compatible(float32_state)

  # Restore rebuilds the networks from the run's saved config: bfloat16 compute, float32 out.
  config, nets, params, rest, _ = inference.load_workdir(str(tmp_path / 'bfloat16'))
  x = synthetic_batch(config)['degraded']
  text = jax.jit(inference.enhancer(config, nets)).lower(params, rest, x, jax.random.key(0))
  assert set(conv_and_dot_types(text.as_text())) == {'bf16'}
  wave = 0.1 * np.sin(np.arange(16000) * 0.05).astype(np.float32)
  restored = Restorer(str(tmp_path / 'bfloat16')).restore(wave, 16000)
  assert restored.dtype == np.float32 and restored.shape == wave.shape
  assert np.all(np.isfinite(restored))


def test_unknown_compute_dtype_stops_the_run_with_one_line(smoke_data_dir, tmp_path):
  c = smoke_config('regression', smoke_data_dir, compute_dtype='float16x')
  with pytest.raises(ConfigError) as e:
    loop.train_and_evaluate(c, str(tmp_path / 'run'))
  assert str(e.value) == (
    "config.train.compute_dtype='float16x': expected one of float32, bfloat16"
  )


@pytest.mark.parametrize('method', ['regression', 'vocoder'])
def test_remat_recomputes_blocks_and_gives_the_same_step(method):
  """model.remat=True (U-Net and vocoder residual blocks under nnx.remat): the same updated
  parameters as without, and more FLOPs per step, since the blocks run again in the backward
  pass."""
  from restoration.models.unet import xla_flops

  params, flops = {}, {}
  for remat in (False, True):
    c = load_config(method, 'smoke')
    c.model.remat = remat
    nets, state, _ = state_lib.create(c)
    step = jax.jit(methods.get(method).step(c, nets)).lower(
      state, synthetic_batch(c), jax.random.key(0)
    )
    flops[remat] = xla_flops(step)
    state, _ = step.compile()(state, synthetic_batch(c), jax.random.key(0))
    params[remat] = jax.device_get(state['params'])
  assert flops[True] > flops[False], flops
  for a, b in zip(jax.tree.leaves(params[False]), jax.tree.leaves(params[True])):
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-5)
