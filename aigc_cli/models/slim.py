"""Structured pruning of a plain conv+ReLU stack into a narrower one, the reverse of
``grow``: a trained network starts a cheaper one of the same depth.

Each hidden layer keeps the channels that carry the most: a channel's importance is
the norm of the kernel that computes it times the norm of the kernel that reads it
(a data-free magnitude criterion, as in Li et al. 2017, https://arxiv.org/abs/1608.08710,
taken on both sides of the ReLU). Unlike growth this changes the function: the slim
network is then fine-tuned, starting far closer to its teacher than from scratch.
"""

from __future__ import annotations

import numpy as np

from aigc_cli.models.grow import conv_layers, describe_stack, hidden_width


def slim_conv_stack(donor: list[np.ndarray],
                    target_shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Keep the most important hidden channels of a stack of biased convolutions.

    Args:
        donor: its weights, [kernel, bias] per layer; hidden layers of one width.
        target_shapes: the slim stack's weight shapes: the same depth, kernel size,
            input and output channels, and a hidden width at most the donor's.

    Returns:
        The donor's weights restricted to the kept channels, in ``target_shapes``.

    Raises:
        ValueError: the shapes do not allow it.
    """
    layers = conv_layers(donor, "the donor")
    donor_kernels = [kernel.shape for kernel, _ in layers]
    target_kernels = [kernel for kernel, _ in conv_layers(target_shapes, "this model")]
    donor_width, target_width = hidden_width(donor_kernels), hidden_width(target_kernels)
    if (len(donor_kernels) != len(target_kernels)
            or donor_kernels[0][:3] != target_kernels[0][:3]  # kernel size, input channels
            or {k[:2] for k in donor_kernels} != {k[:2] for k in target_kernels}
            or donor_kernels[-1][3] != target_kernels[-1][3]
            or None in (donor_width, target_width) or target_width > donor_width):
        raise ValueError(f"cannot slim {describe_stack(donor_kernels)} into "
                         f"{describe_stack(target_kernels)}: depth, kernel size, input and "
                         "output channels must match and the width may only shrink")
    slim, kept_inputs = [], np.arange(donor_kernels[0][2])
    for index, (kernel, bias) in enumerate(layers):
        if index == len(layers) - 1:
            kept = np.arange(kernel.shape[3])
        else:
            computed = np.linalg.norm(kernel.reshape(-1, kernel.shape[3]), axis=0)
            following = layers[index + 1][0]
            read = np.linalg.norm(np.moveaxis(following, 2, 0).reshape(following.shape[2], -1),
                                  axis=1)
            # The strongest channels, in their original order (stable: ties keep order).
            kept = np.sort(np.argsort(-(computed * read), kind="stable")[:target_width])
        slim += [kernel[:, :, kept_inputs][..., kept], bias[kept]]
        kept_inputs = kept
    return slim
