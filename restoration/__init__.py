"""restoration: GAN vs diffusion vs regression restoration of codec-damaged audio (JAX/Flax)."""

import jax as _jax

# Partitionable threefry makes XLA:CPU spend tens of seconds compiling each random draw of a
# new shape (every parameter initialiser, every noise tensor). The classic scheme compiles in
# well under a second and is just as deterministic under sharding (values are computed
# replicated and sliced), so a run draws the same numbers on 1 or 1000 devices.
_jax.config.update('jax_threefry_partitionable', False)

__version__ = '0.1.0'
