"""The posture gate against real ``mlflow server`` processes on 127.0.0.1 (started once for the
module, concurrently), one per configuration of issue 12. Each test asserts the exact set of
failing check ids.

* ``open``: no authentication, ``--allowed-hosts '*'``, ``--cors-allowed-origins '*'``, local
  artifact root, ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true`` with webhooks to the metadata address
  and a private address (plain http, no secret), a model version stored in a foreign bucket;
* ``weak-admin``: basic-auth whose admin password is a credential the policy lists as a known
  default (MLflow 3.17 itself refuses ``admin``/``password1234``: see the test);
* ``hardened``: basic-auth with a strong admin password, ``--allowed-hosts``, CORS for its own
  origin, proxied artifacts, the server-side settings hardened, but no registry guard;
* ``guard``: the same with the mlgate registry guard as the registry store;
* ``stack``: :func:`mlgate.stack.mlflow_server.start_mlflow`, the server ``mlgate stack up`` runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.mlflow_posture.servers import (
    ADMIN,
    ENCRYPTION_KEY,
    STRONG_PASSWORD,
    WEAK_DEFAULT,
    Spec,
    Srv,
    auth_config,
    rest,
    start_all,
    stop_all,
)

from mlgate.cli import main
from mlgate.evidence.attestation import generate_keypair
from mlgate.gates.mlflow_posture import audit_server
from mlgate.model import FindingKind, Report, Severity, Verdict
from mlgate.policy import load_policy
from mlgate.stack.moto import FAKE_CREDENTIALS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

HARDENED_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": ENCRYPTION_KEY,
    "MLFLOW_FLASK_SERVER_SECRET_KEY": "posture-test-flask-secret",
}
SERVER_SIDE = {"mlflow_server_job_execution", "mlflow_server_webhook_schemes", "mlflow_server_pickle_deserialization",
               "mlflow_server_registry_guard", "mlflow_server_webhook_encryption_key",
               "mlflow_server_webhook_private_ips"}


def write_policy(tmp: Path, name: str, **settings: Any) -> Path:
    """The default policy with this module's posture settings (the advisory table of the repo)."""
    base = {
        "advisories": str(REPO / "policies" / "mlflow-advisories.yaml"),
        "allowed_stores": [{"prefix": "mlflow-artifacts:/", "reason": "the proxied artifact store"}],
        "loopback": "incomplete",
        "loopback_anonymous": "fail",
        "timeout_seconds": 30,  # the shared test machine runs at load 10-25: no timing assertions
    }
    base.update(settings)
    doc = (REPO / "policies" / "default.yaml").read_text().replace("allowlists/", str(REPO / "policies/allowlists") + "/")
    doc = doc.replace("{include: gates/", "{include: " + str(REPO / "policies" / "gates") + "/")
    doc = doc.replace(f"mlflow-posture: {{include: {REPO / 'policies' / 'gates'}/mlflow-posture.yaml}}",
                      "mlflow-posture: " + json.dumps(base))
    path = tmp / f"{name}.yaml"
    path.write_text(doc)
    load_policy(path)  # valid
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> Iterator[dict[str, Srv]]:
    root = tmp_path_factory.mktemp("posture")
    keys = root / "keys"
    _, pub = generate_keypair(keys)
    cfg = {n: auth_config(root / f"{n}-auth.ini", root / f"{n}-auth.db", pw)
           for n, pw in (("weak-admin", WEAK_DEFAULT), ("hardened", STRONG_PASSWORD), ("guard", STRONG_PASSWORD))}
    auth_env = {"MLFLOW_FLASK_SERVER_SECRET_KEY": "posture-test-flask-secret"}
    hardened_flags = ["--app-name", "basic-auth", "--allowed-hosts", "127.0.0.1:{port}",
                      "--cors-allowed-origins", "http://127.0.0.1:{port}", "--artifacts-destination",
                      "{work}/artifacts", "--serve-artifacts", "--x-frame-options", "DENY"]
    specs = [
        Spec("open", ["--default-artifact-root", "{work}/art", "--allowed-hosts", "*", "--cors-allowed-origins", "*"],
             {"MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true", "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "https,http"}),
        Spec("weak-admin", ["--app-name", "basic-auth", "--default-artifact-root", "{work}/art"],
             {**auth_env, "MLFLOW_AUTH_CONFIG_PATH": str(cfg["weak-admin"])}, (ADMIN, WEAK_DEFAULT)),
        Spec("hardened", hardened_flags, {**HARDENED_ENV, "MLFLOW_AUTH_CONFIG_PATH": str(cfg["hardened"])},
             (ADMIN, STRONG_PASSWORD)),
        Spec("guard", hardened_flags, {**HARDENED_ENV, "MLFLOW_AUTH_CONFIG_PATH": str(cfg["guard"]),
                                       "MLGATE_REGISTRY_PUBLIC_KEY": str(pub)},
             (ADMIN, STRONG_PASSWORD), registry_store="mlgate+sqlite:///{db}"),
    ]
    bucket = f"posture-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                 aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=bucket)
    from mlgate.stack.mlflow_server import start_mlflow

    with ThreadPoolExecutor(2) as pool:  # the stack's server starts while the others do
        stack_f = pool.submit(start_mlflow, root / "stack", s3_endpoint=moto_server, artifact_bucket=bucket,
                              timeout=240)
        srvs_f = pool.submit(start_all, specs, root)
        srvs = srvs_f.result()
        stack = stack_f.result()
    srvs["stack"] = Srv("stack", stack.url, root / "stack", root / "stack" / "none.env", stack)
    try:
        _populate(srvs)
        yield srvs
    finally:
        stop_all(srvs)


def _populate(s: dict[str, Srv]) -> None:
    op = s["open"]
    for name, url in (("metadata", "http://169.254.169.254/latest/meta-data/"),
                      ("intranet", "http://10.20.30.40:8080/mlflow-hook")):
        rest(op, "POST", "/api/2.0/mlflow/webhooks",
             {"name": name, "url": url, "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]})
    rest(op, "POST", "/api/2.0/mlflow/registered-models/create", {"name": "foreign"})
    rest(op, "POST", "/api/2.0/mlflow/model-versions/create",
         {"name": "foreign", "source": "s3://someone-elses-bucket/model"})
    hd = s["hardened"]
    rest(hd, "POST", "/api/2.0/mlflow/webhooks",
         {"name": "receiver", "url": "https://93.184.215.14/mlflow-hook", "secret": "posture-test-secret",
          "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]})


def audit(srv: Srv, policy: Path, *, server_env: bool = True) -> Report:
    return audit_server(srv.url, policy=policy, credentials=srv.credentials,
                        server_env=srv.env_file if server_env else None)


def failing(report: Report) -> set[str]:
    assert report.subjects, f"no subject: {report.reason}; {[f.message for f in report.findings]}"
    print("\n".join(f"{f.id} {f.kind.value} {f.severity.value} {f.message}"  # shown when a test fails
                     for s in report.subjects for f in s.findings))
    return {f.id for s in report.subjects for f in s.findings
            if f.kind is FindingKind.ISSUE and f.blocking}


def incomplete(report: Report) -> set[str]:
    return {f.id for s in report.subjects for f in s.findings if f.kind is FindingKind.UNSUPPORTED}


def test_wide_open_server_fails_every_expected_check(servers: dict[str, Srv], tmp_path: Path) -> None:
    report = audit(servers["open"], write_policy(tmp_path, "strict"))
    assert report.verdict is Verdict.FAIL
    assert failing(report) == {
        "mlflow_anonymous_access", "mlflow_host_header_validation", "mlflow_cors_origin",
        "mlflow_experiment_artifact_locations", "mlflow_model_version_sources",
        "mlflow_webhook_private_target", "mlflow_webhook_plain_http", "mlflow_webhook_secret",
        *SERVER_SIDE,
    }
    assert incomplete(report) == {"mlflow_transport_tls"}  # loopback: incomplete
    findings = report.subjects[0].findings
    anon = {f.location.member for f in findings if f.id == "mlflow_anonymous_access"}
    # every route family is reachable without credentials on a default 3.17.2 server
    assert anon == {"rest-2.0", "rest-3.0", "ajax-api", "graphql", "artifacts", "multipart-upload", "jobs",
                    "traces", "gateway", "gateway-api", "webhooks"}
    targets = {f.details["target"] for f in findings if f.id == "mlflow_webhook_private_target"}
    assert targets == {"cloud metadata service", "private"}
    remediation = next(f for f in findings if f.id == "mlflow_server_webhook_private_ips").remediation
    assert "unset MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS" in remediation
    assert report.subjects[0].details["requests"] <= 60


def test_default_admin_password_is_probed(servers: dict[str, Srv], tmp_path: Path) -> None:
    srv = servers["weak-admin"]
    creds = [{"username": "admin", "password": "password1234"}, {"username": ADMIN, "password": WEAK_DEFAULT}]
    report = audit(srv, write_policy(tmp_path, "weak", default_credentials=creds), server_env=False)
    assert failing(report) == {"mlflow_default_admin_credentials", "mlflow_experiment_artifact_locations"}
    # 3.17.2 basic-auth protects every route family it serves, FastAPI ones included
    assert report.subjects[0].details["route_families"]["jobs"] == "protected"
    assert "mlflow_anonymous_access" not in {f.id for f in report.subjects[0].findings}
    assert incomplete(report) >= SERVER_SIDE  # no --server-env: not assumed fine
    # MLflow 3.17.2 refuses the legacy admin/password1234 itself (GHSA-gq3w-7jj3-x7gr)
    legacy = audit(srv, write_policy(tmp_path, "legacy", default_credentials=creds[:1]), server_env=False)
    assert "mlflow_default_admin_credentials" not in failing(legacy)


def test_hardened_server_without_guard_fails_only_the_guard(servers: dict[str, Srv], tmp_path: Path) -> None:
    report = audit(servers["hardened"], write_policy(tmp_path, "hardened", loopback="info"))
    assert failing(report) == {"mlflow_server_registry_guard"}
    assert incomplete(report) == set()


def test_guarded_hardened_server_passes(servers: dict[str, Srv], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    policy = write_policy(tmp_path, "guard", loopback="info")
    report = audit(servers["guard"], policy)
    assert report.verdict is Verdict.PASS, report.reason
    infos = {f.id for s in report.subjects for f in s.findings}
    assert infos == {"mlflow_transport_tls"}  # loopback cannot show TLS: info, said in the report
    assert all(f.severity is Severity.INFO for s in report.subjects for f in s.findings)
    # the same through the command line: without credentials the registry cannot be read (error, never
    # a pass); with MLflow's own client variables, exit code 0 and SARIF
    out = tmp_path / "guard.sarif"
    argv = ["audit-mlflow", servers["guard"].url, "-p", str(policy), "--server-env", str(servers["guard"].env_file)]
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    assert main(argv) == 2
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", STRONG_PASSWORD)
    rc = main(["audit-mlflow", servers["guard"].url, "-p", str(policy), "--server-env",
               str(servers["guard"].env_file), "-f", "sarif", "-o", str(out)])
    assert rc == 0
    assert json.loads(out.read_text())["version"] == "2.1.0"


def test_strict_policy_blocks_loopback_tls_as_incomplete(servers: dict[str, Srv], tmp_path: Path) -> None:
    report = audit(servers["guard"], write_policy(tmp_path, "strict-guard"))
    assert report.verdict is Verdict.INCOMPLETE
    assert incomplete(report) == {"mlflow_transport_tls"}


def test_stack_server_passes_the_local_stack_policy(servers: dict[str, Srv]) -> None:
    """What ``mlgate stack up`` starts passes ``policies/local-stack.yaml``; what loopback cannot show
    (TLS, anonymous access on 127.0.0.1, the server-side settings without an environment file) is
    reported as info."""
    report = audit_server(servers["stack"].url, policy=REPO / "policies" / "local-stack.yaml")
    assert report.verdict is Verdict.PASS, report.reason
    got = {f.id: f.severity for s in report.subjects for f in s.findings}
    assert set(got) == {"mlflow_anonymous_access", "mlflow_transport_tls", *SERVER_SIDE}
    assert set(got.values()) == {Severity.INFO}


def test_command_line_on_the_open_server(servers: dict[str, Srv], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["audit-mlflow", servers["open"].url, "-p", str(write_policy(tmp_path, "cli")), "-f", "json"])
    assert rc == 1
    data = json.loads(capsys.readouterr().out)
    assert data["gate"] == "mlflow-posture"
    assert data["verdict"] == "fail"
    f = next(f for f in data["subjects"][0]["findings"] if f["id"] == "mlflow_host_header_validation")
    assert "--allowed-hosts" in f["remediation"]
