"""Function-preserving growth of a plain conv+ReLU stack (Net2Net: Chen et al. 2016,
https://arxiv.org/abs/1511.05641).

A trained network's weights start a wider and deeper one that computes the same
function: added channels get random incoming and zero outgoing weights (they
compute, but feed nothing yet), added layers are identity convolutions, exact
after a ReLU because its outputs are non-negative. Fine-tuning then spends the
added capacity instead of relearning what the smaller network knew.
"""

from __future__ import annotations

import numpy as np


def grow_conv_stack(donor: list[np.ndarray], target_shapes: list[tuple[int, ...]],
                    seed: int = 0) -> list[np.ndarray]:
    """Grow a stack of biased convolutions, each but the last followed by a ReLU.

    Args:
        donor: its weights, [kernel, bias] per layer; hidden layers of one width.
        target_shapes: the grown stack's weight shapes in the same layout: the same
            kernel size, input and output channels, at least as many layers and a
            hidden width at least the donor's.
        seed: seeds the incoming weights of the added channels.

    Returns:
        Weights of ``target_shapes`` computing the donor's function.

    Raises:
        ValueError: the shapes do not allow it (batch norm, shrinking, other kernels).
    """
    donor_layers = conv_layers(donor, "the donor")
    target_kernels = [kernel for kernel, _ in conv_layers(target_shapes, "this model")]
    donor_kernels = [kernel.shape for kernel, _ in donor_layers]
    donor_width, target_width = hidden_width(donor_kernels), hidden_width(target_kernels)
    if (len({kernel[:2] for kernel in donor_kernels + target_kernels}) != 1
            or donor_kernels[0][2] != target_kernels[0][2]
            or donor_kernels[-1][3] != target_kernels[-1][3]
            or None in (donor_width, target_width)
            or len(target_kernels) < len(donor_kernels) or target_width < donor_width):
        raise ValueError(f"cannot grow {describe_stack(donor_kernels)} into "
                         f"{describe_stack(target_kernels)}: kernel size, input and output "
                         "channels must match, hidden layers have one width, and depth and "
                         "width may only grow")
    rng = np.random.default_rng(seed)
    grown, in_channels = [], target_kernels[0][2]
    for donor_index, shape in zip(_layer_plan(len(donor_kernels), len(target_kernels)),
                                  target_kernels):
        if donor_index is None:
            grown.append(_identity(shape, donor[0].dtype))
        else:
            grown.append(_widen(*donor_layers[donor_index], in_channels, shape[3], rng))
        in_channels = shape[3]
    return [array for layer in grown for array in layer]


def conv_layers(arrays, owner: str) -> list[tuple]:
    shapes = [tuple(getattr(a, "shape", a)) for a in arrays]
    if len(shapes) < 4 or len(shapes) % 2 or any(
            len(k) != 4 or b != (k[3],) for k, b in zip(shapes[::2], shapes[1::2])):
        raise ValueError(f"{owner} is not a stack of biased convolutions: batch norm layers "
                         "cannot grow or be slimmed (model.batch_norm: false on both)")
    return list(zip(arrays[::2], arrays[1::2]))


def hidden_width(kernels) -> int | None:
    widths = {kernel[3] for kernel in kernels[:-1]}
    return widths.pop() if len(widths) == 1 else None


def describe_stack(kernels) -> str:
    hidden = sorted({kernel[3] for kernel in kernels[:-1]})
    return f"{len(kernels)} layers of {'/'.join(map(str, hidden))} channels"


def _layer_plan(donor_depth: int, target_depth: int) -> list[int | None]:
    """Donor layer indices in order, with ``None`` (an identity layer) spread evenly
    after hidden layers (never before the first, whose input is not a ReLU's)."""
    hidden, extra = donor_depth - 1, target_depth - donor_depth
    identity_after = [(2 * j + 1) * hidden // (2 * extra) for j in range(extra)]
    plan = []
    for donor_index in range(donor_depth):
        plan.append(donor_index)
        plan.extend([None] * identity_after.count(donor_index))
    return plan


def _widen(kernel: np.ndarray, bias: np.ndarray, in_channels: int, out_channels: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    height, width, old_in, old_out = kernel.shape
    grown_kernel = np.zeros((height, width, in_channels, out_channels), kernel.dtype)
    # New output channels read every input (He-scaled, so they start active and learn);
    # new input channels stay zero into the old outputs, which therefore keep their values.
    fan_in = height * width * in_channels
    grown_kernel[..., old_out:] = rng.normal(0.0, np.sqrt(2.0 / fan_in),
                                             (height, width, in_channels, out_channels - old_out))
    grown_kernel[:, :, :old_in, :old_out] = kernel
    grown_bias = np.zeros((out_channels,), bias.dtype)
    grown_bias[:old_out] = bias
    return grown_kernel, grown_bias


def _identity(shape: tuple[int, ...], dtype) -> tuple[np.ndarray, np.ndarray]:
    height, width, in_channels, out_channels = shape
    kernel = np.zeros(shape, dtype)
    kernel[height // 2, width // 2] = np.eye(in_channels, out_channels, dtype=dtype)
    return kernel, np.zeros((out_channels,), dtype)
