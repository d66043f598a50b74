"""Using trained models: loading them, sampling, denoising, evaluating, exporting."""
