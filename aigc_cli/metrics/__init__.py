"""Evaluation metrics by name. Each entry is ``fn(model, data, options) -> dict``
where ``data`` is the evaluation split as an ``ImageSet`` (uint8 images [N, H, W, C],
labels when the dataset has them) and ``options`` the command's settings."""

from aigc_cli.registry import Registry

METRICS = Registry("metric", {
    "accuracy": "aigc_cli.metrics.accuracy:evaluate_accuracy",
    "cas": "aigc_cli.metrics.cas:evaluate_cas",
    "denoising": "aigc_cli.metrics.denoising:evaluate_denoising",
    "elbo": "aigc_cli.metrics.elbo:evaluate_elbo",
    "fid": "aigc_cli.metrics.fid:evaluate_fid",
    "latent": "aigc_cli.metrics.latent:evaluate_latent",
})

#: Result keys that say how a metric was measured, not what it measured: ``aigc eval``
#: reports them beside the numbers; training does not log them as curves.
SETTING_KEYS = frozenset({"fid_samples", "fid_reference_images", "precision_recall_k",
                          "importance_samples", "latent_dim", "sigma", "noise_seed", "images", "channels",
                          "ensemble", "poisson_gain", "eight_bit", "jpeg_quality",
                          "cas_samples", "cas_steps"})
