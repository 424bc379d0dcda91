"""infra/pipelines/llm.yaml, the LLM pipeline config users copy, loads and validates, and says the
same thing as the config `mlgate demo --scenario llm` runs."""

from __future__ import annotations

import importlib
from pathlib import Path

from mlgate.lifecycle.config import load_pipeline_config
from mlgate.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "infra" / "pipelines" / "llm.yaml"


def test_llm_pipeline_config_loads_and_its_files_exist() -> None:
    cfg = load_pipeline_config(CONFIG)
    doc = cfg.doc
    assert doc.model_name == "tiny-llm"
    assert cfg.policy_path.is_file()
    policy = load_policy(cfg.policy_path)
    for checkpoint in ("pre-train", "pre-publish", "pre-deploy"):
        assert "model-scan" in policy.gates_for(checkpoint)
    assert "data-quality" in policy.gates_for("pre-train")
    (ds,) = doc.datasets.values()
    assert ds.uri.endswith(".jsonl")
    assert cfg.resolve(ds.suite).name == "llm-instructions.yaml"
    assert cfg.resolve(ds.suite).is_file()
    assert set(doc.base_models) == {"base"}  # the name train_llm's training functions read
    assert doc.training.isolation == "landlock"
    assert doc.training.network is False
    assert doc.training.params["weights"] == [0.7, 0.3]
    # the training function exists (imported here only because it is the project's own example)
    mod, _, fn = doc.training.function.partition(":")
    assert callable(getattr(importlib.import_module(mod), fn))
    assert doc.deploy.target == "folder"
    assert doc.deploy.folder


def test_llm_pipeline_config_matches_the_demo() -> None:
    """The demo's clean config and the copyable one agree on everything but the stack's addresses
    and local paths."""
    import inspect

    from mlgate._dev import llm_demo

    doc = load_pipeline_config(CONFIG).doc
    assert doc.model_name == llm_demo.MODEL_NAME
    src = inspect.getsource(llm_demo.prepare)
    assert doc.training.function in src
    assert Path(doc.policy).name in {llm_demo.STACK_POLICY}
    assert doc.base_models["base"].endswith("base-models/tiny-llama")
    assert doc.datasets["instructions"].uri.endswith("llm/instructions.jsonl")
