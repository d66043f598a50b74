"""Building blocks shared by the model families, as small functional helpers."""

from __future__ import annotations

from keras import layers


def activation(x, name: str, slope: float = 0.2):
    """``leaky_relu`` (with ``slope``) or any Keras activation name."""
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=slope)(x)
    return layers.Activation(name)(x)


def conv_block(x, filters: int, kernel_size: int, strides: int = 1, *, transpose: bool = False,
               batch_norm: bool = False, act: str = "leaky_relu", slope: float = 0.2,
               dropout: float = 0.0):
    """Conv (or transposed conv) → optional BatchNorm → activation → optional dropout.

    The conv has no bias when BatchNorm follows (its shift would cancel it).
    """
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(filters, kernel_size, strides=strides, padding="same", use_bias=not batch_norm)(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
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
