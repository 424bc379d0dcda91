"""Poisoned variants of the LLM example, one per published technique, for the demo and the tests.
Every payload is inert (the command ``true``) and mlgate never loads these files anyway.

=====================  ==========================================================  ===============
case                   what it is                                                  blocked at
=====================  ==========================================================  ===============
``pickle-weights``     base model with a ``pytorch_model.bin`` pickle calling      pre-train
                       ``posix.system``
``template-internals`` chat template that walks to ``os`` through Jinja globals    pre-train
                       (server-side template injection)
``auto-map``           ``config.json`` ``auto_map`` pointing at shipped Python     pre-train
                       (``trust_remote_code``)
``adapter-pickle``     a LoRA adapter saved as a pickle (``adapter_model.bin``)    pre-publish
                       with a payload
``dataset-secret``     instruction data that leaks a cloud access key              pre-train (data)
``gguf-template``      the merged GGUF's chat template replaced after the scan     pre-deploy
=====================  ==========================================================  ===============
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mlgate._dev.examples import train_llm

PAYLOAD = (
    b"\x80\x02"  # PROTO 2
    b"cposix\nsystem\n"  # GLOBAL posix.system
    b"X\x04\x00\x00\x00true"  # BINUNICODE 'true' (a command that does nothing)
    b"\x85R."  # TUPLE1, REDUCE, STOP
)
EVIL_TEMPLATE = (
    "{{ cycler.__init__.__globals__.os.popen('true').read() }}"
    "{% for message in messages %}{{ message['content'] }}{% endfor %}"
)
CASES = ("pickle-weights", "template-internals", "auto-map", "adapter-pickle", "dataset-secret", "gguf-template")


def poison_base(clean_base: Path, out: Path, case: str) -> Path:
    """A copy of a clean base-model folder with one technique applied."""
    shutil.copytree(clean_base, out)
    if case == "pickle-weights":
        (out / "pytorch_model.bin").write_bytes(PAYLOAD)
    elif case == "template-internals":
        (out / "chat_template.jinja").write_text(EVIL_TEMPLATE, encoding="utf-8")
    elif case == "auto-map":
        cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
        cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_tiny.TinyForCausalLM"}
        (out / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        (out / "modeling_tiny.py").write_text("import os\n\n\nclass TinyForCausalLM:\n    pass\n", encoding="utf-8")
    else:
        raise ValueError(f"{case!r} is not a base-model case")
    return out


def poison_adapter(clean_adapter: Path, out: Path) -> Path:
    """The adapter saved the old way, as a pickle, carrying a payload instead of its weights."""
    shutil.copytree(clean_adapter, out)
    (out / "adapter_model.safetensors").unlink()
    (out / "adapter_model.bin").write_bytes(PAYLOAD)
    return out


def tamper_gguf_template(model_dir: Path, gguf_file: Path) -> Path:
    """Rewrite ``gguf_file`` from ``model_dir`` with a template that reaches Python internals: the
    bytes of an already scanned and registered file change."""
    return train_llm.export_gguf(model_dir, gguf_file, template=EVIL_TEMPLATE)
