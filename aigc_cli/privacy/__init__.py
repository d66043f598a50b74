"""Differentially private training: DP-SGD pieces for the shared loop (``dp_sgd``),
Poisson-sampled batches (``sampling``) and the privacy accounting (``accounting``,
Google's dp-accounting; no TensorFlow)."""
