"""Model-family config sections: one frozen dataclass per ``model.type``.

Each declares the optimizers its family trains (``optimizers``) and checks
what needs other sections (``check(dataset)``). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Optional

from aigc_cli.config.schema import option
from aigc_cli.config.sections import DatasetConfig
from aigc_cli.errors import ConfigError


@dataclass(frozen=True)
class DCGANConfig:
    """A DCGAN: Dense projection → transposed convolutions; strided-conv critic."""

    optimizers: ClassVar[tuple[str, ...]] = ("generator", "discriminator")

    type: str = option("dcgan", "model family (registry name)")
    latent_dim: int = option(100, "size of the generator's input noise vector", min=1, max=16384)
    generator_widths: tuple[int, ...] = option(
        (256, 128, 64), "channels of the Dense projection, then of each hidden "
        "Conv2DTranspose; the last layers upsample 2x", min=1, max=8192)
    discriminator_widths: tuple[int, ...] = option(
        (64, 128), "channels of each stride-2 Conv2D in the discriminator", min=1, max=8192)
    kernel_size: int = option(5, "convolution kernel size in both networks", min=1, max=31)
    dropout: float = option(0.3, "dropout after each discriminator conv", min=0.0, max=0.99)
    batch_norm: bool = option(True, "batch normalisation in the generator")
    leaky_relu_slope: float = option(0.3, "negative slope of the LeakyReLU activations",
                                     min=0.0, max=1.0)
    loss: Literal["non_saturating", "hinge", "least_squares", "wasserstein"] = option(
        "non_saturating", "GAN loss (wasserstein wants gradient_penalty > 0)")
    gradient_penalty: float = option(0.0, "WGAN-GP weight: (norm of grad D(x_hat) - 1)^2 at "
                                     "random points between real and fake images (10 is usual)",
                                     min=0.0)
    r1_gamma: float = option(0.0, "R1 penalty weight: gamma/2 squared norm of grad D(x) "
                             "on real images",
                             min=0.0)
    diff_augment: tuple[Literal["color", "translation", "cutout"], ...] = option(
        (), "differentiable augmentations of real and fake images before the discriminator "
        "(DiffAugment, Zhao et al. 2020)")
    spectral_norm: bool = option(False, "spectral normalisation of the discriminator's "
                                 "layers (Miyato et al. 2018)")
    ema_decay: Optional[float] = option(
        None, "keep an exponential moving average of the generator's weights with this decay "
        "(e.g. 0.999); sample and eval then use it", min=0.0, max=1.0, min_exclusive=True)
    minibatch_std: bool = option(False, "append the batch's feature standard deviation as a "
                                 "channel before the discriminator's output (Karras et al. "
                                 "2018): counters mode collapse")
    mode_seeking: float = option(0.0, "weight of the mode-seeking term (MSGAN, Mao et al. "
                                 "2019; 1 is usual): rewards the generator for giving two "
                                 "latents of one class different images", min=0.0)
    num_classes: int = option(0, "class-conditional generation with this many classes (the "
                              "dataset's labels, e.g. 10 for Fashion-MNIST; `aigc sample "
                              "--class N`); 0: unconditional", min=0, max=100000)

    def check(self, dataset: DatasetConfig) -> None:
        """Cross-section checks that need the image size."""
        if not self.generator_widths:
            raise ConfigError("model.generator_widths must list at least one width",
                              key="model.generator_widths")
        if not self.discriminator_widths:
            raise ConfigError("model.discriminator_widths must list at least one width",
                              key="model.discriminator_widths")
        if upsampling_plan(dataset.image_size, len(self.generator_widths))[1] < 1:
            raise ConfigError(
                f"dataset.image_size {dataset.image_size} cannot be reached by doubling "
                "from a small base; use a size like 28, 32, 48 or 64",
                key="dataset.image_size")


def upsampling_plan(image_size: int, max_doublings: int) -> tuple[int, int]:
    """(base size, number of 2x upsamplings) for a generator ending at image_size.

    Halves the image size while it stays an even number ≥ 8, at most
    ``max_doublings`` times: 28 → base 7 after 2, 32 → base 4 after 3.
    """
    base, doublings = image_size, 0
    while doublings < max_doublings and base % 2 == 0 and base >= 8:
        base, doublings = base // 2, doublings + 1
    return base, doublings


@dataclass(frozen=True)
class VAEConfig:
    """A convolutional VAE: encoder → (z_mean, z_log_var) → z → decoder (Kingma & Welling 2014)."""

    optimizers: ClassVar[tuple[str, ...]] = ("vae",)

    type: str = option("vae", "model family (registry name)")
    latent_dim: int = option(32, "size of the latent vector z", min=1, max=16384)
    top_latent_dim: int = option(
        0, "size of a second, global latent above z (two levels, top-down: p(z_top) "
        "p(z | z_top), q(z_top | x) q(z | x, z_top); Ladder VAE / NVAE); 0: one level",
        min=0, max=16384)
    encoder_widths: tuple[int, ...] = option(
        (32, 64), "channels of each stride-2 conv in the encoder; the decoder mirrors them",
        min=1, max=8192)
    residual_blocks: int = option(0, "residual blocks after each conv, in both networks",
                                  min=0, max=256)
    hidden_units: int = option(256, "Dense layer between conv features and the latent "
                               "(0: none)", min=0, max=65536)
    kernel_size: int = option(3, "convolution kernel size", min=1, max=31)
    activation: Literal["relu", "leaky_relu", "swish", "elu", "gelu"] = option(
        "swish", "activation after each layer")
    likelihood: Literal["bernoulli", "gaussian"] = option(
        "bernoulli", "likelihood of each pixel given z; bernoulli treats pixel values in [0, 1] as "
        "probabilities")
    gaussian_scale: Optional[float] = option(
        None, "fixed std-dev of the gaussian likelihood (in [0, 1] pixel units); null learns "
        "one per pixel", min=0.0, min_exclusive=True)
    autoregressive_layers: int = option(
        0, "masked-conv layers of a PixelCNN head that conditions each pixel on the pixels "
        "above and left of it (PixelVAE, Gulrajani et al. 2017); 0: independent pixels",
        min=0, max=64)
    autoregressive_width: int = option(16, "channels of the autoregressive head", min=1, max=4096)
    auxiliary_weight: float = option(
        0.0, "with a head: weight of a second, factorised likelihood of the image given z, read "
        "from the same decoder and trained with it (auxiliary guided autoregressive VAE, "
        "Lucas & Verbeek 2018): z must then carry the image, and samples and reconstructions "
        "are its mean image, one pass; the ELBO stays the head's; 0: none", min=0.0)
    beta: float = option(1.0, "weight of the KL term (beta-VAE; 1 is the true ELBO)", min=0.0)
    kl_warmup_steps: int = option(0, "ramp the KL weight linearly from 0 to beta over these "
                                  "steps", min=0)
    free_bits: float = option(
        0.0, "nats each latent group may hold before the KL term charges for it, on a batch's "
        "average (free bits, Kingma et al. 2016): keeps a powerful decoder from ignoring z; "
        "0: the plain ELBO", min=0.0)
    free_bits_groups: Optional[int] = option(
        None, "equal groups of latent dimensions that model.free_bits applies to; null: one "
        "per dimension", min=1)
    prior_components: int = option(
        0, "sample from a mixture of this many full-covariance Gaussians fitted to the "
        "training images' posterior means after training (ex-post density estimation, Ghosh "
        "et al. 2020) instead of N(0, I); components holding under 100 images are never sampled; "
        "the ELBO stays the N(0, I) model's; 0: N(0, I)", min=0, max=1024)

    def check(self, dataset: DatasetConfig) -> None:
        """Cross-section checks that need the image size."""
        if not self.encoder_widths:
            raise ConfigError("model.encoder_widths must list at least one width",
                              key="model.encoder_widths")
        dims = self.latent_dim + self.top_latent_dim
        if self.free_bits_groups and dims % self.free_bits_groups:
            raise ConfigError(f"model.free_bits_groups {self.free_bits_groups} must divide the "
                              f"latent dimensions ({dims}: model.latent_dim + "
                              "model.top_latent_dim)", key="model.free_bits_groups")
        if self.auxiliary_weight and not self.autoregressive_layers:
            raise ConfigError("model.auxiliary_weight needs a pixel head to guide: set "
                              "model.autoregressive_layers >= 1, or auxiliary_weight: 0",
                              key="model.auxiliary_weight")
        factor = 2 ** len(self.encoder_widths)
        if dataset.image_size % factor:
            raise ConfigError(
                f"dataset.image_size {dataset.image_size} must be divisible by {factor} "
                f"(one halving per model.encoder_widths entry)", key="dataset.image_size")


@dataclass(frozen=True)
class ClassifierConfig:
    """A small CNN classifier; its penultimate layer is a feature extractor for FID."""

    optimizers: ClassVar[tuple[str, ...]] = ("classifier",)

    type: str = option("classifier", "model family (registry name)")
    widths: tuple[int, ...] = option((32, 64, 128), "channels of each conv stage (two 3x3 "
                                     "convs, then 2x2 max-pooling)", min=1, max=8192)
    feature_units: int = option(128, "width of the feature layer used for FID/KID", min=1,
                                max=65536)
    num_classes: int = option(10, "number of labels", min=2, max=100000)
    dropout: float = option(0.3, "dropout before the output layer", min=0.0, max=0.99)
    normalization: Literal["batch", "group", "layer", "none"] = option(
        "batch", "after each conv: batch normalisation, or group / layer normalisation "
        "(per example: what differentially private training needs), or none")

    def check(self, dataset: DatasetConfig) -> None:
        """The classifier pools by 2 per stage; the image must survive that."""
        if dataset.image_size < 2 ** len(self.widths):
            raise ConfigError(f"dataset.image_size {dataset.image_size} is too small for "
                              f"{len(self.widths)} pooling stages", key="dataset.image_size")




@dataclass(frozen=True)
class DenoiserConfig:
    """A residual CNN that predicts the noise in an image (DnCNN, Zhang et al. 2017),
    optionally told the noise level and run at half resolution (FFDNet, Zhang et al. 2018)."""

    optimizers: ClassVar[tuple[str, ...]] = ("denoiser",)

    type: str = option("denoiser", "model family (registry name)")
    depth: int = option(17, "convolution layers, first and last included", min=3, max=1000)
    width: int = option(64, "channels of the hidden layers", min=1, max=8192)
    kernel_size: int = option(3, "convolution kernel size", min=1, max=31)
    batch_norm: bool = option(True, "batch normalisation in the hidden layers")
    noise_map: bool = option(True, "give the network the noise level as an extra input "
                             "channel, so one model serves every sigma (FFDNet)")
    half_resolution: bool = option(False, "process 2x2 pixel blocks as channels at half "
                                   "resolution (FFDNet): about 4x less compute per image")

    def check(self, dataset: DatasetConfig) -> None:
        """A denoiser trains on synthesized noise."""
        if dataset.noise is None:
            raise ConfigError("a denoiser trains on noisy copies of clean images: set "
                              "dataset.noise.sigma (e.g. 25, or [0, 55] for blind training)",
                              key="dataset.noise")
        if dataset.noise.level_map and not self.noise_map:
            raise ConfigError("dataset.noise.level_map tells the network its noise level, but "
                              "model.noise_map is false (no level input): set one of them",
                              key="dataset.noise.level_map")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"model.kernel_size must be odd, got {self.kernel_size}: an even "
                              "kernel shifts the image by half a pixel per layer",
                              key="model.kernel_size")
        if self.half_resolution and dataset.image_shape[0] % 2:
            key = _example_size_key(dataset)
            raise ConfigError(f"{key} must be even with model.half_resolution, got "
                              f"{dataset.image_shape[0]}", key=key)


def _example_size_key(dataset: DatasetConfig) -> str:
    """The key that sets the training example's size: the patch, else the whole image."""
    return "dataset.patch_size" if dataset.patch_size else "dataset.image_size"




@dataclass(frozen=True)
class DenoisingVAEConfig:
    """A VAE that encodes a noisy image (and its noise level) into a spatial latent map
    and decodes the clean image: the VAE family's answer to denoising."""

    optimizers: ClassVar[tuple[str, ...]] = ("denoising_vae",)

    type: str = option("denoising_vae", "model family (registry name)")
    widths: tuple[int, ...] = option((32, 64), "channels of each stride-2 encoder conv; "
                                     "the decoder mirrors them", min=1, max=8192)
    latent_channels: int = option(8, "channels of the latent map (at 1/2^len(widths) "
                                  "resolution)", min=1, max=4096)
    kernel_size: int = option(3, "convolution kernel size", min=1, max=31)
    activation: Literal["relu", "leaky_relu", "swish", "elu", "gelu"] = option(
        "swish", "activation after each layer")
    reconstruction_scale: float = option(0.05, "std-dev of the Gaussian likelihood of the "
                                         "clean image, in [0, 1] units", min=0.0,
                                         min_exclusive=True)
    beta: float = option(1.0, "weight of the KL term", min=0.0)
    free_bits: float = option(
        0.0, "nats each latent element (one channel at one position) may hold before the KL "
        "term charges for it, on the batch's and positions' average per channel (free bits, "
        "as model.free_bits of the VAE): lets the latent map carry texture; 0: the plain ELBO",
        min=0.0)

    def check(self, dataset: DatasetConfig) -> None:
        """Trains on synthesized noise, on patches the encoder can halve cleanly."""
        DenoiserConfig.check(DenoiserConfig(kernel_size=self.kernel_size), dataset)
        factor = 2 ** len(self.widths)
        if dataset.image_shape[0] % factor:
            key = _example_size_key(dataset)
            raise ConfigError(f"{key} must be a multiple of {factor} (one halving per "
                              f"model.widths entry), got {dataset.image_shape[0]}", key=key)


@dataclass(frozen=True)
class DiffusionConfig:
    """A diffusion model in EDM's formulation (Karras et al. 2022): a U-Net denoiser
    D(x; sigma), preconditioned, trained on log-normal noise levels, sampled by an ODE."""

    optimizers: ClassVar[tuple[str, ...]] = ("denoiser",)

    type: str = option("diffusion", "model family (registry name)")
    widths: tuple[int, ...] = option((64, 128, 128), "U-Net channels at each resolution, "
                                     "full first; each later level halves the size (odd sizes "
                                     "round up: 28, 14, 7, 4)", min=1, max=8192)
    blocks_per_level: int = option(2, "residual blocks at each level, on the way down (the "
                                   "way up has one more)", min=1, max=64)
    attention_resolutions: tuple[int, ...] = option(
        (), "image sizes (e.g. 7 or 8) at which blocks add multi-head self-attention",
        min=1, max=4096)
    attention_heads: int = option(4, "heads of each self-attention", min=1, max=64)
    dropout: float = option(0.0, "dropout inside each residual block", min=0.0, max=0.99)
    embedding_dim: Optional[int] = option(None, "size of the noise-level (and class) "
                                          "embedding (default: 4x widths[0])", min=1)
    sigma_data: float = option(0.5, "std-dev of the data (images in [-1, 1]): sets the "
                               "preconditioning", min=0.0, min_exclusive=True)
    p_mean: float = option(-1.2, "mean of log sigma during training (EDM: -1.2)")
    p_std: float = option(1.2, "std-dev of log sigma during training (EDM: 1.2)", min=0.0,
                          min_exclusive=True)
    sigma_min: float = option(0.002, "smallest noise level the sampler visits", min=0.0,
                              min_exclusive=True)
    sigma_max: float = option(80.0, "noise level sampling starts from", min=0.0,
                              min_exclusive=True)
    rho: float = option(7.0, "curvature of the sampler's noise-level schedule (EDM: 7)",
                        min=0.0, min_exclusive=True)
    sampler: Literal["heun", "euler", "dpmpp_2m"] = option(
        "dpmpp_2m", "ODE sampler `aigc sample` and `aigc eval` use (`--sampler`)")
    sample_steps: int = option(10, "noise levels the sampler visits (`--steps`); network "
                               "evaluations per image: this for euler and dpmpp_2m, "
                               "2x-1 for heun", min=1, max=10000)
    guidance: float = option(1.0, "class-conditional models: classifier-free guidance "
                             "weight (0: unconditional, 1: conditional, above 1: stronger; "
                             "other than 0 or 1 costs a second evaluation per step)", min=0.0)
    label_dropout: float = option(0.1, "class-conditional models: share of training "
                                  "examples shown without their label, so one network is "
                                  "also the unconditional model guidance needs",
                                  min=0.0, max=1.0)
    ema_decay: Optional[float] = option(0.999, "exponential moving average of the weights "
                                        "(sample, eval and grids use it); null: none",
                                        min=0.0, max=1.0, min_exclusive=True)
    num_classes: int = option(0, "class-conditional generation with this many classes (the "
                              "dataset's labels); 0: unconditional", min=0, max=100000)

    def check(self, dataset: DatasetConfig) -> None:
        """Trains on clean images (it makes its own noise), in gray or RGB."""
        if dataset.noise is not None:
            raise ConfigError("a diffusion model draws its own noise levels; remove "
                              "dataset.noise", key="dataset.noise")
        if dataset.image_shape[-1] not in (1, 3):
            raise ConfigError(f"dataset.channels must be 1 or 3, got {dataset.image_shape[-1]}",
                              key="dataset.channels")
        if not self.widths:
            raise ConfigError("model.widths must list at least one width", key="model.widths")
        if self.sigma_min >= self.sigma_max:
            raise ConfigError(f"model.sigma_min ({self.sigma_min}) must be below "
                              f"model.sigma_max ({self.sigma_max})", key="model.sigma_min")


MODEL_CONFIGS: dict[str, type] = {"dcgan": DCGANConfig, "vae": VAEConfig,
                                  "classifier": ClassifierConfig, "denoiser": DenoiserConfig,
                                  "denoising_vae": DenoisingVAEConfig,
                                  "diffusion": DiffusionConfig}
