"""The S3 audit gate: collect once (boto3, injected session), evaluate purely, judge by policy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mlgate.errors import MlgateError, UsageError
from mlgate.gate import Gate, GateRun, Progress
from mlgate.gates.s3_audit.config import S3AuditConfig
from mlgate.gates.s3_audit.inventory import AuditInventory, collect_inventory
from mlgate.gates.s3_audit.runner import evaluate_inventory
from mlgate.model import Report
from mlgate.policy import Policy, default_policy_path, load_policy

if TYPE_CHECKING:  # pragma: no cover
    import boto3

GATE_ID = "s3-audit"


def default_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session from the standard configuration (environment, ``AWS_PROFILE``,
    ``~/.aws/config``, ``AWS_ENDPOINT_URL``), optionally for one profile/region."""
    from mlgate.integrations import aws

    try:
        session: boto3.Session = aws.session(profile_name=profile, region_name=region)
    except ImportError as e:  # pragma: no cover - boto3 is in the aws extra
        raise MlgateError("the S3 audit needs boto3: pip install 'mlgate[aws]'") from e
    except aws.AWS_ERRORS as e:
        if aws.setup_problem(e) == "no_profile":
            raise UsageError(str(e)) from None
        raise
    return session


_STACK_HINT = 'for the local stack: eval "$(mlgate stack up)"'


class S3AccessError(MlgateError):
    """Credentials or the endpoint are missing: nothing can be audited (exit 2, one line)."""


def preflight(session: boto3.Session) -> None:
    """Fail fast, with one line, when the credentials or the S3 endpoint are missing, instead of
    one finding per control that each repeat the same botocore error. Access denied and other
    answers from the service are left to the audit (they are findings about the account)."""
    from mlgate.integrations import aws

    try:
        creds = session.get_credentials()
    except Exception as e:  # a broken profile, a failing credential process
        if aws.credentials_problem(e) == "incomplete":
            kwargs = getattr(e, "kwargs", {})
            have = kwargs.get("cred_var") or "a credential variable"
            raise S3AccessError(
                f"AWS credentials are incomplete ({kwargs.get('provider', 'env')} provider is missing {have}): "
                f"set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE ({_STACK_HINT})"
            ) from None
        raise S3AccessError(f"AWS credentials could not be loaded: {type(e).__name__}: {e}") from None
    if creds is None:
        raise S3AccessError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
            f"({_STACK_HINT})"
        )
    try:
        s3 = aws.client("s3", session_=session,
                        config=aws.config(max_attempts=1, connect_timeout=10, read_timeout=30))
    except aws.AWS_ERRORS as e:
        if aws.setup_problem(e) == "no_region":  # pragma: no cover - s3 has a global default region
            raise S3AccessError("no AWS region configured: set AWS_REGION or AWS_DEFAULT_REGION") from None
        raise
    endpoint = s3.meta.endpoint_url
    try:
        s3.list_buckets(MaxBuckets=1)
    except Exception as e:  # denied, throttled, ...: the audit records these per control
        problem = aws.connection_problem(e)
        if problem in ("unreachable", "timeout"):
            raise S3AccessError(
                f"cannot reach the S3 endpoint {endpoint}: {e} (set AWS_ENDPOINT_URL for a local or "
                f"S3-compatible store; {_STACK_HINT})"
            ) from None
        if problem == "tls":
            raise S3AccessError(
                f"TLS to the S3 endpoint {endpoint} failed: {e} (set AWS_CA_BUNDLE to the endpoint's CA; "
                f"{_STACK_HINT})"
            ) from None
        if aws.credentials_problem(e) == "missing":  # pragma: no cover - checked above
            raise S3AccessError(f"no AWS credentials found ({_STACK_HINT})") from None


class S3AuditGate(Gate[S3AuditConfig]):
    """Audits S3 buckets (and their account, access points and multi-region access points) for
    the Security Hub S3 controls and mlgate's ML artifact-store controls."""

    id: ClassVar[str] = GATE_ID
    config_model: ClassVar[type[S3AuditConfig]] = S3AuditConfig
    subject_noun: ClassVar[str] = "resource"

    def _check(
        self,
        targets: list[str],
        policy: Policy,
        checkpoint: str | None,
        config: S3AuditConfig,
        progress: Progress,
        **options: Any,
    ) -> GateRun:
        """Options: ``session`` (a boto3 Session; default: the standard configuration),
        ``inventory`` (an :class:`AuditInventory` to evaluate instead of collecting one),
        ``max_workers`` (overrides the policy)."""
        unknown = set(options) - {"session", "inventory", "max_workers"}
        if unknown:
            raise UsageError(f"s3-audit: unknown option(s) {sorted(unknown)}")
        if options.get("max_workers"):
            config = S3AuditConfig.model_validate({**config.model_dump(), "max_workers": options["max_workers"]})
        inventory: AuditInventory | None = options.get("inventory")
        tools: dict[str, str] = {}
        if inventory is None:
            session = options.get("session")
            if session is None:
                session = default_session()
                preflight(session)
            inventory = collect_inventory(session, targets, config, progress)
            from mlgate.integrations import aws

            tools = aws.versions()
        run = evaluate_inventory(inventory, config)
        run.tools.update(tools)
        return run


def audit_buckets(
    buckets: Sequence[str] | None = None,
    *,
    policy: Policy | str | Path | None = None,
    session: boto3.Session | None = None,
    checkpoint: str | None = None,
    max_workers: int | None = None,
    progress: Progress | None = None,
) -> Report:
    """Audit S3 buckets and return the judged :class:`~mlgate.model.Report`.

    ``buckets``: names, ``s3://`` URIs or fnmatch patterns; ``None``/empty means the policy's
    ``gates.s3-audit.buckets``, and if that is empty too, every bucket the credentials can list.
    ``session``: the boto3 session to use (default: the standard boto3 configuration, so
    ``AWS_ENDPOINT_URL``, ``AWS_PROFILE`` and regions are honoured). Never exits or prints.
    """
    pol = policy if isinstance(policy, Policy) else load_policy(policy if policy is not None else default_policy_path())
    opts: dict[str, Any] = {}
    if session is not None:
        opts["session"] = session
    if max_workers is not None:
        opts["max_workers"] = max_workers
    return S3AuditGate().evaluate(list(buckets or ()), pol, checkpoint, progress, **opts)


def evaluate(
    inventory: AuditInventory,
    *,
    policy: Policy | str | Path | None = None,
    checkpoint: str | None = None,
) -> Report:
    """Judge an already collected inventory (no AWS call): for replays and tests."""
    pol = policy if isinstance(policy, Policy) else load_policy(policy if policy is not None else default_policy_path())
    return S3AuditGate().evaluate([], pol, checkpoint, None, inventory=inventory)
