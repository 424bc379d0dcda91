"""The training function is untrusted code: it runs in its own confined process (a fresh
interpreter, a minimal environment, Landlock). A hostile training function that patches mlgate's
analysers, reads the signing key, writes outside its output folder, calls home or signals the gate
process is contained, and the poisoned model it writes is still blocked at pre-publish."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import mlgate
from mlgate.errors import PolicyError
from mlgate.lifecycle.checkpoints import CheckpointOutcome, run_checkpoint
from mlgate.lifecycle.config import load_pipeline_config
from mlgate.lifecycle.pipeline import Context, PreTrainResult
from mlgate.lifecycle.sandbox import abi_version
from mlgate.lifecycle.staging import stage
from mlgate.lifecycle.train import TrainingFailed, run_isolated
from mlgate.model import Verdict

pytestmark = pytest.mark.skipif(abi_version() < 4, reason="needs Linux Landlock ABI 4 (kernel 6.7+)")

HOSTILE = '''
import json, os, signal, socket
from pathlib import Path

def train(inputs):
    p = inputs.params
    probe = {}
    # 1. patch mlgate's analysers in memory (and the gate's scan entry point)
    import mlgate.api
    mlgate.api.scan = lambda *a, **k: None
    probe["patched_in_child"] = mlgate.api.scan(None) is None
    # 2. read the signing key by its path
    try:
        probe["key"] = Path(p["key"]).read_text()
    except OSError as e:
        probe["key"] = f"denied: {e.errno}"
    # 3. write outside the output folder: beside mlgate's code, in a staged input, anywhere
    for name, target in (("package", Path(mlgate.api.__file__).with_name("_pwned.py")),
                         ("input", inputs.datasets["train"]), ("outside", Path(p["outside"]))):
        if target.is_dir():
            target = target / "pwned.csv"
        try:
            with open(target, "a") as f:
                f.write("pwned\\n")
            probe[f"write_{name}"] = "written"
        except OSError as e:
            probe[f"write_{name}"] = f"denied: {e.errno}"
    # 4. secrets from the environment, the gate's process, the network
    probe["env"] = sorted(os.environ)
    try:
        os.kill(os.getppid(), 0)
        probe["signal"] = "allowed"
    except OSError as e:
        probe["signal"] = f"denied: {e.errno}"
    try:
        Path(f"/proc/{os.getppid()}/environ").read_bytes()
        probe["parent_environ"] = "read"
    except OSError as e:
        probe["parent_environ"] = f"denied: {e.errno}"
    try:
        socket.create_connection(("127.0.0.1", int(p["port"])), timeout=5).close()
        probe["network"] = "connected"
    except OSError as e:
        probe["network"] = f"denied: {e.errno}"
    probe["cwd"] = sorted(os.listdir("."))
    # 5. the poisoned model
    from mlgate._dev.samples import write_poisoned_model
    model = write_poisoned_model(inputs.output_dir / "model")
    (inputs.output_dir / "probe.json").write_text(json.dumps(probe))
    return model
'''


def _setup(tmp_path: Path, function: str, params: dict[str, Any] | None = None, **training: Any) -> tuple[Context, PreTrainResult]:
    from mlgate.policy import default_policy_path

    team = tmp_path / "team"
    team.mkdir()
    (team / "hostile_train.py").write_text(textwrap.dedent(HOSTILE))
    (team / "broken_train.py").write_text("def train(inputs):\n    raise RuntimeError('out of memory, says the team')\n")
    (team / "slow_train.py").write_text("import time\n\ndef train(inputs):\n    time.sleep(120)\n")
    (team / "escaping_train.py").write_text("def train(inputs):\n    return '/etc'\n")
    keys = tmp_path / "keys"
    keys.mkdir()
    key = keys / "signing-key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nTHE-SECRET\n-----END PRIVATE KEY-----\n")
    key.chmod(0o600)
    data = tmp_path / "data" / "train.csv"
    data.parent.mkdir()
    data.write_text("a,b\n1,2\n")
    cfg_path = tmp_path / "pipeline.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "apiVersion": "mlgate/v1", "name": "t", "tracking_uri": "http://127.0.0.1:9", "policy": str(default_policy_path()),
        "model_name": "m", "training": {"function": function, "python_path": ["team"], "params": params or {},
                                        **training},
        "signing": {"private_key": str(key), "public_key": str(keys / "signing-key.pub")},
        "work_dir": str(tmp_path / "runs"),
    }))
    ctx = Context(load_pipeline_config(cfg_path))
    copy = stage(str(data), ctx.run_dir / "inputs" / "datasets" / "train")
    return ctx, PreTrainResult(CheckpointOutcome("pre-train"), {"train": copy}, {}, {})


def test_a_hostile_training_function_is_contained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "gate-credential")
    monkeypatch.setenv("MLGATE_SIGNING_KEY", str(tmp_path / "keys" / "signing-key.pem"))
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "gate-token")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        ctx, pre = _setup(tmp_path, "hostile_train:train", {
            "key": str(tmp_path / "keys" / "signing-key.pem"), "outside": str(tmp_path / "outside.txt"), "port": port})
        artifact = run_isolated(ctx, pre)
    finally:
        listener.close()
    probe = json.loads((ctx.run_dir / "output" / "probe.json").read_text())
    assert probe["patched_in_child"] is True  # it did patch its own copy ...
    assert probe["key"] == "denied: 13", probe["key"]  # ... but never read the key
    assert probe["write_package"] == "denied: 13"  # EACCES: Landlock, not a wrong path
    assert probe["write_input"] == "denied: 13"  # EACCES: Landlock, not a wrong path
    assert probe["write_outside"] == "denied: 13"  # EACCES: Landlock, not a wrong path
    assert not (Path(mlgate.__file__).parent / "api.py").with_name("_pwned.py").exists()
    assert not (tmp_path / "outside.txt").exists()
    pre.datasets["train"].reverify("pre-train")  # the staged input is unchanged
    assert not {e for e in probe["env"] if e.startswith(("AWS_", "MLGATE_", "MLFLOW_TRACKING", "PREFECT_"))}
    assert probe["signal"].startswith("denied")
    assert probe["parent_environ"].startswith("denied")
    assert probe["network"].startswith("denied")
    assert probe["cwd"] == []
    # ... and the gate process's analysers are intact: the poisoned model is blocked.
    assert artifact == (ctx.run_dir / "output" / "model").resolve()
    outcome = run_checkpoint("pre-publish", ctx.policy, scan_paths=[str(artifact)])
    assert outcome.verdict is Verdict.FAIL
    assert {r.gate for r in outcome.reports if r.verdict is Verdict.FAIL} == {"model-scan"}


def test_a_failing_training_function_is_one_clear_error(tmp_path: Path) -> None:
    ctx, pre = _setup(tmp_path, "broken_train:train")
    with pytest.raises(TrainingFailed, match="out of memory, says the team"):
        run_isolated(ctx, pre)


def test_an_unimportable_function_names_the_config_field(tmp_path: Path) -> None:
    ctx, pre = _setup(tmp_path, "no_such_team_module:train")
    with pytest.raises(PolicyError, match=r"training\.function.*no_such_team_module"):
        run_isolated(ctx, pre)


def test_a_returned_path_outside_the_output_folder_is_refused(tmp_path: Path) -> None:
    ctx, pre = _setup(tmp_path, "escaping_train:train")
    with pytest.raises(TrainingFailed, match="not inside its output folder"):
        run_isolated(ctx, pre)


def test_training_is_killed_after_its_timeout(tmp_path: Path) -> None:
    ctx, pre = _setup(tmp_path, "slow_train:train", timeout_seconds=1)
    with pytest.raises(TrainingFailed, match="did not finish within 1 s"):
        run_isolated(ctx, pre)
