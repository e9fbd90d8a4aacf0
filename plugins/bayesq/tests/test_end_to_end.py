"""quantize → .cfr file → load on the bundled MLP, and the bad inputs the issue lists."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from codecframe import container
from codecframe.errors import CodecframeError, ConfigError, FormatError, InputError
from codecframe_bayesq import load, quantize
from codecframe_bayesq.examples.zoo import load_example
from codecframe_bayesq.metrics import evaluate, log_probs


@pytest.fixture(scope="module")
def mlp():
    torch.set_num_threads(1)
    return load_example("mlp")


@pytest.fixture(scope="module")
def quantized(mlp):
    return quantize(mlp.model, mlp.calibration(128), avg_bits=3.0, architecture=mlp.architecture)


def test_quantize_file_load_is_bit_identical(mlp, quantized, tmp_path):
    path = tmp_path / "mlp.cfr"
    acc = quantized.save(path)
    back = load(path)  # architecture from the file
    for (name, a), (name2, b) in zip(quantized.model.state_dict().items(), back.state_dict().items()):
        assert name == name2 and torch.equal(a, b), name
    again = load(path.read_bytes(), copy.deepcopy(mlp.model))  # into a given model
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), again.state_dict().values()))
    # the input model was not modified
    assert not torch.equal(mlp.model.layers[0].weight, back.layers[0].weight)
    assert acc["file_bits"] == 8 * path.stat().st_size


def test_budget_accounting_and_entropy_coding_gain(mlp, quantized):
    assert quantized.code_bits_per_weight() <= 3.0 + 1e-12
    assert quantized.code_bits_per_weight() > 2.9
    data = quantized.to_bytes()
    box = container.read(data)
    n_groups = len(box.header["groups"])
    extras = sum(len(s) for s in box.streams[n_groups:])
    metadata = sum(len(s) + 12 for s in box.streams[n_groups:]) + len(data) - sum(len(s) for s in box.streams)
    fixed_length = quantized.code_bits() / 8 + metadata
    # the entropy-coded file is smaller than fixed-length codes plus the same metadata
    assert len(data) < fixed_length
    assert extras == 4 * sum(m.bias.numel() for m in mlp.model.layers)


def test_quantized_model_beats_rtn_and_keeps_accuracy(mlp, quantized):
    from codecframe_bayesq.baselines import rtn_code
    from codecframe_bayesq.layers import find_layers, set_weight_matrix, weight_matrix

    ref = log_probs(mlp.model, mlp.x_test)
    ours = evaluate(quantized.model, ref, mlp.x_test, mlp.y_test)
    rtn = copy.deepcopy(mlp.model)
    for layer in find_layers(rtn)[0]:
        set_weight_matrix(layer, rtn_code(weight_matrix(layer), np.full(layer.rows, 3)).values())
    assert ours["kl"] < evaluate(rtn, ref, mlp.x_test, mlp.y_test)["kl"]
    assert ours["accuracy"] > 0.95


class WithEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(20, 8)
        self.fc = nn.Linear(8, 20)
        self.conv1d = nn.Conv1d(3, 3, 1, groups=3)  # grouped: not supported

    def forward(self, idx):
        return self.fc(self.emb(idx))


def test_unsupported_layers_stay_full_precision_and_are_reported(tmp_path):
    model = WithEmbedding()
    idx = torch.randint(0, 20, (32, 5))
    qm = quantize(model, idx, avg_bits=4.0, allowed_bits=(2, 4, 8))
    kept = {u["name"]: u["reason"] for u in qm.report()["full_precision"]}
    assert set(kept) == {"emb", "conv1d"} and "embedding" in kept["emb"] and "grouped" in kept["conv1d"]
    assert torch.equal(qm.model.emb.weight, model.emb.weight)
    assert not torch.equal(qm.model.fc.weight, model.fc.weight)
    path = tmp_path / "emb.cfr"
    qm.save(path)
    with pytest.raises(InputError, match="bundled architecture"):
        load(path)
    back = load(path, WithEmbedding())
    assert torch.equal(back.emb.weight, model.emb.weight) and torch.equal(back.fc.weight, qm.model.fc.weight)


def test_bad_inputs_get_clear_errors(mlp, quantized, tmp_path):
    calib = mlp.calibration(32)
    with pytest.raises(InputError, match="empty"):
        quantize(mlp.model, calib[:0], 3.0)
    with pytest.raises(InputError, match="do not fit"):
        quantize(mlp.model, torch.zeros(8, 5), 3.0)
    for budget in (1.5, 8.5):
        with pytest.raises(InputError, match="impossible budget"):
            quantize(mlp.model, calib, budget)
    with pytest.raises(InputError, match="below the smallest"):
        quantize(mlp.model, calib, 2.5, pin_first=8, pin_last=8)
    broken = copy.deepcopy(mlp.model)
    with torch.no_grad():
        broken.layers[1].weight[3, 3] = float("inf")
    with pytest.raises(InputError, match="layers.1.weight"):
        quantize(broken, calib, 3.0)
    with pytest.raises(ConfigError):
        quantize(mlp.model, calib, 3.0, codebook="kmeans")
    # a file that does not fit the target architecture
    path = tmp_path / "mlp.cfr"
    quantized.save(path)
    from codecframe_bayesq.examples.models import MLP

    with pytest.raises(InputError, match="does not fit the target architecture"):
        load(path, MLP((64, 128, 10)))
    with pytest.raises(InputError, match="does not fit the target architecture"):
        load(path, WithEmbedding())
    with pytest.raises(FormatError):
        load(path.read_bytes()[:-5])
    with pytest.raises(CodecframeError):
        load(tmp_path / "missing.cfr")
