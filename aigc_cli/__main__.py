"""``python -m aigc_cli``: the same as the ``aigc`` command."""

from aigc_cli.cli import main

main(prog_name="aigc")
