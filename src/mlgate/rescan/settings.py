"""Where a rescan gets its settings.

* The **pipeline config** (:mod:`mlgate.lifecycle.config`): tracking URI, policy, the signing key
  pair, the buckets, the work folder.
* The **policy** section ``gates.rescan`` (:class:`RescanPolicy`, e.g. ``{include:
  gates/rescan.yaml}``): which models, which checkpoint's rules, how the byte check may be
  shortened, what a failing bucket audit means. The section is optional; its defaults are the
  strict ones (every model, quarantine on any failure, only strong object identities).
* The **command line / flow parameters**: ``--model`` filters, ``--max-workers``,
  ``--artifacts-destination``, ``--full``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlgate.errors import UsageError
from mlgate.policy import Checkpoint, Policy

SECTION = "rescan"
ENV_ARTIFACTS_DESTINATION = "MLGATE_ARTIFACTS_DESTINATION"
ENV_METRICS_FILE = "MLGATE_RESCAN_METRICS_FILE"

Identity = Literal["version-id", "sha256", "etag"]

DEFAULT_ENGINES = ("modelscan", "skops", "h5py", "safetensors", "gguf", "numpy", "py7zr")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ByteCheckPolicy(_Strict):
    """When the byte check may skip the download."""

    trust: tuple[Identity, ...] = Field(
        default=("version-id", "sha256"),
        description=(
            "Object identities accepted as proof that stored bytes are unchanged: 'version-id' (an S3 object "
            "version in a versioning-enabled bucket is immutable), 'sha256' (S3's stored SHA-256 checksum), "
            "'etag' (MD5 for single-part uploads: weak against a party who prepared a collision pair)."
        ),
    )
    full_after_days: int | None = Field(
        default=None, ge=1,
        description="Download and re-hash anyway when the last full byte check is older than this (unset: never).",
    )


class RescanPolicy(_Strict):
    """The ``gates.rescan`` policy section."""

    models: tuple[str, ...] = Field(default=("*",), description="fnmatch patterns on registered model names.")
    exclude_models: tuple[str, ...] = Field(default=(), description="fnmatch patterns excluded from `models`.")
    checkpoint: Checkpoint = Field(
        default="pre-publish", description="Whose rules a registered version is rescanned under.")
    aliased_checkpoint: Checkpoint = Field(
        default="pre-deploy", description="Whose rules a version holding an alias (in service) is rescanned under.")
    audit_buckets: bool = Field(default=True, description="Re-audit the artifact buckets (once per run).")
    on_bucket_failure: Literal["quarantine", "report"] = Field(
        default="quarantine",
        description="A bucket that fails the audit: quarantine the versions stored in it, or only report it.",
    )
    byte_check: ByteCheckPolicy = ByteCheckPolicy()
    pending_grace_minutes: int = Field(
        default=60, ge=0,
        description="A version younger than this with no mlgate evidence yet is reported as pending, not quarantined.",
    )
    engines: tuple[str, ...] = Field(
        default=DEFAULT_ENGINES,
        description="Distributions whose versions are part of the 'scanner versions' (a change triggers a rescan).",
    )
    max_workers: int = Field(default=4, ge=1, le=256, description="Versions checked concurrently.")
    artifacts_destination: str | None = Field(
        default=None,
        description="s3://bucket/prefix the tracking server stores mlflow-artifacts:/ under (its --artifacts-destination).",
    )
    metrics_file: str | None = Field(
        default=None,
        description="Prometheus textfile-collector file every run writes (mlgate_rescan_*); relative to the "
                    "pipeline config's folder. A run that did not check everything leaves last_success as it was.",
    )

    @field_validator("artifacts_destination")
    @classmethod
    def _dest(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("s3://"):
            raise ValueError("must be an s3:// URI")
        return v


def rescan_policy(policy: Policy) -> RescanPolicy:
    """The validated ``gates.rescan`` section (defaults when absent); a PolicyError names the field."""
    return policy.gate_config(SECTION, RescanPolicy)


class RescanSettings(BaseModel):
    """Everything a rescan run needs, as plain data (it travels to Dask workers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: str
    policy_path: Path
    public_key: Path
    private_key: Path | None = Field(
        default=None, description="Signs the rescan state; without it every run downloads every version.")
    buckets: tuple[str, ...] = ()
    models: tuple[str, ...] = Field(default=(), description="Only these registered models (exact names).")
    artifacts_destination: str | None = None
    max_workers: int = Field(default=4, ge=1, le=256)
    full: bool = Field(default=False, description="Ignore the recorded state: download, re-hash and rescan all.")
    work_dir: Path
    emit_events: bool = True
    metrics_file: Path | None = Field(default=None, description="Textfile-collector file written after the run.")
    release_experiment: str = "mlgate-release"


def load_settings(
    config: str | Path,
    *,
    models: tuple[str, ...] | list[str] = (),
    max_workers: int | None = None,
    artifacts_destination: str | None = None,
    full: bool = False,
    emit_events: bool = True,
    metrics_file: str | Path | None = None,
) -> RescanSettings:
    """Settings from a pipeline config, the policy's ``gates.rescan`` section and overrides
    (argument > ``$MLGATE_ARTIFACTS_DESTINATION`` > policy for the artifacts destination; argument >
    ``$MLGATE_RESCAN_METRICS_FILE`` > policy for the metrics file)."""
    from mlgate.lifecycle.config import load_pipeline_config
    from mlgate.policy import load_policy

    cfg = load_pipeline_config(config)
    policy = load_policy(cfg.policy_path)
    rp = rescan_policy(policy)
    private = cfg.resolve(cfg.doc.signing.private_key)
    dest = artifacts_destination or os.environ.get(ENV_ARTIFACTS_DESTINATION) or rp.artifacts_destination
    if dest is not None and not dest.startswith("s3://"):
        raise UsageError(f"artifacts destination {dest!r}: must be an s3:// URI")
    metrics = metrics_file or os.environ.get(ENV_METRICS_FILE) or None
    metrics_path = Path(metrics) if metrics else (cfg.resolve(rp.metrics_file) if rp.metrics_file else None)
    return RescanSettings(
        tracking_uri=cfg.doc.tracking_uri,
        policy_path=cfg.policy_path,
        public_key=cfg.resolve(cfg.doc.signing.public_key),
        private_key=private if private.is_file() else None,
        buckets=tuple(cfg.doc.buckets),
        models=tuple(models),
        artifacts_destination=dest,
        max_workers=max_workers or rp.max_workers,
        full=full,
        work_dir=cfg.work_dir / "rescan",
        emit_events=emit_events,
        metrics_file=metrics_path,
    )
