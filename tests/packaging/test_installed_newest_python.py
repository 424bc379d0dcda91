"""The wheel installed on the newest Python this machine has (3.13, from pyenv) into a fresh venv
outside the checkout, by pip from the configured local index with ``constraints.txt``, scans a
remote target: ``s3://`` on the session's moto server (127.0.0.1). The same model scanned as a
local folder by the same install gives the same manifest digest."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest
from tests.packaging.installed import build_wheel, clean_env, install, newest_python

from mlgate.samples import write_clean_model, write_poisoned_model
from mlgate.stack.moto import FAKE_CREDENTIALS

PYTHON = newest_python("3.13")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PYTHON is None, reason="no Python 3.13 under ~/.pyenv/versions (pyenv install 3.13)"),
]


def _upload(s3, bucket: str, folder: Path, prefix: str) -> None:  # type: ignore[no-untyped-def]
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            s3.put_object(Bucket=bucket, Key=f"{prefix}{p.relative_to(folder).as_posix()}", Body=p.read_bytes())


@pytest.mark.timeout(2400)
def test_installed_on_the_newest_python_scans_s3(moto_server: str, tmp_path: Path) -> None:
    assert PYTHON is not None
    outside = tmp_path / "outside"  # no checkout anywhere above the working directory
    outside.mkdir()
    wheel = build_wheel(tmp_path / "wheel")
    bin_dir = install(wheel, tmp_path / "venv", extras="aws", python=PYTHON, cwd=outside)
    env = {**clean_env(tmp_path / "home"), **FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": moto_server}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=outside, env=env, capture_output=True, text=True, timeout=600,
                              check=False)

    where = run(str(bin_dir / "python"), "-c",
                "import sys, mlgate; print(sys.version_info[0], sys.version_info[1]); print(mlgate.__file__)")
    assert where.returncode == 0, where.stderr
    version, module = where.stdout.split("\n")[:2]
    assert version == "3 13"
    assert module.startswith(str(tmp_path / "venv")), module

    bucket = f"py313-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                      aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    s3.create_bucket(Bucket=bucket)
    clean = write_clean_model(tmp_path / "clean")
    poisoned = write_poisoned_model(tmp_path / "poisoned")
    _upload(s3, bucket, clean, "models/clean/")
    _upload(s3, bucket, poisoned, "models/poisoned/")

    mlgate = str(bin_dir / "mlgate")
    remote = run(mlgate, "scan", "-f", "json", f"s3://{bucket}/models/clean")
    assert remote.returncode == 0, remote.stdout[-3000:] + remote.stderr[-3000:]
    remote_doc = json.loads(remote.stdout)
    assert remote_doc["verdict"] == "pass"
    [rm] = remote_doc["manifests"]
    assert rm["root"] == f"s3://{bucket}/models/clean"
    local = run(mlgate, "scan", "-f", "json", str(clean))
    assert local.returncode == 0, local.stderr[-3000:]
    [lm] = json.loads(local.stdout)["manifests"]
    assert rm["manifest_sha256"] == lm["manifest_sha256"]  # the same bytes, wherever they are read

    bad = run(mlgate, "scan", "-f", "json", f"s3://{bucket}/models/poisoned")
    assert bad.returncode == 1, bad.stdout[-3000:] + bad.stderr[-3000:]
    bad_doc = json.loads(bad.stdout)
    assert bad_doc["verdict"] == "fail"
    assert any(f["blocking"] for s in bad_doc["subjects"] for f in s["findings"])
    # without credentials: one clear error, exit 2, nothing scanned
    no_creds = {**{k: v for k, v in env.items() if not k.startswith("AWS_") or k == "AWS_ENDPOINT_URL"},
                "AWS_EC2_METADATA_DISABLED": "true"}  # never ask an instance-metadata address
    r = subprocess.run([mlgate, "scan", f"s3://{bucket}/models/clean"], cwd=outside, env=no_creds,
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
