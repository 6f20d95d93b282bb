"""Make the tiny local model directory the mocker, the frontend and aiperf need.

No weights and no download: a 4096-token byte-level BPE trained in seconds on
Python's own standard-library sources (always on disk), a ChatML chat template,
and a Llama-shaped config.json the mocker reads to size its KV cache.
"""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

REQUIRED_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<pad>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
VOCAB_SIZE = 4096
CONTEXT = 8192


def missing_files(model_dir: Path) -> list[str]:
    """Names of the required files that are absent (or a tokenizer_config without a chat template)."""
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    cfg = model_dir / "tokenizer_config.json"
    if cfg.is_file() and "chat_template" not in json.loads(cfg.read_text()):
        missing.append("tokenizer_config.json:chat_template")
    return missing


def _training_files(limit: int = 200) -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [str(p) for p in sorted(stdlib.glob("*.py"))[:limit]]


def make_tiny_model(model_dir: Path) -> Path:
    """Write the model directory (idempotent: an existing complete directory is kept)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    model_dir.mkdir(parents=True, exist_ok=True)
    if not missing_files(model_dir):
        return model_dir
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train(_training_files(), trainer)
    tok.save(str(model_dir / "tokenizer.json"))
    (model_dir / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "<|im_end|>",
                "unk_token": "<unk>",
                "pad_token": "<pad>",
                "model_max_length": CONTEXT,
                "chat_template": CHAT_TEMPLATE,
            },
            indent=2,
        )
    )
    (model_dir / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<s>", "eos_token": "<|im_end|>", "unk_token": "<unk>", "pad_token": "<pad>"})
    )
    (model_dir / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "vocab_size": tok.get_vocab_size(),
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "head_dim": 16,
                "max_position_embeddings": CONTEXT,
                "torch_dtype": "float16",
                "bos_token_id": 1,
                "eos_token_id": 4,
            },
            indent=2,
        )
    )
    (model_dir / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 4}))
    return model_dir
