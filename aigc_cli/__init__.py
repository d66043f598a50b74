"""aigc: train and run image generative models (GAN, VAE, denoiser) from YAML configs."""

__version__ = "0.1.0"
