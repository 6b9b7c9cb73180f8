"""One module per method, found by name: ``methods.get(config.method)`` (see ``base.py``).

The package's public names: the interface and registry (``base``), the shared builders
(``common``) and the report's costs (``costs``).
"""

from restoration.methods.base import Enhancer, Method, Step, get, names, register
from restoration.methods.common import (
  COMPUTE_DTYPES,
  compute_dtype,
  lr_schedule,
  make_optimizer,
  unet,
  with_compute_dtype,
)
from restoration.methods.costs import code_lines, forward_gflops_per_audio_second, run_facts
