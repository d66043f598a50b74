"""Provenance in the files aigc writes: it reads back exactly in every format, names the
weights by hashes anyone can recompute, and an edit keeps the input's own metadata."""

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc_cli.cli import main
from aigc_cli.config import build_config
from aigc_cli.io import provenance
from aigc_cli.io.images import encode_png
from aigc_cli.io.photos import Photo, encode_photo

from conftest import TINY_MODEL, tiny_config_dict

RECORD = {"tool": "aigc", "version": "9.9", "note": "<&> \"quoted\" é ✓", "privacy":
          {"epsilon": 9.98765432109876, "delta": 1e-05}, "index": 3}
FOREIGN = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
           b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
           b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
           b'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
           b'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
           b'digitalCapture"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour at dawn'
           b'</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta>'
           b'<?xpacket end="w"?>')


def _written(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP", "TIFF"])
@pytest.mark.parametrize("channels", [1, 3])
def test_each_format_carries_the_record_exactly(tmp_path, image_format, channels):
    pixels = np.random.default_rng(0).uniform(size=(9, 7, channels)).astype(np.float32)
    packet = provenance.generated_packet(RECORD)
    exif = Image.Exif()
    exif[0x010F] = "Harbour Camera Co"  # Make: the record must not push the EXIF out
    data = encode_photo(pixels, Photo(pixels, None, 8, image_format, exif=exif.tobytes(),
                                      xmp=packet))
    found = provenance.read_provenance(_written(tmp_path, data, "image"))
    assert found["record"] == RECORD
    assert found["digital_source_type"] == provenance.GENERATED
    assert found["creator_tool"] == "aigc 9.9"
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == image_format and image.size == (7, 9)
        assert image.getexif().get(0x010F) == "Harbour Camera Co"


def test_the_sampler_png_encoder_carries_it_too(tmp_path):
    image = np.zeros((5, 5, 1), np.uint8)
    path = _written(tmp_path, encode_png(image, provenance.generated_packet(RECORD)), "a.png")
    assert provenance.read_provenance(path)["record"] == RECORD
    assert provenance.read_provenance(_written(tmp_path, encode_png(image), "b.png")) is None


def test_an_edit_keeps_the_inputs_packet_and_appends_to_the_record():
    first = provenance.with_edit(FOREIGN, {"action": "denoise", "n": 1})
    second = provenance.with_edit(first, {"action": "denoise", "n": 2})
    text = second.decode()
    # The input's own description is kept byte for byte, and its source type is not
    # stated a second time (XMP allows one value per property).
    assert FOREIGN.decode().split("<rdf:RDF")[1].split("</rdf:RDF>")[0] in text
    assert text.count("DigitalSourceType") == 1
    assert text.count(provenance.NAMESPACE) == 1
    found = provenance.read_packet(second)
    assert found["record"] == {"edits": [{"action": "denoise", "n": 1},
                                         {"action": "denoise", "n": 2}]}
    assert found["digital_source_type"].endswith("/digitalCapture")


def test_an_edit_of_a_generated_image_keeps_its_generation_record():
    edited = provenance.with_edit(provenance.generated_packet(RECORD), {"action": "denoise"})
    found = provenance.read_packet(edited)
    assert found["record"] == {**RECORD, "edits": [{"action": "denoise"}]}
    assert found["digital_source_type"] == provenance.GENERATED
    assert found["creator_tool"] == "aigc 9.9"
    fresh = provenance.read_packet(provenance.with_edit(None, {"action": "denoise"}))
    assert fresh["digital_source_type"] == provenance.ENHANCED


def test_a_packet_that_declares_entities_is_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>')
    assert provenance.read_packet(bomb) is None
    assert provenance.read_packet(b"<not xml") is None


def _checkpoint_digest(prefix: Path) -> str:
    """The documented recipe, computed independently: ``cat ckpt-N.* | sha256sum``."""
    digest = hashlib.sha256()
    for path in sorted(prefix.parent.iterdir()):
        if path.name.startswith(prefix.name + "."):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_samples_of_a_private_run_carry_hashes_and_epsilon(idx_folder, tmp_path, runner):
    from aigc_cli.training.loop import train

    config = tiny_config_dict(idx_folder, tmp_path / "run", {**TINY_MODEL, "num_classes": 10},
                              steps=2, privacy={"clip_norm": 1.0, "noise_multiplier": 1.0})
    run = train(build_config(config), quiet=True).run_dir
    manifest = json.loads((run / "manifest.json").read_text())
    out, grid = tmp_path / "out", tmp_path / "grid.png"
    result = runner.invoke(main, ["sample", str(run), "-n", "3", "--seed", "5", "--class", "2",
                                  "--out", str(out), "--grid", str(grid), "-q"])
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    records = [provenance.read_provenance(path)["record"] for path in files]
    assert [record["index"] for record in records] == [0, 1, 2]
    record = records[0]
    assert record["checkpoint_sha256"] == _checkpoint_digest(run / "checkpoints" / "ckpt-2")
    assert record["config_sha256"] == manifest["config_sha256"]
    assert (record["seed"], record["class"], record["step"]) == (5, 2, 2)
    assert record["privacy"]["epsilon"] == manifest["privacy"]["epsilon"]
    assert record["privacy"]["delta"] == manifest["privacy"]["delta"]
    assert provenance.read_provenance(grid)["record"]["privacy"] == record["privacy"]
    # The run's own preview grids say what had been spent when they were drawn.
    previews = sorted((run / "samples").glob("*.png"))
    assert previews and provenance.read_provenance(previews[-1])["record"]["privacy"][
        "epsilon"] == pytest.approx(manifest["privacy"]["epsilon"])
    shown = runner.invoke(main, ["inspect", str(files[1]), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["record"] == records[1]
    text = runner.invoke(main, ["inspect", str(files[1])]).output
    assert "epsilon: " in text and "trainedAlgorithmicMedia" in text


def test_denoised_photos_keep_their_metadata_and_record_the_edit(tmp_path, runner,
                                                                 tiny_denoiser_run):
    photos = tmp_path / "photos"
    photos.mkdir()
    noisy = np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "Harbour Camera Co"  # Make
    Image.fromarray(noisy).save(photos / "a.jpg", quality=95, exif=exif.tobytes(),
                                xmp=FOREIGN)
    Image.fromarray(noisy[..., 0]).save(photos / "b.png")
    out = tmp_path / "out"
    result = runner.invoke(main, ["denoise", str(photos), "--model", str(tiny_denoiser_run),
                                  "-o", str(out), "--sigma", "25", "-q"])
    assert result.exit_code == 0, result.output
    with Image.open(out / "a.jpg") as image:
        assert image.getexif()[0x010F] == "Harbour Camera Co"
    kept = provenance.read_provenance(out / "a.jpg")
    assert kept["digital_source_type"].endswith("/digitalCapture")
    assert b"Harbour at dawn" in provenance.read_file_packet(out / "a.jpg")
    (edit,) = kept["record"]["edits"]
    assert edit["action"] == "denoise" and "25" in edit["noise"]
    assert edit["checkpoint_sha256"] == _checkpoint_digest(
        Path(tiny_denoiser_run) / "checkpoints" / "ckpt-2")
    fresh = provenance.read_provenance(out / "b.png")
    assert fresh["digital_source_type"] == provenance.ENHANCED
    assert fresh["record"]["edits"][0]["model"] == "denoiser"
