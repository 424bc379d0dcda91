"""The LLM lifecycle on the embedded stack (``mlgate demo --scenario llm``): the LLM example
(:mod:`mlgate._dev.examples.train_llm`) pushed through the *real* pipeline, exactly like the
scikit-learn demo (:mod:`mlgate._dev.demo`: same stack, same flows, same policy):

* **pre-train**: the base model folder (``model.safetensors``, ``config.json``, tokenizer, chat
  template) is scanned, the instruction JSON Lines pass ``suites/llm-instructions.yaml``, the
  buckets are audited;
* **training**: ``train_llm:train_mlflow`` in the training process boundary (two LoRA adapters,
  a weighted 0.7/0.3 merge, a GGUF export, the merged model saved with MLflow's transformers
  flavour);
* **pre-publish**: adapters, merged model and GGUF are scanned; then the merged model is logged
  and registered with its evidence;
* **pre-deploy**: the version is verified and rescanned, the alias moves, and a smoke test loads
  the deployed copy with safetensors only and generates a few tokens.

Then the six blocking cases of the issue, each at its checkpoint. Exit 0 only when every
expectation held.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate._dev.demo import STACK_POLICY, CaseResult, _upload_tree, write_pipeline_variants
from mlgate.errors import GateFailed, MlgateError

MODEL_NAME = "tiny-llm"
PIPELINE_NAME = "llm-demo"
GGUF_IN_MODEL = "gguf/model.gguf"  # train_llm.MLFLOW_GGUF_FILE (not imported: keeps this module light)


@dataclass
class LlmDemoRun:
    """Everything the LLM demo found out (the e2e test asserts on it)."""

    results: list[CaseResult] = field(default_factory=list)
    configs: dict[str, Path] = field(default_factory=dict)
    version: str | None = None  # the clean, deployed version
    deployed_to: str | None = None
    smoke_text: str | None = None
    tampered_version: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)


def prepare(workdir: Path, info: Any, *, steps: int = 4) -> dict[str, Path]:
    """Instruction data (clean and leaking), a base model (clean and three poisoned), keys and one
    pipeline config per case, all uploaded to the stack's data bucket."""
    from mlgate._dev.examples import llm_attacks, train_llm
    from mlgate._dev.stack.local import ARTIFACT_BUCKET, DATA_BUCKET
    from mlgate.evidence.attestation import generate_keypair
    from mlgate.integrations import aws
    from mlgate.policy import packaged_policies_dir

    s3 = aws.client("s3", endpoint_url=info.s3_endpoint)
    inputs = workdir / "inputs"
    for old in (inputs, workdir / "derived"):  # a kept --workdir: made again, never mixed
        shutil.rmtree(old, ignore_errors=True)
    ds = train_llm.write_instruction_dataset(inputs / "instructions.jsonl")
    leak = train_llm.write_instruction_dataset(inputs / "instructions-leak.jsonl", leak="aws-key")
    s3.upload_file(str(ds), DATA_BUCKET, "llm/instructions.jsonl")
    s3.upload_file(str(leak), DATA_BUCKET, "llm-leak/instructions.jsonl")
    base = train_llm.write_base_model(inputs / "base-clean", ds)
    _upload_tree(s3, base, DATA_BUCKET, "base-models/tiny-llama")
    for case in ("pickle-weights", "template-internals", "auto-map"):
        bad = llm_attacks.poison_base(base, inputs / f"base-{case}", case)
        _upload_tree(s3, bad, DATA_BUCKET, f"base-models/tiny-llama-{case}")
    keys = workdir / "keys"
    if not (keys / "signing-key.pem").exists():
        generate_keypair(keys)
    suite = str(packaged_policies_dir() / "suites" / "llm-instructions.yaml")
    clean: dict[str, Any] = {
        "apiVersion": "mlgate/v1",
        "kind": "Pipeline",
        "name": PIPELINE_NAME,
        "tracking_uri": info.tracking_uri,
        "policy": str(packaged_policies_dir() / STACK_POLICY),
        "model_name": MODEL_NAME,
        "buckets": [DATA_BUCKET, ARTIFACT_BUCKET],
        "datasets": {"instructions": {"uri": f"s3://{DATA_BUCKET}/llm/instructions.jsonl", "suite": suite}},
        "base_models": {"base": f"s3://{DATA_BUCKET}/base-models/tiny-llama"},
        "training": {"function": "mlgate._dev.examples.train_llm:train_mlflow",
                     "params": {"steps": steps, "rank": 4, "weights": [0.7, 0.3], "seed": 0},
                     "timeout_seconds": 1800},
        "signing": {"private_key": str(keys / "signing-key.pem"), "public_key": str(keys / "signing-key.pub")},
        "deploy": {"alias": "production", "target": "folder", "folder": str(workdir / "serving")},
        "work_dir": str(workdir / "runs"),
    }
    variants: dict[str, dict[str, Any]] = {"clean": {}}
    for case in ("pickle-weights", "template-internals", "auto-map"):
        variants[case] = {"base_models": {"base": f"s3://{DATA_BUCKET}/base-models/tiny-llama-{case}"}}
    variants["dataset-secret"] = {"datasets": {"instructions": {
        "uri": f"s3://{DATA_BUCKET}/llm-leak/instructions.jsonl", "suite": suite}}}
    return write_pipeline_variants(workdir, clean, variants)


def _artifact_key(info: Any, version: str, rel: str) -> str:
    """The S3 key of file ``rel`` of a registered version (proxied artifact store layout)."""
    from mlgate.integrations.mlflow import mlflow_client

    client = mlflow_client(info.tracking_uri)
    mv = client.get_model_version(MODEL_NAME, version)
    if not mv.run_id:
        raise MlgateError(f"version {version} has no run")
    run = client.get_run(mv.run_id)
    # mlflow-artifacts:/<exp>/<run>/artifacts -> s3://<bucket>/mlflow/<exp>/<run>/artifacts
    root = run.info.artifact_uri.split("mlflow-artifacts:/", 1)[1].lstrip("/")
    return f"mlflow/{root}/model/{rel}"


def tamper_gguf_in_registry(info: Any, version: str, clean_copy: Path) -> None:
    """The attack after the scan: the registered GGUF is rewritten in the artifact bucket with a
    chat template that reaches Python internals (valid GGUF, other bytes)."""
    from mlgate._dev.examples import llm_attacks, train_llm
    from mlgate._dev.stack.local import ARTIFACT_BUCKET
    from mlgate.integrations import aws

    weights, tok = train_llm.model_folders(clean_copy)
    with tempfile.TemporaryDirectory(prefix="mlgate-tamper-") as tmp:
        hf = Path(tmp) / "hf"
        hf.mkdir()
        for src in (weights / "config.json", weights / "model.safetensors", tok / "tokenizer.json"):
            shutil.copy2(src, hf / src.name)
        evil = llm_attacks.tamper_gguf_template(hf, Path(tmp) / "model.gguf")
        s3 = aws.client("s3", endpoint_url=info.s3_endpoint)
        s3.upload_file(str(evil), ARTIFACT_BUCKET, _artifact_key(info, version, GGUF_IN_MODEL))


def run_llm_demo(workdir: Path, load_flows: Callable[[], Any], echo: Callable[[str], None] = print) -> LlmDemoRun:
    """Start the stack (as :func:`mlgate._dev.demo.run_demo` does) and run every case."""
    from mlgate._dev.stack.local import running_stack

    workdir.mkdir(parents=True, exist_ok=True)
    echo(f"starting the local stack under {workdir} (moto S3, mlflow server, Prefect server on 127.0.0.1) ...")
    with running_stack(workdir / "stack", prefect=True) as info:
        os.environ.update(info.env())
        os.environ["PREFECT_LOGGING_LEVEL"] = os.environ.get("MLGATE_DEMO_PREFECT_LOG_LEVEL", "CRITICAL")
        echo(f"  S3 {info.s3_endpoint}   MLflow {info.tracking_uri}   Prefect {info.prefect_api_url}")
        flows = load_flows()
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: info.prefect_api_url}):
            return run_cases(workdir, info, flows, echo)


def run_cases(workdir: Path, info: Any, flows: Any, echo: Callable[[str], None] = print,
              *, steps: int = 4) -> LlmDemoRun:
    """Every case against a running stack (the caller set the environment and Prefect's API)."""
    run = LlmDemoRun()
    t0 = time.monotonic()
    echo("building the tiny LLM, its tokenizer and the instruction data (nothing downloaded) ...")
    run.configs = configs = prepare(workdir, info, steps=steps)
    run.seconds["prepare"] = time.monotonic() - t0
    clean = str(configs["clean"])

    def case(name: str, expected: str, fn: Callable[[], str]) -> None:
        t = time.monotonic()
        try:
            detail = fn()
            actual = "pass"
        except GateFailed as e:
            actual, detail = f"{e.checkpoint}/{e.gate}", str(e)
        except Exception as e:  # an unexpected error is a failed expectation, shown
            actual, detail = "error", f"{type(e).__name__}: {e}"
        ok = actual == expected
        dt = time.monotonic() - t
        run.results.append(CaseResult(name, expected, actual, ok, " ".join(detail.split()), dt))
        run.seconds[name] = dt
        echo(f"  [{'ok' if ok else 'UNEXPECTED'}] {name}: {actual} (expected {expected}) {dt:.1f}s")
        echo(f"        {' '.join(detail.split())[:300]}")

    def happy() -> str:
        from mlgate._dev.examples import train_llm

        r = flows.lifecycle(clean)
        run.version, run.deployed_to = str(r["version"]), str(r["deployed_to"])
        t = time.monotonic()
        run.smoke_text = train_llm.smoke_generate(Path(run.deployed_to), max_new_tokens=5)
        run.seconds["smoke test"] = time.monotonic() - t
        return (f"registered {MODEL_NAME} v{run.version} (transformers flavour), alias {r['alias']}, "
                f"smoke test generated {run.smoke_text!r}")

    case("clean LLM lifecycle (LoRA x2 -> merge -> GGUF)", "pass", happy)
    case("base model pytorch_model.bin with a payload", "pre-train/model-scan",
         lambda: flows.train(str(configs["pickle-weights"])))
    case("chat template reaching Python internals", "pre-train/model-scan",
         lambda: flows.train(str(configs["template-internals"])))
    case("auto_map custom code in config.json", "pre-train/model-scan",
         lambda: flows.train(str(configs["auto-map"])))
    case("instruction data leaking a cloud key", "pre-train/data-quality",
         lambda: flows.train(str(configs["dataset-secret"])))

    def need_clean() -> Path:
        if not run.deployed_to:
            raise MlgateError("the clean lifecycle did not deploy; nothing to derive this case from")
        copy = workdir / "derived" / f"clean-{time.monotonic_ns()}"
        shutil.copytree(run.deployed_to, copy, ignore=shutil.ignore_patterns(".mlgate-version"))
        return copy

    def pickled_adapter() -> str:
        from mlgate._dev.examples import llm_attacks

        copy = need_clean()
        first = copy / "adapters" / "first"
        bad = llm_attacks.poison_adapter(first, copy / "adapters" / "first-pickled")
        shutil.rmtree(first)
        bad.rename(first)
        r = flows.publish(clean, str(copy))
        return json.dumps(r)

    case("adapter saved as a pickle with a payload", "pre-publish/model-scan", pickled_adapter)

    def tampered_gguf() -> str:
        from mlgate.integrations.mlflow import mlflow_client

        copy = need_clean()
        # Different bytes from v1 (publish adopts a verified version of identical bytes): a second,
        # clean and signed version, so the tampering below never touches the one in production.
        (copy / "RELEASE.txt").write_text("second release of the merged model\n")
        v2 = str(flows.publish(clean, str(copy))["version"])
        run.tampered_version = v2
        tamper_gguf_in_registry(info, v2, copy)
        try:
            r = flows.deploy(clean, v2)
        finally:
            alias = mlflow_client(info.tracking_uri).get_model_version_by_alias(MODEL_NAME, "production")
            echo(f"        production alias after the attempt: v{alias.version}")
        return json.dumps(r)

    case("merged GGUF template changed after the scan", "pre-deploy/model-version", tampered_gguf)
    run.seconds["total"] = time.monotonic() - t0
    return run


def short_reason(detail: str) -> str:
    """One line for the table: the gate's reason without the checkpoint prefix, the count of failed
    subjects or the work folder's absolute paths."""
    reason = detail.split(" blocked: ", 1)[-1]
    reason = re.sub(r"^\d+ (?:file|dataset)\(s\) fail; most severe: ", "", reason)
    return re.sub(r"/\S*/inputs/datasets/", "", reason)


def print_table(run: LlmDemoRun, echo: Callable[[str], None]) -> None:
    echo("")
    echo(f"{'case':46} {'checkpoint':12} {'verdict':8} {'ok':3} reason")
    for r in run.results:
        checkpoint = r.actual.split("/")[0] if "/" in r.actual else "-"
        verdict = "pass" if r.actual == "pass" else ("blocked" if "/" in r.actual else r.actual)
        reason = short_reason(r.detail) if "/" in r.actual else r.detail
        echo(f"{r.name[:46]:46} {checkpoint:12} {verdict:8} {'yes' if r.ok else 'NO':3} {reason[:120]}")
