"""The click commands, one module per command: options, validation, dispatch.

Each imports its worker (and TensorFlow) inside the command body, so `--help`
answers at once.
"""
