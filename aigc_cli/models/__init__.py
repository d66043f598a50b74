"""The model-family registry: ``model.type`` → the builder of that family.

Every builder has the signature of :func:`aigc_cli.models.base.ModelBuilder`
and returns a :class:`aigc_cli.models.base.GenerativeModel`, which is all the
shared training loop, ``sample`` and ``eval`` know about a family.
"""

from aigc_cli.registry import Registry

MODEL_FAMILIES = Registry("model type", {
    "dcgan": "aigc_cli.models.gan:build_dcgan",
    "vae": "aigc_cli.models.vae:build_vae",
    "classifier": "aigc_cli.models.classifier:build_classifier",
    "denoiser": "aigc_cli.models.denoiser:build_denoiser",
    "denoising_vae": "aigc_cli.models.denoising_vae:build_denoising_vae",
    "diffusion": "aigc_cli.models.diffusion:build_diffusion",
})
