"""Tiny randomly initialised Hugging Face models built from configs (nothing downloaded), for the tests."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("the a of to and is in it for on with as by this that be are from or an at return value list string "
         "file object name path data line text number type class function error").split()


def tokenizer():
    """A word-level fast tokenizer over :data:`WORDS` (pad 0, unknown 1, cls 2, sep 3)."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]",
                                                cls_token="[CLS]", sep_token="[SEP]")


def vocab_size() -> int:
    return len(WORDS) + 4


def bert_config():
    import transformers

    return transformers.BertConfig(vocab_size=vocab_size(), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=32, max_position_embeddings=64)


def gpt2_config():
    import transformers

    return transformers.GPT2Config(vocab_size=vocab_size(), n_positions=64, n_embd=16, n_layer=2, n_head=2,
                                   bos_token_id=2, eos_token_id=3)


def bert(cls: str = "BertModel"):
    import transformers

    torch.manual_seed(0)
    return getattr(transformers, cls)(bert_config()).eval()


def gpt2():
    import transformers

    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(gpt2_config()).eval()


def save_folders(root: Path) -> dict[str, Path]:
    """transformers folders of BERT and GPT-2 and a sentence-transformers folder over the BERT."""
    tok = tokenizer()
    out = {"bert": root / "bert", "gpt2": root / "gpt2", "st": root / "st"}
    bert().save_pretrained(out["bert"])
    tok.save_pretrained(out["bert"])
    gpt2().save_pretrained(out["gpt2"])
    tok.save_pretrained(out["gpt2"])
    from sentence_transformers import SentenceTransformer
    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer

    t = Transformer(str(out["bert"]))
    SentenceTransformer(modules=[t, Pooling(bert_config().hidden_size), Normalize()], device="cpu").save(str(out["st"]))
    return out


def texts(n: int, seed: int = 0) -> list[str]:
    """``n`` random sentences of :data:`WORDS` of 3–12 words (different lengths, so batches get padding)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        k = int(torch.randint(3, 13, (1,), generator=g))
        out.append(" ".join(WORDS[int(i)] for i in torch.randint(0, len(WORDS), (k,), generator=g)))
    return out
