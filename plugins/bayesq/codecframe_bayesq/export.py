"""Write a quantized model as a dequantized model folder that its original library loads as is.

- ``transformers``: ``save_pretrained`` (safetensors) plus the tokenizer, loaded by ``AutoModel`` /
  the model class with ``from_pretrained``;
- ``sentence-transformers``: ``SentenceTransformer.save``, loaded by ``SentenceTransformer(folder)``;
- bundled architectures and bare ``.safetensors``: ``model.safetensors`` with the architecture and
  its options in the metadata, loaded by :func:`~.loading.load_model`.

The folder is written atomically (:func:`codecframe.io.atomic_directory`): on an error nothing is
left, and an existing folder is replaced only with ``overwrite``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from codecframe.io import atomic_directory

from .api import load
from .loading import LoadedModel

__all__ = ["export", "MODEL_FILE"]

#: File name of the weights in an exported folder of a bundled architecture.
MODEL_FILE = "model.safetensors"


def export(data: bytes, original: LoadedModel, folder: str | Path, overwrite: bool = False) -> Path:
    """Put the weights of the ``.cfr`` ``data`` into a copy of ``original`` and save it to ``folder``."""
    model = load(data, copy.deepcopy(original.model))
    folder = Path(folder)
    with atomic_directory(folder, overwrite=overwrite) as tmp:
        if original.source == "transformers":
            model.save_pretrained(str(tmp))
            if original.adapter.tokenizer is not None:
                original.adapter.tokenizer.save_pretrained(str(tmp))
        elif original.source == "sentence-transformers":
            model.save(str(tmp))
        else:
            from safetensors.torch import save_file

            tensors = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
            save_file(tensors, str(tmp / MODEL_FILE), metadata={
                "architecture": json.dumps(original.architecture["name"]),
                "options": json.dumps(original.architecture.get("options") or {})})
    return folder
