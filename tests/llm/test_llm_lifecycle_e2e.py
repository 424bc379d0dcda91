"""End to end: the LLM scenario (`mlgate demo --scenario llm`, :mod:`mlgate._dev.llm_demo`) through
the real Prefect flows (under Prefect's test harness) against a real `mlflow server` and a real moto
S3 server started here on 127.0.0.1. One stack start and one training run serve every test: the
happy path is asserted on the registry, the evidence, the alias and the deployed copy; every
blocking case on the same run's results (the GGUF tampered before deploy runs end to end)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

pytestmark = pytest.mark.slow


@dataclass
class Env:
    info: Any
    run: Any
    workdir: Path
    client: Any
    seconds: float


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from mlflow.tracking import MlflowClient
    from prefect.testing.utilities import prefect_test_harness

    from mlgate._dev import llm_demo
    from mlgate._dev.stack.local import running_stack
    from mlgate.orchestration import flows

    workdir = tmp_path_factory.mktemp("llm-lifecycle")
    mp = pytest.MonkeyPatch()
    t = time.monotonic()
    try:
        with running_stack(workdir / "stack") as info:
            for k, v in info.env().items():
                mp.setenv(k, v)
            mp.setenv("PREFECT_LOGGING_LEVEL", "CRITICAL")
            with prefect_test_harness(server_startup_timeout=180):
                run = llm_demo.run_cases(workdir, info, flows, echo=print, steps=2)
                yield Env(info, run, workdir, MlflowClient(tracking_uri=info.tracking_uri), time.monotonic() - t)
    finally:
        mp.undo()


def _result(env: Env, prefix: str) -> Any:
    (r,) = [r for r in env.run.results if r.name.startswith(prefix)]
    return r


def test_every_expectation_held(env: Env) -> None:
    assert len(env.run.results) == 7
    assert env.run.ok, [(r.name, r.expected, r.actual, r.detail) for r in env.run.results if not r.ok]
    print(f"LLM e2e: {env.seconds:.0f} s from stack start; per case: "
          + ", ".join(f"{k} {v:.1f}s" for k, v in env.run.seconds.items()))


def test_registered_version_carries_signed_evidence_of_every_file(env: Env) -> None:
    import mlflow

    from mlgate.digest import manifest_of
    from mlgate.evidence.attestation import load_public_key, verify
    from mlgate.lifecycle.signing import ModelSigningKey
    from mlgate.lifecycle.staging import hash_tree

    mv = env.client.get_model_version("tiny-llm", env.run.version)
    tags = mv.tags
    assert tags["mlgate.verdict"] == "pass"
    for t in ("mlgate.manifest_sha256", "mlgate.policy_digest", "mlgate.checked_at", "mlgate.signature",
              "mlgate.attestation_envelope"):
        assert tags.get(t), t
    keys = env.workdir / "keys"
    payload = verify(tags["mlgate.attestation_envelope"], load_public_key(keys / "signing-key.pub"))
    assert payload["subject"]["manifest_sha256"] == tags["mlgate.manifest_sha256"]
    assert payload["subject"]["source"] == mv.source
    dl = Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(env.workdir / "check"),
                                                  tracking_uri=env.info.tracking_uri))
    files = hash_tree(dl)
    assert manifest_of(files) == tags["mlgate.manifest_sha256"]
    # the merged model (transformers flavour), both adapters and the GGUF are in the signed manifest
    for f in ("MLmodel", "model/model.safetensors", "components/tokenizer/tokenizer.json",
              "components/tokenizer/chat_template.jinja", "adapters/first/adapter_model.safetensors",
              "adapters/second/adapter_model.safetensors", "gguf/model.gguf"):
        assert f in files, f
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl"))]
    sig = Path(mlflow.artifacts.download_artifacts(artifact_uri=tags["mlgate.signature"],
                                                   dst_path=str(env.workdir / "sig"),
                                                   tracking_uri=env.info.tracking_uri))
    ModelSigningKey(None, keys / "signing-key.pub").verify_model(dl, sig)
    arts = {a.path for a in env.client.list_artifacts(mv.run_id, "mlgate")}
    assert {"mlgate/report.json", "mlgate/report.sarif", "mlgate/model.sig", "mlgate/attestation.json"} <= arts


def test_registered_version_is_a_transformers_flavour_model(env: Env) -> None:
    import mlflow.transformers
    import yaml

    deployed = Path(env.run.deployed_to)
    mlmodel = yaml.safe_load((deployed / "MLmodel").read_text())
    assert "transformers" in mlmodel["flavors"]
    assert mlmodel["flavors"]["transformers"]["task"] == "text-generation"
    components = mlflow.transformers.load_model(str(deployed), return_type="components")
    assert type(components["model"]).__name__ == "LlamaForCausalLM"


def test_deployed_alias_and_smoke_generation(env: Env) -> None:
    from mlgate.digest import manifest_of
    from mlgate.lifecycle.staging import hash_tree

    alias = env.client.get_model_version_by_alias("tiny-llm", "production")
    assert alias.version == env.run.version  # the tampered version never took the alias
    served = hash_tree(Path(env.run.deployed_to))
    assert served.pop(".mlgate-version")
    assert manifest_of(served) == alias.tags["mlgate.manifest_sha256"]
    assert isinstance(env.run.smoke_text, str)
    assert "smoke test generated" in _result(env, "clean LLM lifecycle").detail


@pytest.mark.parametrize(
    ("prefix", "expected", "needle"),
    [
        ("base model pytorch_model.bin", "pre-train/model-scan", "MLG-PKL-"),
        ("chat template reaching", "pre-train/model-scan", "MLG-TPL-"),
        ("auto_map custom code", "pre-train/model-scan", "MLG-HF-AUTO-MAP"),
        ("instruction data leaking", "pre-train/data-quality", "regex_list"),
        ("adapter saved as a pickle", "pre-publish/model-scan", "adapter_model.bin"),
        ("merged GGUF template changed", "pre-deploy/model-version", "are not the signed bytes"),
    ],
)
def test_blocking_cases_at_their_checkpoint(env: Env, prefix: str, expected: str, needle: str) -> None:
    r = _result(env, prefix)
    assert r.actual == expected, r.detail
    assert needle in r.detail
    assert "AKIAIOSFODNN7EXAMPLE" not in r.detail  # a leaked secret is never echoed


def test_blocked_cases_registered_nothing_but_the_tampered_version(env: Env) -> None:
    versions = sorted(int(v.version) for v in env.client.search_model_versions("name='tiny-llm'"))
    # v1: the clean lifecycle; v2: published clean, then tampered in S3 and refused at deploy
    assert versions == [1, 2]
    assert env.run.tampered_version == "2"
    v2 = env.client.get_model_version("tiny-llm", "2")
    assert "production" not in (v2.aliases or [])
