"""Evaluation metrics by name. Each entry is ``fn(model, images, options) -> dict``
where ``images`` are uint8 [N, H, W, C] from the evaluation split."""

from aigc_cli.registry import Registry

METRICS = Registry("metric", {
    "elbo": "aigc_cli.metrics.elbo:evaluate_elbo",
})
