"""The ``aigc`` command group: errors to exit codes, ``--debug``, ``--version``.

Each command lives in ``aigc_cli.commands`` (one module per command), parses
and validates its arguments there and imports its worker inside the function
body: ``aigc --help`` and every ``--help`` answer without importing TensorFlow.
"""

from __future__ import annotations

import errno
import logging
import os
import sys

import click

from aigc_cli import __version__
from aigc_cli.commands import (bench, config, denoise, evaluate, export, inspect, privacy,
                               sample, train)
from aigc_cli.commands.options import EXIT_INTERRUPTED
from aigc_cli.errors import AigcError
#: Disk full, quota, read-only filesystem, permission: the storage, not a bug.
STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


class AigcGroup(click.Group):
    """Turns AigcError into one readable line and its exit code (2 input, 1 runtime)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AigcError as error:
            if ctx.meta.get("aigc.debug"):
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # `aigc ... | head`: the reader left; stop quietly as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except OSError as error:
            if ctx.meta.get("aigc.debug"):
                raise
            if error.errno in STORAGE_ERRORS:
                click.echo(f"error: cannot write {error.filename or 'a file'}: "
                           f"{error.strerror}; free space (or fix permissions) and run the "
                           "same command again: finished files and checkpoints are intact",
                           err=True)
            else:  # a path in the way (a file where a folder should be, ...)
                where = f"{error.filename}: " if error.filename else ""
                click.echo(f"error: {where}{error.strerror or error}; fix or move that path "
                           "and run the same command again", err=True)
            ctx.exit(1)
        except Exception as error:
            if ctx.meta.get("aigc.debug"):
                raise
            click.echo(f"error: {type(error).__name__}: {error}\n"
                       "(this is a bug or an environment problem; rerun with `aigc --debug ...` "
                       "for the traceback)", err=True)
            ctx.exit(1)


def _print_versions(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from aigc_cli.runtime import installed_versions

    click.echo(f"aigc {__version__}")
    for name, version in installed_versions().items():
        click.echo(f"{name} {version or 'not installed'}")
    ctx.exit()


class _WarningHandler(logging.Handler):
    """The tool's warnings: one line each, printed above a running progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        if sys.stderr is None:  # `2>&-`: nowhere to warn, and never onto stdout
            return
        message = " ".join(record.getMessage().split())
        tqdm.write(f"{record.levelname.lower()}: {message}", file=sys.stderr)


@click.group(cls=AigcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_versions, help="Show the versions of aigc, TensorFlow and Keras.")
@click.option("--debug", is_flag=True, help="Show Python tracebacks and TensorFlow's own logs.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Train and run image generative models (GAN, VAE, denoiser) from YAML configs.

    \b
    Examples:
      aigc denoise noisy_photos/               # built-in models, no data needed
      aigc train configs/fashion_mnist_gan.yaml
      aigc sample runs/fashion_mnist_gan -n 64 --grid grid.png
      aigc config show configs/fashion_mnist_gan.yaml --set training.steps=100

    Run `aigc COMMAND --help` for a command's options and examples.
    """
    ctx.meta["aigc.debug"] = debug
    logger = logging.getLogger("aigc")
    if not logger.handlers:
        logger.addHandler(_WarningHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


for command in (train.train, sample.sample, denoise.denoise, evaluate.evaluate, bench.bench,
                export.export_model, config.config, privacy.privacy, inspect.inspect):
    main.add_command(command)


if __name__ == "__main__":
    main()
