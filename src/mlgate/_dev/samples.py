"""Inert sample model folders for the demo and the README: one clean Hugging Face-style folder
and one poisoned copy. The "payload" of the poisoned pickle is the command ``true`` (it does
nothing, and mlgate never loads the file anyway). No torch or hub download is needed."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray[Any, Any]]) -> None:
    dtypes = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int64"): "I64"}
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    blobs = []
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": dtypes[arr.dtype],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def write_clean_model(folder: Path, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    write_safetensors(
        folder / "model.safetensors",
        {
            "embed.weight": rng.standard_normal((32, 8)).astype(np.float32),
            "head.weight": rng.standard_normal((4, 8)).astype(np.float32),
            "head.bias": np.zeros(4, dtype=np.float32),
        },
    )
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "tiny-classifier",
                "hidden_size": 8,
                "vocab_size": 32,
                "num_labels": 4,
                "architectures": ["TinyClassifier"],
                "torch_dtype": "float32",
            },
            indent=2,
        )
    )
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "model_max_length": 128,
                "bos_token": "<s>",
                "eos_token": "</s>",
                "chat_template": CHATML,
            },
            indent=2,
        )
    )
    (folder / "generation_config.json").write_text(json.dumps({"max_new_tokens": 16}))
    (folder / "vocab.txt").write_text("\n".join(["<s>", "</s>", "<unk>"] + [f"tok{i}" for i in range(29)]) + "\n")
    (folder / "README.md").write_text("# tiny-classifier\n\nA sample model written by `mlgate samples`.\n")
    np.save(folder / "label_embeddings.npy", rng.standard_normal((4, 8)).astype(np.float32))
    return folder


def write_poisoned_model(folder: Path, seed: int = 0) -> Path:
    """The clean folder plus three published techniques: a protocol-2 pickle named .bin that calls
    ``posix.system('true')`` (CVE-2025-10155 class: not a torch zip, so some scanners skip it),
    an ``auto_map`` pointing at custom code shipped beside the weights, and that code."""
    write_clean_model(folder, seed)
    payload = (
        b"\x80\x02"  # PROTO 2
        b"cposix\nsystem\n"  # GLOBAL posix.system
        b"X\x04\x00\x00\x00true"  # BINUNICODE 'true' (a command that does nothing)
        b"\x85R"  # TUPLE1, REDUCE
        b"."  # STOP
    )
    (folder / "pytorch_model.bin").write_bytes(payload)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "modeling_tiny.TinyModel"}
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    (folder / "modeling_tiny.py").write_text("import os\n\nclass TinyModel:\n    pass\n")
    return folder
