"""The LLM example built with the real libraries (transformers, peft, tokenizers, safetensors,
gguf), and what the gates say about it and its poisoned variants. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

from mlgate._dev.examples import llm_attacks, train_llm
from mlgate.api import scan
from mlgate.lifecycle.train import TrainInputs
from mlgate.model import Verdict

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "policies" / "suites" / "llm-instructions.yaml"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("llm")
    ds = train_llm.write_instruction_dataset(root / "data" / "instructions.jsonl")
    base = train_llm.write_base_model(root / "base", ds)
    out = train_llm.train(
        TrainInputs(
            datasets={"instructions": ds},
            dataset_fingerprints={},
            base_models={"base": base},
            output_dir=root / "out",
            params={"steps": 2},
        )
    )
    return {"root": root, "dataset": ds, "base": base, "out": out}


def _ids(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.id for s in report.subjects for f in s.findings}


def test_base_model_is_a_real_hf_folder_that_passes(built: dict[str, Path], default_policy_path: Path) -> None:
    names = {p.name for p in built["base"].iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= names
    report = scan([built["base"]], checkpoint="pre-train", policy=default_policy_path)
    assert report.verdict is Verdict.PASS, [
        (s.subject, s.reason) for s in report.subjects if s.verdict is not Verdict.PASS
    ]


def test_adapters_merged_model_and_gguf_pass(built: dict[str, Path], default_policy_path: Path) -> None:
    out = built["out"]
    assert (out / "adapters" / "first" / "adapter_model.safetensors").is_file()
    assert (out / "adapters" / "second" / "adapter_model.safetensors").is_file()
    assert (out / "model" / "model.gguf").is_file()
    report = scan([out], checkpoint="pre-publish", policy=default_policy_path)
    assert report.verdict is Verdict.PASS, [
        (s.subject, s.reason) for s in report.subjects if s.verdict is not Verdict.PASS
    ]
    assert "gguf" in {fmt for s in report.subjects for fmt in s.formats}


def test_gguf_carries_the_weights_and_the_chat_template(built: dict[str, Path]) -> None:
    import gguf
    from safetensors import safe_open

    model = built["out"] / "model"
    reader = gguf.GGUFReader(str(model / "model.gguf"))
    field = reader.fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode()
    assert template == (model / "chat_template.jinja").read_text(encoding="utf-8")
    with safe_open(str(model / "model.safetensors"), "np") as st:
        assert len(reader.tensors) == len(list(st.keys()))


def test_merge_changed_the_weights(built: dict[str, Path]) -> None:
    from safetensors.numpy import load_file

    base = load_file(str(built["base"] / "model.safetensors"))
    merged = load_file(str(built["out"] / "model" / "model.safetensors"))
    name = "model.layers.0.self_attn.q_proj.weight"
    assert base[name].shape == merged[name].shape
    assert (base[name] != merged[name]).any()  # the LoRA updates were folded in


def test_smoke_test_generates_with_safetensors_only(built: dict[str, Path], tmp_path: Path) -> None:
    text = train_llm.smoke_generate(built["out"] / "model", max_new_tokens=3)
    assert isinstance(text, str)
    bad = tmp_path / "with-bin"
    import shutil

    shutil.copytree(built["out"] / "model", bad)
    (bad / "pytorch_model.bin").write_bytes(llm_attacks.PAYLOAD)
    with pytest.raises(ValueError, match="safetensors only"):
        train_llm.smoke_generate(bad)


@pytest.mark.parametrize(
    ("case", "rule_prefix"),
    [("pickle-weights", "MLG-PKL"), ("template-internals", "MLG-TPL"), ("auto-map", "MLG-HF")],
)
def test_poisoned_base_models_are_blocked(
    built: dict[str, Path], tmp_path: Path, default_policy_path: Path, case: str, rule_prefix: str
) -> None:
    bad = llm_attacks.poison_base(built["base"], tmp_path / case, case)
    report = scan([bad], checkpoint="pre-train", policy=default_policy_path)
    assert report.verdict is Verdict.FAIL
    assert any(i.startswith(rule_prefix) for i in _ids(report)), _ids(report)


def test_pickled_adapter_with_payload_is_blocked(
    built: dict[str, Path], tmp_path: Path, default_policy_path: Path
) -> None:
    bad = llm_attacks.poison_adapter(built["out"] / "adapters" / "first", tmp_path / "adapter")
    report = scan([bad], checkpoint="pre-publish", policy=default_policy_path)
    assert report.verdict is Verdict.FAIL
    assert any(i.startswith("MLG-PKL") for i in _ids(report)), _ids(report)


def test_tampered_gguf_template_is_blocked(built: dict[str, Path], tmp_path: Path, default_policy_path: Path) -> None:
    target = tmp_path / "model.gguf"
    llm_attacks.tamper_gguf_template(built["out"] / "model", target)
    report = scan([target], checkpoint="pre-deploy", policy=default_policy_path)
    assert report.verdict is Verdict.FAIL, _ids(report)


def test_instruction_data_passes_and_a_leaked_key_fails_redacted(
    built: dict[str, Path], tmp_path: Path, default_policy_path: Path
) -> None:
    from mlgate.api import run_gate

    def check_data(paths: list[str], suite: str, policy: Path):  # type: ignore[no-untyped-def]
        return run_gate("data-quality", paths, policy=policy, checkpoint="pre-train", suite=suite)

    ok = check_data([str(built["dataset"])], suite=str(SUITE), policy=default_policy_path)
    assert ok.verdict is Verdict.PASS, [f.message for s in ok.subjects for f in s.findings]
    leak = train_llm.write_instruction_dataset(tmp_path / "leak.jsonl", leak="aws-key")
    bad = check_data([str(leak)], suite=str(SUITE), policy=default_policy_path)
    assert bad.verdict is Verdict.FAIL
    assert "AKIAIOSFODNN7EXAMPLE" not in bad.model_dump_json()  # the secret is not copied into the report
