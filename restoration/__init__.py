"""restoration: GAN vs diffusion vs regression restoration of codec-damaged audio (JAX/Flax)."""

__version__ = "0.1.0"
