"""The adapter protocol: how BayesQ calls a model, which positions are data, and what its output means.

BayesQ works on any ``torch.nn.Module``. An :class:`Adapter` tells it

1. how to call the model with a batch: a tensor is passed positionally (``model(x)``), a mapping of
   tensors (``input_ids``, ``attention_mask``, ...) as keyword arguments (``model(**batch)``, the
   Hugging Face convention) or, with ``call="positional"``, as one argument (``model(batch)``, the
   sentence-transformers convention);
2. which output to read: the output itself when it is a tensor, else ``output`` (a key of a
   dict / ``ModelOutput`` or an index of a tuple); ``kind="logits"`` reads ``"logits"`` by default;
3. what the output is (``kind``): ``"logits"`` (a categorical over the last axis, per position) or
   ``"embedding"`` (one vector per sample; token states ``(N, T, D)`` are pooled with the mask by
   ``pooling="mean"`` or ``"cls"``, then L2-normalised unless ``normalize=False``). The objective
   of each kind is in :mod:`.objectives`;
4. which positions are data: ``mask_key`` (default ``"attention_mask"``) names the ``(N, T)`` 0/1
   mask of a mapping batch. Padding (mask 0) is never calibration data: it is left out of every
   likelihood, of every captured activation (so also of GPTQ's Hessian) and of pooled embeddings;
5. how to turn text into a batch: ``tokenizer`` (a Hugging Face tokenizer) with ``max_length``.

``for_transformers(model, tokenizer)`` and ``for_sentence_transformer(model)`` build adapters for
those libraries' models; ``Adapter()`` is the plain "tensor in, logits out" model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from codecframe.errors import ConfigError, InputError

from .objectives import OUTPUT_KINDS, Objective, objective_for

__all__ = ["Adapter", "for_transformers", "for_sentence_transformer", "POOLINGS", "CALLS"]

POOLINGS = ("mean", "cls")
CALLS = ("auto", "positional")
#: Longest tokenized text accepted (tokens), whatever the tokenizer allows.
MAX_LENGTH = 4096


@dataclasses.dataclass(frozen=True)
class Adapter:
    """How to call a model and read its output (see the module docstring)."""

    kind: str = "logits"
    output: str | int | None = None
    pooling: str | None = None
    normalize: bool = True
    call: str = "auto"
    mask_key: str | None = "attention_mask"
    tokenizer: Any = dataclasses.field(default=None, compare=False, repr=False)
    max_length: int = 128
    objective: Objective | None = None

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_KINDS:
            raise ConfigError(f"adapter: kind must be one of {', '.join(OUTPUT_KINDS)}, got {self.kind!r}")
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise ConfigError(f"adapter: pooling must be one of {', '.join(POOLINGS)} or None, got {self.pooling!r}")
        if self.call not in CALLS:
            raise ConfigError(f"adapter: call must be one of {', '.join(CALLS)}, got {self.call!r}")
        if self.output is not None and (isinstance(self.output, bool) or not isinstance(self.output, (str, int))):
            raise ConfigError(f"adapter: output must be a key (str), an index (int) or None, got {self.output!r}")
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or not 1 <= self.max_length <= MAX_LENGTH:
            raise ConfigError(f"adapter: max_length must be an integer in 1..{MAX_LENGTH}, got {self.max_length!r}")
        if self.objective is not None and self.objective.kind != self.kind:
            raise ConfigError(f"adapter: a {self.objective.kind!r} objective does not fit {self.kind!r} outputs")

    # ------------------------------------------------------------------ inputs
    @property
    def loss(self) -> Objective:
        """The objective of this adapter's outputs (the kind's default unless one was given)."""
        return self.objective if self.objective is not None else objective_for(self.kind)

    def mask_of(self, inputs: Any) -> torch.Tensor | None:
        """The ``(N, T)`` 0/1 mask of a mapping batch (``mask_key``), or None."""
        if not isinstance(inputs, Mapping) or self.mask_key is None or self.mask_key not in inputs:
            return None
        return inputs[self.mask_key]

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """A padded batch of tensors for ``texts`` from the adapter's tokenizer."""
        if self.tokenizer is None:
            raise InputError("calibration is a list of strings but the adapter has no tokenizer: pass "
                             "adapter=for_transformers(model, tokenizer) (or for_sentence_transformer(model)), "
                             "or tokenize the texts yourself (tokenizer(texts, padding=True, return_tensors='pt'))")
        if not texts or not all(isinstance(t, str) for t in texts):
            raise InputError("calibration texts must be a non-empty list of strings")
        padded = getattr(self.tokenizer, "pad_token", None) is not None
        try:
            enc = self.tokenizer(list(texts), padding=padded, truncation=True, max_length=self.max_length,
                                 return_tensors="pt" if padded else None)
        except Exception as exc:  # tokenizers raise many types; report them as input errors
            raise InputError(f"the tokenizer failed on the calibration texts: {exc}") from None
        if not padded:  # no pad token (GPT-2): pad with id 0, which the mask hides
            enc = _pad(enc)
        return {k: v for k, v in enc.items() if isinstance(v, torch.Tensor)}

    # ------------------------------------------------------------------ outputs
    def outputs(self, model: nn.Module, inputs: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Call ``model`` on a batch and return its output tensor: logits, or (pooled, normalised) embeddings.

        ``mask`` (``(N, T)``, default: the batch's ``mask_key``) says which token states mean pooling averages.
        """
        n = batch_size(inputs)
        try:
            if isinstance(inputs, Mapping) and self.call != "positional":
                out = model(**inputs)
            else:
                out = model(inputs)
        except (RuntimeError, ValueError, IndexError, TypeError, KeyError, AttributeError) as exc:
            raise InputError(f"calibration inputs ({describe(inputs)}) do not fit the model: "
                             f"{type(exc).__name__}: {exc}. {_call_hint(inputs)}") from None
        out = self._select(out)
        if out.ndim < 2 or out.shape[0] != n:
            raise InputError(f"the model's output has shape {tuple(out.shape)}; expected (samples={n}, ...): "
                             "the first axis must be the samples of the batch")
        if self.kind == "logits":
            return out
        if out.ndim == 3:
            out = self._pool(out, mask if mask is not None else self.mask_of(inputs))
        if out.ndim != 2:
            raise InputError(f"an embedding must be (samples, dim) or token states (samples, tokens, dim), "
                             f"got shape {tuple(out.shape)}")
        return F.normalize(out, dim=-1) if self.normalize else out

    def _select(self, out: Any) -> torch.Tensor:
        key = self.output if self.output is not None else ("logits" if self.kind == "logits" else None)
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, Mapping) or hasattr(out, "keys"):
            keys = list(out.keys())
            if isinstance(key, str) and key in keys and isinstance(out[key], torch.Tensor):
                return out[key]
            raise InputError(f"the model returned a {type(out).__name__} with keys {keys}; tell the adapter which "
                             f"one to read: Adapter(kind={self.kind!r}, output=<key>)"
                             + (" (and pooling='mean' for token states)" if self.kind == "embedding" else ""))
        if isinstance(out, (tuple, list)):
            if isinstance(key, int) and -len(out) <= key < len(out) and isinstance(out[key], torch.Tensor):
                return out[key]
            raise InputError(f"the model returned a {type(out).__name__} of {len(out)} items; tell the adapter "
                             f"which one to read: Adapter(kind={self.kind!r}, output=<index>)")
        raise InputError(f"the model returned a {type(out).__name__}; expected a tensor, a tuple or a dict of tensors")

    def _pool(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.pooling is None:
            raise InputError(f"the model returned token states of shape {tuple(states.shape)} for an embedding; "
                             "pool them: Adapter(kind='embedding', pooling='mean') (or 'cls')")
        if self.pooling == "cls":
            return states[:, 0]
        if mask is None:
            return states.mean(1)
        w = mask.to(states.dtype).unsqueeze(-1)
        return (states * w).sum(1) / w.sum(1).clamp_min(1.0)


def _pad(encoding: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Right-pad the token lists of a tokenizer's output with 0 and build its ``attention_mask``."""
    ids = encoding["input_ids"]
    width = max(len(t) for t in ids)
    out = {}
    for key, rows in encoding.items():
        if key != "attention_mask" and isinstance(rows, list) and all(isinstance(r, list) for r in rows):
            out[key] = torch.tensor([list(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
    out["attention_mask"] = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in ids], dtype=torch.long)
    return out


def batch_size(inputs: Any) -> int:
    """Samples in a batch: the first axis of a tensor, or of every tensor of a mapping (all equal)."""
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0])
    sizes = {int(v.shape[0]) for v in inputs.values() if isinstance(v, torch.Tensor) and v.ndim}
    if len(sizes) != 1:
        raise InputError(f"the tensors of a batch must share their first axis (samples), got {describe(inputs)}")
    return sizes.pop()


def describe(inputs: Any) -> str:
    """A short description of a batch for error messages."""
    if isinstance(inputs, torch.Tensor):
        return f"a tensor of shape {tuple(inputs.shape)}"
    if isinstance(inputs, Mapping):
        return "{" + ", ".join(f"{k!r}: {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}"
                               for k, v in inputs.items()) + "}"
    return type(inputs).__name__


def _call_hint(inputs: Any) -> str:
    if isinstance(inputs, Mapping):
        return ("A dict batch is passed as keyword arguments (model(**batch)); for a model that takes the dict "
                "itself use Adapter(call='positional'); for a model that takes one tensor pass that tensor.")
    return ("A tensor batch is passed as model(x); a Hugging Face model needs a dict batch "
            "(tokenizer(texts, padding=True, return_tensors='pt')) or a list of texts with adapter=for_transformers(model, tokenizer).")


# --------------------------------------------------------------------------- library models
#: Hugging Face model classes whose output is a categorical over the last axis.
_LOGIT_HEADS = ("ForCausalLM", "LMHeadModel", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                "ForImageClassification", "ForMultipleChoice", "ForNextSentencePrediction")


def for_transformers(model: nn.Module, tokenizer: Any = None, max_length: int = 128) -> Adapter:
    """Adapter of a Hugging Face ``transformers`` model: logits of a head model, else mean-pooled hidden states.

    ``max_length`` is capped at the model's position limit (``max_position_embeddings``/``n_positions``).
    """
    name = type(model).__name__
    config = getattr(model, "config", None)
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if isinstance(positions, int) and positions > 0:
        max_length = min(max_length, positions)
    if name.endswith(_LOGIT_HEADS):
        return Adapter(kind="logits", output="logits", tokenizer=tokenizer, max_length=max_length)
    return Adapter(kind="embedding", output="last_hidden_state", pooling="mean", tokenizer=tokenizer,
                   max_length=max_length)


def for_sentence_transformer(model: nn.Module, max_length: int | None = None) -> Adapter:
    """Adapter of a ``sentence-transformers`` model: its ``sentence_embedding`` (pooled and normalised by the model's modules)."""
    limit = max_length if max_length is not None else min(int(getattr(model, "max_seq_length", 128) or 128), MAX_LENGTH)
    return Adapter(kind="embedding", output="sentence_embedding", call="positional", normalize=True,
                   tokenizer=getattr(model, "tokenizer", None), max_length=limit)
