"""One module per method, found by name: ``methods.get(config.method)`` (see ``base.py``)."""

from restoration.methods.base import (
  Enhancer,
  Method,
  Step,
  code_lines,
  forward_gflops_per_audio_second,
  get,
  lr_schedule,
  make_optimizer,
  names,
  register,
  run_facts,
  unet,
)
