"""Losses and samplers as pure JAX functions; networks come in as callables.

- ``adversarial``: GAN critic/generator losses, gradient penalty, R1, feature matching.
- ``reconstruction``: multi-resolution STFT, mel and complex-spectrogram losses.
- ``diffusion``: EDM and VP-cosine noise processes, preconditioning and the training loss.
- ``sampling``: deterministic Euler / Heun / DDIM-like samplers over a sigma schedule.
"""
