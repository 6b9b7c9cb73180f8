"""One module per method, found by name: ``methods.get(config.method)`` (see ``base.py``)."""

from restoration.methods.base import (
  COMPUTE_DTYPES,
  Enhancer,
  Method,
  Step,
  code_lines,
  compute_dtype,
  forward_gflops_per_audio_second,
  get,
  lr_schedule,
  make_optimizer,
  names,
  register,
  run_facts,
  unet,
  with_compute_dtype,
)
