"""The LLM example: a tiny causal language model made locally, LoRA fine-tunes, a weighted adapter
merge and a GGUF export, all with the real libraries (transformers, peft, tokenizers, safetensors,
gguf) and nothing downloaded. It runs on a CPU in seconds and is what ``mlgate demo --scenario llm``
and the LLM tests push through the gates.

* :func:`write_instruction_dataset`: JSON Lines of ``{"prompt", "response"}`` records.
* :func:`write_base_model`: a Llama-architecture model with random weights (``model.safetensors``),
  a byte-level BPE tokenizer trained on the example data, and a chat template, saved as a Hugging
  Face folder by ``save_pretrained``.
* :func:`train`: the training function of the pipeline (``mlgate._dev.examples.train_llm:train``): two
  LoRA adapters trained with peft, merged with weights (``add_weighted_adapter``), the merged model
  saved with safetensors and exported to GGUF with its chat template. It writes::

      output_dir/adapters/<name>/   adapter_config.json, adapter_model.safetensors
      output_dir/model/             the merged Hugging Face folder (what is registered)
      output_dir/model/model.gguf   the merged weights for local inference (llama.cpp layout)

* :func:`train_mlflow`: the lifecycle's training function (``mlgate demo --scenario llm``,
  ``infra/pipelines/llm.yaml``): :func:`train`, then the merged model saved with MLflow's
  transformers flavour, the adapters and the GGUF inside the same folder (what is registered).
* :func:`smoke_generate`: loads a deployed folder (Hugging Face or MLflow layout) with safetensors
  only and generates a few tokens.

Every import of the ML libraries is local to a function: importing this module is cheap, and the
``llm`` extra is needed only when these functions run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlgate.lifecycle.train import TrainInputs

# A plain chat template: role and content, nothing reaching Python internals.
CHAT_TEMPLATE = (
    "{% for message in messages %}<s>{{ message['role'] }}: {{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant: {% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]

_TOPICS = [
    (
        "How do I rotate a signing key?",
        "Add the new public key to the trusted set, sign with the new key, then retire the old one.",
    ),
    (
        "What does the pre-train checkpoint check?",
        "The base model files, the training data and the buckets, before any training runs.",
    ),
    ("Why scan a model before loading it?", "Many model formats can run code when they are loaded."),
    ("What is a LoRA adapter?", "A small set of low-rank weight updates trained on top of a frozen base model."),
    ("How are adapters merged?", "Their weight updates are combined with weights and added to the base weights."),
    ("What is GGUF?", "A single-file format for local inference that also carries the chat template."),
    ("Where do verdicts live?", "As signed statements on the registered model version."),
    ("What happens to a quarantined version?", "Its aliases are removed and it cannot serve until it is released."),
]


def instruction_records(n: int = 64, seed: int = 0) -> list[dict[str, str]]:
    """``n`` distinct prompt/response records built from a small set of topics."""
    rng = random.Random(seed)  # noqa: S311 - sampling training data, not secrets
    out = []
    for i in range(n):
        q, a = _TOPICS[i % len(_TOPICS)]
        variant = rng.choice(["", "Briefly: ", "Please explain: ", "In one sentence: "])
        out.append({"prompt": f"{variant}{q} (case {i})", "response": a})
    return out


def write_instruction_dataset(path: Path, n: int = 64, *, seed: int = 0, leak: str | None = None) -> Path:
    """JSON Lines of prompt/response records. ``leak="aws-key"`` plants a cloud access key in one
    response (an inert, well-formed example key), the way a scraped support log leaks one."""
    records = instruction_records(n, seed)
    if leak == "aws-key":
        records[n // 2]["response"] += " Use AKIAIOSFODNN7EXAMPLE with secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY."
    elif leak is not None:
        raise ValueError(f"unknown leak {leak!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _read_records(path: Path) -> list[dict[str, Any]]:
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
    rows: list[dict[str, Any]] = []
    for f in files:
        rows.extend(json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip())
    return rows


def _texts(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [f"<s>user: {r['prompt']}</s>\n<s>assistant: {r['response']}</s>\n" for r in rows]


def write_base_model(folder: Path, dataset: Path | None = None, *, seed: int = 0, vocab_size: int = 512) -> Path:
    """A tiny Llama-architecture causal LM with random weights and a tokenizer trained on the
    example data, saved by ``save_pretrained`` (safetensors) with a chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    rows = _read_records(dataset) if dataset is not None else instruction_records()
    tok = Tokenizer(models.BPE(unk_token="<unk>"))  # noqa: S106 - a vocabulary token
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_texts(rows), trainer)
    fast_cls: Any = PreTrainedTokenizerFast  # untyped constructor in transformers 5
    fast = fast_cls(
        tokenizer_object=tok,
        bos_token="<s>",  # noqa: S106 - vocabulary tokens, not passwords
        eos_token="</s>",  # noqa: S106
        unk_token="<unk>",  # noqa: S106
        pad_token="<pad>",  # noqa: S106
    )
    fast.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


def _train_adapter(base: Path, rows: Sequence[dict[str, Any]], out: Path, *, seed: int, steps: int, rank: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = get_peft_model(
        LlamaForCausalLM.from_pretrained(base, use_safetensors=True),
        LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    texts = _texts(rows)
    rng = random.Random(seed)  # noqa: S311 - sampling training data, not secrets
    model.train()
    for _ in range(steps):
        batch = tok(rng.sample(texts, min(8, len(texts))), return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(str(out), safe_serialization=True)
    return out


def merge_adapters(base: Path, adapters: dict[str, Path], weights: dict[str, float], out: Path) -> Path:
    """Weighted merge of LoRA adapters (peft ``add_weighted_adapter``, linear), folded into the
    base weights and saved with safetensors, tokenizer and chat template included."""
    from peft import PeftModel
    from transformers import AutoTokenizer, LlamaForCausalLM

    names = list(adapters)
    model = PeftModel.from_pretrained(
        LlamaForCausalLM.from_pretrained(base, use_safetensors=True), adapters[names[0]], adapter_name=names[0]
    )
    for name in names[1:]:
        model.load_adapter(adapters[name], adapter_name=name)
    model.add_weighted_adapter(names, [weights[n] for n in names], adapter_name="merged", combination_type="linear")
    model.set_adapter("merged")
    merged = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


# Hugging Face Llama tensor names -> GGUF (llama.cpp) names.
_GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_GGUF_LAYER = {
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}


def gguf_name(hf_name: str) -> str:
    if hf_name in _GGUF_NAMES:
        return _GGUF_NAMES[hf_name]
    parts = hf_name.split(".")
    if parts[:2] == ["model", "layers"] and len(parts) > 3:
        rest = ".".join(parts[3:])
        if rest in _GGUF_LAYER:
            return f"blk.{parts[2]}.{_GGUF_LAYER[rest]}"
    raise ValueError(f"no GGUF name for tensor {hf_name!r}")


def export_gguf(model_dir: Path, out: Path, *, template: str | None = None) -> Path:
    """Write the merged weights (float32) and the tokenizer's chat template (or ``template``) to a
    GGUF file with the gguf library's writer, reading the weights with safetensors only."""
    import gguf
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    tok_cfg = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    template_file = model_dir / "chat_template.jinja"
    if template is None:
        template = template_file.read_text(encoding="utf-8") if template_file.exists() else CHAT_TEMPLATE
    tensors = load_file(str(model_dir / "model.safetensors"))
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name(model_dir.name)
    w.add_context_length(int(cfg["max_position_embeddings"]))
    w.add_embedding_length(int(cfg["hidden_size"]))
    w.add_block_count(int(cfg["num_hidden_layers"]))
    w.add_feed_forward_length(int(cfg["intermediate_size"]))
    w.add_head_count(int(cfg["num_attention_heads"]))
    w.add_head_count_kv(int(cfg["num_key_value_heads"]))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-6)))
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    vocab = tok_cfg["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    for added in tok_cfg.get("added_tokens", []):
        if added["id"] >= len(tokens):
            tokens.append(added["content"])
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tok_cfg["model"].get("merges", [])])
    w.add_bos_token_id(int(cfg["bos_token_id"]))
    w.add_eos_token_id(int(cfg["eos_token_id"]))
    w.add_chat_template(template)
    for name in sorted(tensors):
        w.add_tensor(gguf_name(name), tensors[name].astype("float32"))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def train(inputs: TrainInputs) -> Path:
    """The pipeline's training function: two LoRA adapters on the instruction data, a weighted
    merge, a GGUF export. Parameters (``training.params``): ``steps`` (default 8), ``rank`` (4),
    ``weights`` (``[0.7, 0.3]``), ``seed`` (0)."""
    base = inputs.base_models["base"]
    rows = _read_records(inputs.datasets["instructions"])
    if not rows:
        raise ValueError("the instruction dataset is empty")
    steps = int(inputs.params.get("steps", 8))
    rank = int(inputs.params.get("rank", 4))
    seed = int(inputs.params.get("seed", 0))
    w = [float(x) for x in inputs.params.get("weights", [0.7, 0.3])]
    half = max(1, len(rows) // 2)
    adapters = {
        "first": _train_adapter(
            base, rows[:half], inputs.output_dir / "adapters" / "first", seed=seed, steps=steps, rank=rank
        ),
        "second": _train_adapter(
            base, rows[half:] or rows, inputs.output_dir / "adapters" / "second", seed=seed + 1, steps=steps, rank=rank
        ),
    }
    model = merge_adapters(base, adapters, {"first": w[0], "second": w[1]}, inputs.output_dir / "model")
    export_gguf(model, model / "model.gguf")
    return inputs.output_dir


# Where the pipeline artifact of :func:`train_mlflow` keeps what is not part of MLflow's own layout.
MLFLOW_ADAPTERS_DIR = "adapters"
MLFLOW_GGUF_FILE = "gguf/model.gguf"


def train_mlflow(inputs: TrainInputs) -> Path:
    """The pipeline's training function for the lifecycle (``train_llm:train_mlflow``): what
    :func:`train` does, then the merged model saved as an MLflow model with the **transformers
    flavour** (offline: no Hub lookups), with the two adapters and the GGUF export inside the
    same folder, so that pre-publish scans all of it and the registry holds all of it under one
    signed manifest::

        output_dir/mlflow-model/  MLmodel, model/ (merged weights, safetensors), components/tokenizer/
                                  adapters/<name>/ (LoRA adapters), gguf/model.gguf

    PEFT-mode logging is not used: it would register only the adapter and leave the base bytes
    outside the registry; the merged model is what is registered."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the training process has no network anyway
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import shutil

    import mlflow.transformers
    from transformers import AutoTokenizer, LlamaForCausalLM

    train(inputs)
    merged = inputs.output_dir / "model"
    out = inputs.output_dir / "mlflow-model"
    model = LlamaForCausalLM.from_pretrained(merged, use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(merged)
    mlflow.transformers.save_model(
        {"model": model, "tokenizer": tok},
        str(out),
        task="text-generation",
        pip_requirements=["transformers", "torch", "tokenizers", "safetensors"],
    )
    shutil.copytree(inputs.output_dir / "adapters", out / MLFLOW_ADAPTERS_DIR)
    (out / MLFLOW_GGUF_FILE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(merged / "model.gguf", out / MLFLOW_GGUF_FILE)
    return out


def model_folders(deployed: Path) -> tuple[Path, Path]:
    """(weights folder, tokenizer folder) of a plain Hugging Face folder or of an MLflow
    transformers-flavour folder (``model/`` and ``components/tokenizer/``)."""
    if (deployed / "MLmodel").is_file():
        return deployed / "model", deployed / "components" / "tokenizer"
    return deployed, deployed


def smoke_generate(model_dir: Path, prompt: str = "What is GGUF?", max_new_tokens: int = 5) -> str:
    """Load a deployed folder (Hugging Face or MLflow transformers layout) with safetensors only
    (a ``.bin`` or ``.pt`` anywhere in it is refused, never read) and generate a few tokens
    greedily. Returns the generated text."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    if any(model_dir.rglob("*.bin")) or any(model_dir.rglob("*.pt")):
        raise ValueError(f"{model_dir} holds pickle-based weights: the smoke test loads safetensors only")
    weights_dir, tok_dir = model_folders(model_dir)
    model_dir = weights_dir
    tok = AutoTokenizer.from_pretrained(tok_dir)
    model: Any = LlamaForCausalLM.from_pretrained(model_dir, use_safetensors=True)
    model.eval()
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return str(tok.decode(out[0][enc["input_ids"].shape[1] :], skip_special_tokens=True))
