"""``codecframe bayesq quantize|evaluate|export`` on tiny local model folders and the bundled models (issue 18 item 3, issue 19)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from codecframe import container
from codecframe.cli.main import main
from codecframe.errors import ConfigError, FormatError, InputError

from codecframe_bayesq import load
from codecframe_bayesq.api import META_KEY

transformers = pytest.importorskip("transformers")
hf = pytest.importorskip("hf_models")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return hf.save_folders(tmp_path_factory.mktemp("hf"))


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_gpt2_folder_quantize_evaluate_export(folders, tmp_path, capsys):
    out = tmp_path / "g.cfr"
    code, stdout, err = run(capsys, "bayesq", "quantize", folders["gpt2"], "-o", out, "--avg-bits", "4",
                            "--calibration-samples", "8")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["source"] == "transformers" and res["code_bits_per_weight"] == 4.0 and res["quantized_layers"] == 8
    assert res["fidelity"]["kind"] == "logits" and 0 <= res["fidelity"]["kl"] < 0.1
    for stage in ("loading", "reading calibration data", "quantizing with bayesq", "writing", "evaluating"):
        assert f"bayesq: {stage}" in err
    text = tmp_path / "eval.txt"
    text.write_text("\n".join(hf.texts(10, seed=3)) + "\n")
    code, stdout, err = run(capsys, "bayesq", "evaluate", out, "--model", folders["gpt2"], "--eval-text", text)
    assert code == 0, err
    ev = json.loads(stdout)
    assert ev["texts"] == 10 and ev["kind"] == "logits" and ev["kl"] >= 0 and 0 <= ev["top1_agreement"] <= 1
    code, _, err = run(capsys, "bayesq", "evaluate", out)
    assert code != 0 and "pass --model" in err and "Traceback" not in err
    ids = tmp_path / "ids.npy"
    np.save(ids, np.random.default_rng(0).integers(0, hf.vocab_size(), (6, 10)))
    code, stdout, err = run(capsys, "bayesq", "quantize", folders["gpt2"], "-o", tmp_path / "ids.cfr", "--calibration", ids)
    assert code == 0, err
    assert "(6 calibration samples)" in err

    folder = tmp_path / "quantized"
    code, stdout, err = run(capsys, "bayesq", "export", out, "--model", folders["gpt2"], "-o", folder)
    assert code == 0, err
    reloaded = transformers.GPT2LMHeadModel.from_pretrained(folder, local_files_only=True).eval()
    _same_state(reloaded, load(out, hf.gpt2()))
    assert transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)("the file")["input_ids"]
    code, _, err = run(capsys, "bayesq", "export", out, "--model", folders["gpt2"], "-o", folder)
    assert code != 0 and "already exists" in err
    assert run(capsys, "bayesq", "export", out, "--model", folders["gpt2"], "-o", folder, "--overwrite")[0] == 0


def test_bert_and_sentence_transformers_folders(folders, tmp_path, capsys):
    calib = tmp_path / "calib.txt"
    calib.write_text("\n".join(hf.texts(12, seed=5)))
    for name in ("bert", "st"):
        out = tmp_path / f"{name}.cfr"
        code, stdout, err = run(capsys, "bayesq", "quantize", folders[name], "-o", out, "--avg-bits", "3",
                                "--calibration-text", calib, "--method", "bayesq")
        assert code == 0, err
        res = json.loads(stdout)
        assert res["fidelity"]["kind"] == "embedding" and "pooler.dense" in " ".join(res["full_precision"])
        assert "warning: " in err and "pooler.dense" in err  # the unused pooler, named on one line
        code, stdout, err = run(capsys, "bayesq", "evaluate", out, "--model", folders[name], "--eval-samples", "20")
        assert code == 0, err
        ev = json.loads(stdout)
        assert -1 <= ev["cosine_min"] <= ev["cosine_mean"] <= 1 and -1 <= ev["pairwise_spearman"] <= 1
        assert ev["samples"] == 20
    folder = tmp_path / "st-quantized"
    assert run(capsys, "bayesq", "export", tmp_path / "st.cfr", "--model", folders["st"], "-o", folder)[0] == 0
    from sentence_transformers import SentenceTransformer

    reloaded = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    original = SentenceTransformer(str(folders["st"]), device="cpu", local_files_only=True)
    _same_state(reloaded, load(tmp_path / "st.cfr", original))


def test_bundled_model_npy_calibration_baseline_and_export(tmp_path, capsys):
    from codecframe_bayesq.examples.zoo import load_example
    from codecframe_bayesq.loading import load_model

    npy = tmp_path / "calib.npy"
    np.save(npy, load_example("mlp").calibration(64).numpy())
    out = tmp_path / "mlp.cfr"
    code, stdout, err = run(capsys, "bayesq", "quantize", "mlp", "-o", out, "--avg-bits", "3", "--calibration", npy)
    assert code == 0, err
    res = json.loads(stdout)
    assert res["fidelity"]["accuracy"] > 0.9 and res["source"] == "bundled"
    code, stdout, err = run(capsys, "bayesq", "evaluate", out)
    assert code == 0 and json.loads(stdout)["kl"] == pytest.approx(res["fidelity"]["kl"])
    rtn = tmp_path / "rtn.cfr"
    code, stdout, err = run(capsys, "bayesq", "quantize", "mlp", "-o", rtn, "--avg-bits", "3", "--method", "rtn")
    assert code == 0, err
    assert json.loads(stdout)["method"] == "rtn" and json.loads(stdout)["code_bits_per_weight"] == 3.0
    folder = tmp_path / "mlp-quantized"
    assert run(capsys, "bayesq", "export", out, "--model", "mlp", "-o", folder)[0] == 0
    back = load_model(folder)
    _same_state(back.model, load(out))
    # the exported weights are a bare .safetensors the loader rebuilds from their metadata
    code, stdout, err = run(capsys, "bayesq", "evaluate", out, "--model", folder / "model.safetensors")
    assert code == 0, err
    assert json.loads(stdout)["kl"] == pytest.approx(0.0, abs=1e-12)  # the file against its own export: same weights


def _with_meta(data: bytes, meta) -> bytes:
    box = container.read(data)
    header = {k: v for k, v in box.header.items() if k != "streams"}
    return container.write({**header, "meta": meta}, box.streams)


def test_bad_input_is_refused_without_traceback(folders, tmp_path, capsys):
    for argv in (["--calibration-samples", "-1"], ["--proxy-samples", "-1"], ["--distill-steps", "-2"],
                 ["--avg-bits", "nan"]):
        with pytest.raises(SystemExit) as exc:
            main(["bayesq", "quantize", "mlp", "-o", str(tmp_path / "x.cfr"), *argv])
        assert exc.value.code == 2
        assert "must be" in capsys.readouterr().err
    assert not (tmp_path / "x.cfr").exists()
    cases = [(["quantize", "mlp", "--calibration-text", tmp_path / "t.txt"], "needs a model with a tokenizer"),
             (["quantize", folders["gpt2"], "--calibration", tmp_path / "bad.npy"], "not a readable .npy"),
             (["quantize", tmp_path / "nowhere"], "not found"),
             (["quantize", "mlp", "--avg-bits", "1"], "impossible budget"),
             (["quantize", "mlp", "--method", "rtn", "--codebook", "lloyd"], "only apply to --method bayesq")]
    (tmp_path / "t.txt").write_text("some text\n")
    (tmp_path / "bad.npy").write_bytes(b"nope")
    for argv, match in cases:
        code, _, err = run(capsys, "bayesq", *argv, "-o", tmp_path / "x.cfr")
        assert code != 0 and match in err and "Traceback" not in err, err
    # files whose meta is hostile: a list instead of a map, oversized architecture options
    good = tmp_path / "mlp.cfr"
    assert run(capsys, "bayesq", "quantize", "mlp", "-o", good, "--avg-bits", "4", "--calibration-samples", "32")[0] == 0
    data = good.read_bytes()
    meta = container.read(data).header["meta"][META_KEY]
    huge = {**meta, "architecture": {"name": "tinylm", "options": {"vocab": 131072, "d": 8192, "ffn": 65536,
                                                                    "layers": 64, "heads": 8}}}
    for i, (bad, match) in enumerate([({META_KEY: [1]}, "not a BayesQ model file"),
                                      ({META_KEY: huge}, "does not fit the target architecture"),
                                      ({META_KEY: {**meta, "architecture": {"name": "tinylm", "options": {"layers": 10 ** 12}}}},
                                       "does not fit the target architecture")]):
        path = tmp_path / f"hostile{i}.cfr"
        path.write_bytes(_with_meta(data, bad))
        code, _, err = run(capsys, "bayesq", "evaluate", path)
        assert code != 0 and match in err and "Traceback" not in err, err
    # load() without a model builds from the file's record: checked before anything is allocated
    with pytest.raises(InputError, match="do not fit architecture 'tinylm'"):
        load(_with_meta(data, {META_KEY: huge}))
    with pytest.raises(ConfigError, match="'layers' must be an integer"):
        load(_with_meta(data, {META_KEY: {**meta, "architecture": {"name": "tinylm", "options": {"layers": 10 ** 12}}}}))
    with pytest.raises(FormatError, match="not a BayesQ model file"):
        load(_with_meta(data, {META_KEY: [1]}))
