"""Function-preserving growth of a plain conv+ReLU stack (Net2Net: Chen et al. 2016,
https://arxiv.org/abs/1511.05641).

A trained network's weights start a wider and deeper one that computes the same
function: added channels take random inputs and feed nothing (zero outgoing
weights), added layers are identity convolutions, exact after a ReLU because its
outputs are non-negative. Fine-tuning then spends the added capacity instead of
relearning what the smaller network knew.
"""

from __future__ import annotations

import numpy as np


def grow_conv_stack(donor: list[np.ndarray], target_shapes: list[tuple[int, ...]],
                    seed: int = 0) -> list[np.ndarray]:
    """``donor``'s (kernel, bias) pairs of convs, each but the last followed by a
    ReLU, grown to ``target_shapes``: same input and output channels and kernel
    size, at least as many layers and hidden channels. Raises ValueError otherwise."""
    donor_layers, target_layers = _pairs(donor, "the donor"), _pairs(target_shapes, "this model")
    donor_kernels = [kernel.shape for kernel, _ in donor_layers]
    target_kernels = [kernel for kernel, _ in target_layers]
    if (len({k[:2] for k in donor_kernels + target_kernels}) != 1
            or donor_kernels[0][2] != target_kernels[0][2]
            or donor_kernels[-1][3] != target_kernels[-1][3]
            or len(target_layers) < len(donor_layers)
            or any(t < d for (*_, d), (*_, t) in zip(donor_kernels[:-1], target_kernels[:-1]))):
        raise ValueError(f"cannot grow {_describe(donor_kernels)} into "
                         f"{_describe(target_kernels)}: input, output and kernel size must "
                         "match, and depth and width may only grow")
    rng = np.random.default_rng(seed)
    grown, inputs = [], target_kernels[0][2]
    for index in _layer_plan(len(donor_layers), len(target_layers)):
        outputs = target_kernels[len(grown)][3]
        if index is None:
            grown.append(_identity(target_kernels[len(grown)]))
        else:
            grown.append(_widen(*donor_layers[index], inputs, outputs, rng))
        inputs = outputs
    return [array for layer in grown for array in layer]


def _pairs(arrays, owner: str) -> list[tuple]:
    shapes = [getattr(a, "shape", a) for a in arrays]
    if len(shapes) < 4 or len(shapes) % 2 or any(
            len(k) != 4 or tuple(b) != (k[3],) for k, b in zip(shapes[::2], shapes[1::2])):
        raise ValueError(f"{owner} is not a stack of biased convolutions (batch norm "
                         "layers cannot grow)")
    return list(zip(arrays[::2], arrays[1::2]))


def _describe(kernels) -> str:
    hidden = sorted({k[3] for k in kernels[:-1]})
    return f"{len(kernels)} layers of {'/'.join(map(str, hidden))} channels"


def _layer_plan(donor_depth: int, target_depth: int) -> list[int | None]:
    """Donor layer indices in order, with ``None`` (an identity layer) spread evenly
    after hidden layers (never before the first, whose input is not a ReLU's)."""
    hidden, extra = donor_depth - 1, target_depth - donor_depth
    after = [(2 * j + 1) * hidden // (2 * extra) for j in range(extra)]
    plan = []
    for index in range(donor_depth):
        plan.append(index)
        plan.extend([None] * after.count(index))
    return plan


def _widen(kernel: np.ndarray, bias: np.ndarray, inputs: int, outputs: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    height, width, old_in, old_out = kernel.shape
    grown = np.zeros((height, width, inputs, outputs), kernel.dtype)
    # New output channels read every input (He-scaled, so they start active and learn);
    # new input channels stay zero into the old outputs, which therefore keep their values.
    fan_in = height * width * inputs
    grown[..., old_out:] = rng.normal(0.0, np.sqrt(2.0 / fan_in),
                                      (height, width, inputs, outputs - old_out))
    grown[:, :, :old_in, :old_out] = kernel
    grown_bias = np.zeros((outputs,), bias.dtype)
    grown_bias[:old_out] = bias
    return grown, grown_bias


def _identity(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    height, width, inputs, outputs = shape
    kernel = np.zeros(shape, np.float32)
    kernel[height // 2, width // 2] = np.eye(inputs, outputs, dtype=np.float32)
    return kernel, np.zeros((outputs,), np.float32)
