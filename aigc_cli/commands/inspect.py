"""``aigc inspect``: what an image's metadata says of its making (no TensorFlow)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aigc_cli.errors import InputError


@click.command(short_help="Print the provenance an image carries (model, checkpoint, epsilon).")
@click.argument("images", metavar="IMAGE...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per image on stdout: file, digital_source_type, "
                   "creator_tool and record (null when the image has none).")
def inspect(images: tuple[str, ...], as_json: bool) -> None:
    """Print the provenance record aigc wrote into each IMAGE (PNG, JPEG, WebP, TIFF):
    the tool and version, the checkpoint's and config's SHA-256, the seed, epsilon and
    delta when the model was trained privately, and the edits made (aigc denoise), with
    the IPTC digital source type.

    \b
    Examples:
      aigc inspect runs/fashion_mnist_gan/generated/seed_0/sample_000000.png
      aigc inspect photos_denoised/*.jpg --json
    """
    from aigc_cli.io.provenance import read_provenance

    for name in images:
        try:
            found = read_provenance(name) or {"record": None, "digital_source_type": None,
                                                "creator_tool": None}
        except Exception as error:  # Pillow raises many types on broken files
            raise InputError(f"cannot read {name} as an image "
                             f"({type(error).__name__}: {error})") from None
        if as_json:
            click.echo(json.dumps({"file": name, **found}, sort_keys=True))
        else:
            click.echo(describe(Path(name), found))


def describe(path: Path, found: dict) -> str:
    """Indented ``key: value`` lines for a person (nested records flattened)."""
    lines = [f"{path}:"]
    if found["digital_source_type"]:
        lines.append(f"  digital_source_type: {found['digital_source_type']}")
    if found["creator_tool"]:
        lines.append(f"  creator_tool: {found['creator_tool']}")
    if not found["record"]:
        lines.append("  no aigc provenance record")
    else:
        lines.extend(_flattened(found["record"], "  "))
    return "\n".join(lines)


def _flattened(value, indent: str, name: str = "") -> list[str]:
    if isinstance(value, dict):
        lines = [f"{indent}{name}:"] if name else []
        deeper = indent + "  " if name else indent
        for key in sorted(value):
            lines.extend(_flattened(value[key], deeper, key))
        return lines
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        lines = [f"{indent}{name}:"]
        for number, item in enumerate(value, 1):
            lines.extend(_flattened(item, indent + "  ", f"{number}"))
        return lines
    return [f"{indent}{name}: {json.dumps(value) if not isinstance(value, str) else value}"]
