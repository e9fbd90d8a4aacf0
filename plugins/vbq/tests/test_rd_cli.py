"""``codecframe image rd`` on a tiny set: user files and folders, Pillow baselines, BD-rates, outputs."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from codecframe.cli.main import main as cli

from codecframe_vbq.image import data, evaluate as ev
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.report import markdown, summarize


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.load("coffee")[100:292, 200:392])


def test_rd_api_with_pillow_baselines_gives_real_files_and_range_bd_rates(photo):
    sweeps = {"vbq": (0.25, 1.0, 4.0, 16.0, 64.0), "jpeg": (10, 30, 60, 90), "jpeg-444": (10, 30, 60, 90),
              "webp": (10, 40, 70, 95), "avif": (10, 40, 70, 95)}
    logs: list[str] = []
    result = ev.evaluate(ImageCodec(), {"crop": photo}, sweeps=sweeps, methods=list(sweeps), log=logs.append)
    assert result["images"] == {"crop": [192, 192]}
    assert any(line.startswith("[1/1] crop avif") for line in logs)
    for p in result["points"]:
        assert p["bpp"] == pytest.approx(8 * p["bytes"] / 192**2)
        if p["method"] in ev.PILLOW_CODECS:  # the file size is the real encoder's
            fmt, _, options = ev.PILLOW_CODECS[p["method"]]
            buf = io.BytesIO()
            Image.fromarray(photo).save(buf, format=fmt, quality=int(p["setting"]), **options)
            assert len(buf.getvalue()) == p["bytes"]
    assert {p["method"] for p in result["points"]} == set(sweeps)
    summary = summarize(result, (0.2, 1.5))
    ranged = summary["bd_rate_vbq_vs_over_range"]
    assert ranged["bpp_range"] == [0.2, 1.5] and set(ranged["vs"]) == set(sweeps) - {"vbq"}
    assert ranged["vs"]["jpeg"]["per_image"]["crop"] is not None and np.isfinite(ranged["vs"]["jpeg"]["mean_psnr"])
    q_lo, q_hi = ranged["vs"]["jpeg"]["psnr_interval"]["crop"]
    vbq_psnr = [p["psnr"] for p in result["points"] if p["method"] == "vbq"]
    assert min(vbq_psnr) <= q_lo < q_hi <= max(vbq_psnr)  # only qualities both curves reach
    assert set(summary["checks"]) >= {f"vbq_over_{m}_all_rates" for m in ev.PILLOW_CODECS}
    at = summary["margin_at_bpp"]
    assert at["bpp"] == 0.5 and set(at["vs"]) == set(ev.PILLOW_CODECS)
    for m, per in at["vs"].items():  # equals the two curves' frontiers interpolated in log rate at 0.5 bpp
        fronts = []
        for k in ("vbq", m):
            front: list[tuple[float, float]] = []
            for r, q in sorted((p["bpp"], p["psnr"]) for p in result["points"] if p["method"] == k):
                if not front or q > front[-1][1]:
                    front.append((r, q))
            fronts.append(front)
        if all(f[0][0] <= 0.5 <= f[-1][0] for f in fronts):
            at_half = [np.interp(np.log(0.5), np.log([r for r, _ in f]), [q for _, q in f]) for f in fronts]
            assert per["crop"] == pytest.approx(at_half[0] - at_half[1], abs=1e-9)
        else:
            assert per["crop"] is None
    text = markdown(result, summary)
    assert "AVIF (Pillow)" in text and "0.2–1.5 bpp" in text and "VBQ minus other at 0.5 bpp" in text


def test_missing_pillow_codecs_are_left_out_and_unknown_methods_refused(monkeypatch):
    from PIL import features

    monkeypatch.setattr(features, "check", lambda name: name != "avif")
    assert ev.available_methods(["vbq", "avif", "webp", "jpeg"]) == ["vbq", "webp", "jpeg"]
    with pytest.raises(ValueError, match="unknown method"):
        ev.available_methods(["vbq", "png"])


def test_cli_rd_on_files_and_folders(tmp_path, photo, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(photo[:96, :128]).save(folder / "a.png")
    Image.fromarray(photo[:64, :80, 1]).save(folder / "grey.png")  # evaluated as R = G = B
    (folder / "notes.txt").write_text("not an image")
    Image.fromarray(photo[32:96, 32:96]).save(tmp_path / "b.jpg", quality=95)
    out = tmp_path / "rd"
    from codecframe.assets import find_asset

    from codecframe_vbq.image.shipped import TABLES_V1_REF, VAE_REF, VAE_V1_REF

    tables_file = tmp_path / "tables.safetensors"  # a model may be given by reference or as files
    tables_file.write_bytes(find_asset(TABLES_V1_REF).read_bytes())
    code = cli(["image", "rd", str(folder), str(tmp_path / "b.jpg"), "--methods", "vbq", "jpeg", "webp",
                "--bpp-range", "0.5", "2", "--previous", VAE_V1_REF, str(tables_file), "--out-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    result = json.loads((out / "rd.json").read_text())
    assert result["images"] == {"a": [96, 128], "grey": [64, 80], "b": [64, 64]}
    assert result["summary"]["bd_rate_vbq_vs_over_range"]["bpp_range"] == [0.5, 2.0]
    assert result["methods"] == ["vbq", "jpeg", "webp", "vbq-previous"]  # the first shipped model as the previous one
    assert {p["method"] for p in result["points"] if p["image"] == "b"} == set(result["methods"])
    assert "[3/3] b webp" in err and "| WebP (Pillow) |" in (out / "rd.md").read_text()
    with Image.open(out / "rd.png") as plot:
        assert plot.format == "PNG" and plot.width > 100
    for bad, message in [(["--methods", "vbq", "png"], "unknown method"), (["--bpp-range", "0.6", "0.1"], "--bpp-range"),
                         (["--images", "coffee"], "not both"),
                         (["--previous", VAE_V1_REF, str(tmp_path / "none")], "neither an asset reference"),
                         (["--previous", VAE_REF, str(tables_file)], f"fitted for the VAE {VAE_V1_REF}")]:
        assert cli(["image", "rd", str(tmp_path / "b.jpg"), *bad, "--out-dir", str(out)]) == 1
        assert message in capsys.readouterr().err
    assert cli(["image", "rd", "--images", "aqua", "retina", "--out-dir", str(out)]) == 1  # retina is training data
    err = capsys.readouterr().err
    assert "not held-out photographs: retina" in err and "green-meadow, storm, aqua" in err
