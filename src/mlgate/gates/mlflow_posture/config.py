"""Settings of the MLflow posture gate: ``gates.mlflow-posture`` in a policy
(``policies/gates/mlflow-posture.yaml``). Strict (unknown keys are errors); the defaults are the
conservative ones: no store is allowed until listed, loopback limits are ``incomplete``, the
registry guard is required.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlgate.model import Severity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllowedStore(_Strict):
    """A store registered models and experiments may live in: a URI prefix
    (``s3://ml-artifacts/``, ``mlflow-artifacts:/``), matched after normalising ``scheme:///`` to
    ``scheme:/``."""

    prefix: str = Field(min_length=3)
    reason: str = Field(min_length=8)

    @field_validator("prefix")
    @classmethod
    def _shape(cls, v: str) -> str:
        if ":" not in v or "*" in v:
            raise ValueError(f"a URI prefix with a scheme and no wildcard: {v!r}")
        return v


class Credential(_Strict):
    username: str = Field(min_length=1)
    password: str = Field(min_length=1)


LoopbackOutcome = Literal["info", "incomplete", "fail"]


class MlflowPostureConfig(_Strict):
    tracking_uri: str | None = Field(
        default=None,
        description="Server to audit when none is named (then MLFLOW_TRACKING_URI).",
    )
    server_env: str | None = Field(
        default=None,
        description="The server's KEY=VALUE environment file for the server-side checks when the auditor runs next "
                    "to the server (relative to the policy file's folder); --server-env overrides it.",
    )
    advisories: str = Field(
        default="mlflow-advisories.yaml",
        description="The advisory table, relative to the policy file's folder.",
    )
    allowed_stores: tuple[AllowedStore, ...] = Field(
        default=(),
        description="Where model version sources and experiment artifact locations may point. Empty: the "
                    "registry-content checks are incomplete (nothing is allowed by default).",
    )
    default_credentials: tuple[Credential, ...] = Field(
        default=(Credential(username="admin", password="password1234"),),  # noqa: S106 - MLflow's shipped default
        description="Credentials that must NOT be accepted (MLflow basic-auth's built-in admin).",
    )
    loopback: LoopbackOutcome = Field(
        default="incomplete",
        description="What a check that cannot be judged on a loopback URL reports (TLS; anonymous access, "
                    "when loopback_anonymous is not fail): info, incomplete or fail.",
    )
    loopback_anonymous: LoopbackOutcome = Field(
        default="fail",
        description="Anonymous access to a server reached on loopback: fail (the default: an auditor on the same "
                    "host cannot tell how far the server is exposed), incomplete, or info (a dev stack bound to "
                    "127.0.0.1 with --allowed-hosts).",
    )
    server_side: Literal["required", "optional"] = Field(
        default="required",
        description="Without the server's environment (--server-env) the server-side checks are incomplete "
                    "(required) or reported as info (optional: an audit from outside only).",
    )
    require_guard_plugin: bool = Field(
        default=True, description="Server side: the mlgate registry guard must be the registry store."
    )
    timeout_seconds: float = Field(
        default=15.0, gt=0, le=120,
        description="Per HTTP request; generous, because a busy server is not a finding.",
    )
    retries: int = Field(
        default=1, ge=0, le=5,
        description="Tries again a request that got no answer (timeout, reset); each counts against max_requests.",
    )
    max_requests: int = Field(default=400, ge=20, le=10000, description="Budget of HTTP requests per audit.")
    max_registry_items: int = Field(
        default=2000, ge=1, description="Model versions and experiments read at most; more is incomplete."
    )
    resolve_indirect_sources: bool = Field(
        default=False,
        description="Resolve models:/m-<id> and runs:/ sources to their artifact location (one request per logged "
                    "model or run). Off: they are judged through their experiment's artifact location, which the "
                    "server derives and mlflow_experiment_artifact_locations checks.",
    )
    severity: dict[str, Severity] = Field(default_factory=dict, description="Severity overrides by check id.")

    @model_validator(mode="after")
    def _known_checks(self) -> MlflowPostureConfig:
        if self.severity:
            from mlgate.gates.mlflow_posture.checks import check_ids

            unknown = sorted(set(self.severity) - set(check_ids()))
            if unknown:
                raise ValueError(f"severity: unknown check id(s) {unknown}")
        return self
