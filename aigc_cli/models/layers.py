"""Building blocks shared by the model families, as small functional helpers."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops


def activation(x, name: str, slope: float = 0.2):
    """``leaky_relu`` (with ``slope``) or any Keras activation name."""
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=slope)(x)
    return layers.Activation(name)(x)


def spectral(layer, enabled: bool):
    """``layer`` wrapped in spectral normalisation when ``enabled``."""
    return layers.SpectralNormalization(layer) if enabled else layer


#: Normalisations ``conv_block`` offers. Batch normalisation mixes the examples of a
#: batch; group (Wu & He 2018, 8 groups or fewer) and layer normalisation work per
#: example, as differentially private training needs.
NORMALIZATIONS = ("batch", "group", "layer", "none")


def normalization(x, kind: str):
    """``x`` normalised by ``kind`` (one of ``NORMALIZATIONS``)."""
    if kind == "batch":
        return layers.BatchNormalization()(x)
    if kind == "group":
        channels = x.shape[-1]
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return layers.GroupNormalization(groups)(x)
    if kind == "layer":
        return layers.LayerNormalization()(x)
    return x


def conv_block(x, filters: int, kernel_size: int, strides: int = 1, *, transpose: bool = False,
               batch_norm: bool = False, act: str = "leaky_relu", slope: float = 0.2,
               dropout: float = 0.0, spectral_norm: bool = False, norm: str | None = None):
    """Conv (or transposed conv) → optional normalisation (``norm``, or batch norm with
    ``batch_norm``) → activation → optional dropout.

    The conv has no bias when a normalisation follows (its shift would cancel it).
    """
    norm = norm or ("batch" if batch_norm else "none")
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = spectral(conv(filters, kernel_size, strides=strides, padding="same",
                      use_bias=norm == "none"), spectral_norm)(x)
    x = normalization(x, norm)
    x = activation(x, act, slope)
    if dropout > 0:
        x = layers.Dropout(dropout)(x)
    return x


def dense_block(x, units: int, *, batch_norm: bool = False, act: str = "leaky_relu",
                slope: float = 0.2):
    """Dense → optional BatchNorm → activation."""
    x = layers.Dense(units, use_bias=not batch_norm)(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    return activation(x, act, slope)


def residual_block(x, kernel_size: int = 3, act: str = "swish"):
    """x + conv(act(conv(act(x)))) at constant width (He et al. 2016, pre-activation)."""
    filters = x.shape[-1]
    h = activation(x, act)
    h = layers.Conv2D(filters, kernel_size, padding="same")(h)
    h = activation(h, act)
    h = layers.Conv2D(filters, kernel_size, padding="same")(h)
    return layers.Add()([x, h])


@keras.saving.register_keras_serializable(package="aigc")
class MaskedConv2D(layers.Conv2D):
    """A causal convolution for autoregressive pixel models (van den Oord et al. 2016).

    Each output pixel sees only the pixels above it and to its left, in raster
    order; mask ``A`` also hides the pixel itself (for the first layer, which
    reads the image), mask ``B`` lets later layers see their own position.
    """

    def __init__(self, filters: int, kernel_size: int, mask_type: str = "B", **kwargs):
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        self.mask_type = mask_type

    def build(self, input_shape):
        super().build(input_shape)
        height, width = self.kernel_size
        mask = np.ones(self.kernel.shape, dtype="float32")  # [kh, kw, in, out]
        mask[height // 2, width // 2 + (self.mask_type == "B"):] = 0.0
        mask[height // 2 + 1:] = 0.0
        self.mask = ops.convert_to_tensor(mask)

    def call(self, inputs):
        # Cast both: Keras promotes a bfloat16 kernel times the float32 mask to float32,
        # which the convolution of a bfloat16 input refuses.
        kernel = ops.cast(self.kernel, self.compute_dtype) * ops.cast(self.mask,
                                                                     self.compute_dtype)
        outputs = self.convolution_op(inputs, kernel)
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self):
        config = super().get_config()
        config.pop("padding", None)
        return {**config, "mask_type": self.mask_type}


@keras.saving.register_keras_serializable(package="aigc")
class PixelShuffle(layers.Layer):
    """[N, H, W, C·s²] → [N, H·s, W·s, C] (sub-pixel upsampling, Shi et al. 2016);
    with ``inverse``, [N, H, W, C] → [N, H/s, W/s, C·s²]: each s x s block becomes channels."""

    def __init__(self, block_size: int = 2, inverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.block_size = block_size
        self.inverse = inverse

    def call(self, inputs):
        rearrange = tf.nn.space_to_depth if self.inverse else tf.nn.depth_to_space
        return rearrange(inputs, self.block_size)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size, "inverse": self.inverse}


@keras.saving.register_keras_serializable(package="aigc")
class MinibatchStdDev(layers.Layer):
    """[N, H, W, C] → [N, H, W, C+1]: appends the batch's feature standard deviation,
    averaged over features and positions, as one constant channel (Karras et al. 2018).

    A discriminator that sees it can tell a batch of near-identical fakes from a
    varied real batch, which pushes the generator away from mode collapse. Computed
    in float32 under mixed precision; the batch must hold one kind (real or fake).
    """

    def call(self, inputs):
        features = tf.cast(inputs, tf.float32)
        spread = tf.sqrt(tf.math.reduce_variance(features, axis=0) + 1e-8)  # [H, W, C]
        channel = tf.ones_like(features[..., :1]) * tf.reduce_mean(spread)
        return tf.concat([inputs, tf.cast(channel, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)
