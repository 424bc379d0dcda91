"""Policies are data (``policies/*.yaml``), validated here.

A policy says, per checkpoint, which gates run and what blocks; carries the allowlist of
known-safe constructs (each with a reason); and carries exceptions (waivers) with an owner and an
expiry date. Every error names the file and the field. There is no implicit allow-all: without a
policy file there is no gate run (see :func:`load_policy`).

Gate-specific settings live under ``gates.<gate-id>`` (inline or ``{include: file.yaml}``) and
are validated by the gate's own ``config_model`` when the gate runs (or by ``mlgate policy
validate``), so that loading a policy never imports a heavy gate.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlgate.errors import PolicyError
from mlgate.model import Finding, FindingKind, Severity, Verdict, Waiver

CHECKPOINTS = ("pre-train", "pre-publish", "pre-deploy")
Checkpoint = Literal["pre-train", "pre-publish", "pre-deploy"]
POLICY_API_VERSION = "mlgate/v1"
MAX_POLICY_BYTES = 4 * 1024 * 1024
MAX_INCLUDE_DEPTH = 4

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Action(str, Enum):
    BLOCK = "block"
    ALLOW = "allow"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Blocking(_Strict):
    """What blocks. Unset fields inherit from ``defaults``."""

    block_severity: Severity | None = Field(
        default=None, description="Issues at or above this severity block (unless waived)."
    )
    unknown_globals: Severity | None = Field(
        default=None, description="Severity given to pickle globals (and skops/keras types) outside the allowlist."
    )
    unsupported: Action | None = Field(
        default=None, description="Unsupported, skipped or partially analysed content: block => incomplete."
    )
    scanner_errors: Action | None = Field(default=None, description="An engine error: block => error.")


class ResolvedBlocking(_Strict):
    block_severity: Severity
    unknown_globals: Severity
    unsupported: Action
    scanner_errors: Action


class CheckpointPolicy(Blocking):
    gates: tuple[str, ...] = Field(description="Gate ids that run at this checkpoint.")


class AllowEntry(_Strict):
    """One known-safe construct. ``module`` may end in ``.**`` (the module and its submodules);
    ``name`` may be ``*`` (any attribute); ``classes_only`` restricts a wildcard to names that
    start with an upper-case letter (classes by convention), never functions."""

    module: str
    name: str
    reason: str = Field(min_length=3)
    classes_only: bool = False

    @field_validator("module")
    @classmethod
    def _module(cls, v: str) -> str:
        parts = v.split(".")
        if parts[-1] == "**":
            parts = parts[:-1]
        if not parts or not all(_IDENT.match(p) for p in parts):
            raise ValueError(f"not a module name or 'pkg.**' pattern: {v!r}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v != "*" and not all(_IDENT.match(p) for p in v.split(".")):
            raise ValueError(f"not an attribute name or '*': {v!r}")
        return v

    def matches(self, module: str, name: str) -> bool:
        if self.module.endswith(".**"):
            base = self.module[:-3]
            if module != base and not module.startswith(base + "."):
                return False
        elif module != self.module:
            return False
        if self.name == "*":
            if self.classes_only:
                last = name.split(".")[-1]
                return bool(last) and last.lstrip("_")[:1].isupper() and "." not in name
            return True
        return name == self.name


class Allowlist(_Strict):
    include: tuple[str, ...] = ()
    globals: tuple[AllowEntry, ...] = ()


class ExceptionEntry(_Strict):
    """A waiver: the matching findings are reported as waived (never dropped) until ``expires``."""

    id: str
    rule: str = Field(description="Finding id, control id (S3.20, ML.3) or fnmatch pattern, e.g. MLG-HF-* or S3.*")
    subject: str = Field(default="*", description="fnmatch pattern on the subject (path, bucket, dataset)")
    checkpoints: tuple[Checkpoint, ...] = ()
    reason: str = Field(min_length=8)
    owner: str = Field(min_length=1)
    expires: _dt.date

    def applies(self, finding: Finding, subject: str, checkpoint: str | None, today: _dt.date) -> bool:
        if today > self.expires:
            return False
        if self.checkpoints and checkpoint not in self.checkpoints:
            return False
        rule_hit = fnmatch.fnmatchcase(finding.id, self.rule) or any(
            fnmatch.fnmatchcase(c, self.rule) for c in finding.controls
        )
        return rule_hit and fnmatch.fnmatchcase(subject, self.subject)


class PolicyDoc(_Strict):
    apiVersion: Literal["mlgate/v1"]
    kind: Literal["Policy"] = "Policy"
    name: str
    description: str = ""
    defaults: Blocking = Blocking()
    checkpoints: dict[Checkpoint, CheckpointPolicy]
    allowlist: Allowlist = Allowlist()
    exceptions: tuple[ExceptionEntry, ...] = ()
    gates: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_exception_ids(self) -> PolicyDoc:
        ids = [e.id for e in self.exceptions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate exception ids: {dupes}")
        return self


_HARD_DEFAULTS = ResolvedBlocking(
    block_severity=Severity.MEDIUM,
    unknown_globals=Severity.HIGH,
    unsupported=Action.BLOCK,
    scanner_errors=Action.BLOCK,
)

C = TypeVar("C", bound=BaseModel)


class Policy:
    """A loaded, validated policy with its includes resolved and its digest computed."""

    def __init__(self, doc: PolicyDoc, path: Path, resolved: dict[str, Any], sources: dict[str, str]) -> None:
        self.doc = doc
        self.path = path
        self._resolved = resolved
        self.sources = sources  # file -> sha256 of every file that went into this policy
        canonical = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
        self.digest = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def name(self) -> str:
        return self.doc.name

    def ref(self) -> Any:
        from mlgate.model import PolicyRef

        return PolicyRef(name=self.name, path=str(self.path), digest=self.digest)

    # -- blocking -------------------------------------------------------------------------------
    def blocking(self, checkpoint: str | None) -> ResolvedBlocking:
        merged = _HARD_DEFAULTS.model_dump()
        layers: list[Blocking] = [self.doc.defaults]
        if checkpoint is not None:
            cp = next((v for k, v in self.doc.checkpoints.items() if k == checkpoint), None)
            if cp is not None:
                layers.append(cp)
        for layer in layers:
            for k, v in layer.model_dump(exclude={"gates"}).items():
                if v is not None:
                    merged[k] = v
        return ResolvedBlocking(**merged)

    def gates_for(self, checkpoint: str) -> tuple[str, ...]:
        cp = next((v for k, v in self.doc.checkpoints.items() if k == checkpoint), None)
        if cp is None:
            raise PolicyError(str(self.path), f"checkpoints.{checkpoint}", "checkpoint not defined in policy")
        return tuple(cp.gates)

    # -- allowlist ------------------------------------------------------------------------------
    @property
    def allow_entries(self) -> tuple[AllowEntry, ...]:
        return self.doc.allowlist.globals

    def allowed(self, module: str, name: str) -> AllowEntry | None:
        for e in self.doc.allowlist.globals:
            if e.matches(module, name):
                return e
        return None

    # -- gate config ----------------------------------------------------------------------------
    def gate_config(self, gate_id: str, model: type[C]) -> C:
        raw = self.doc.gates.get(gate_id, {})
        try:
            return model.model_validate(raw)
        except ValidationError as e:
            raise _policy_error_from(self.path, e, prefix=f"gates.{gate_id}") from None

    # -- judging --------------------------------------------------------------------------------
    def judge_findings(
        self, findings: Iterable[Finding], subject: str, checkpoint: str | None, today: _dt.date | None = None
    ) -> tuple[list[Finding], Verdict, str]:
        """Apply thresholds and waivers. Returns the findings with ``blocking``/``waived`` set, the
        subject verdict the findings alone imply, and a short reason."""
        today = today or _dt.date.today()
        rules = self.blocking(checkpoint)
        judged: list[Finding] = []
        verdicts: list[Verdict] = []
        reasons: list[str] = []
        for f in findings:
            waiver = None
            for exc in self.doc.exceptions:
                if exc.applies(f, subject, checkpoint, today):
                    waiver = Waiver(exception_id=exc.id, reason=exc.reason, owner=exc.owner, expires=exc.expires)
                    break
            if f.kind is FindingKind.ISSUE:
                blocks, v = f.severity.at_least(rules.block_severity), Verdict.FAIL
            elif f.kind is FindingKind.ERROR:
                blocks, v = rules.scanner_errors is Action.BLOCK, Verdict.ERROR
            else:
                blocks, v = rules.unsupported is Action.BLOCK, Verdict.INCOMPLETE
            if waiver is not None:
                blocks = False
            judged.append(f.model_copy(update={"blocking": blocks, "waived": waiver}))
            if blocks:
                verdicts.append(v)
                reasons.append(f"{f.id}: {f.title}")
        verdict = Verdict.worst(verdicts) if verdicts else Verdict.PASS
        uniq = list(dict.fromkeys(reasons))
        more = f" (+{len(uniq) - 3} more)" if len(uniq) > 3 else ""
        return judged, verdict, "; ".join(uniq[:3]) + more

    def expired_exceptions(self, today: _dt.date | None = None) -> list[ExceptionEntry]:
        today = today or _dt.date.today()
        return [e for e in self.doc.exceptions if today > e.expires]


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _policy_error_from(path: Path, e: ValidationError, prefix: str = "") -> PolicyError:
    first = e.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or None)
    more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    return PolicyError(str(path), field, first["msg"] + more)


_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path, field: str | None = None) -> tuple[Any, str]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PolicyError(str(path), field, "file not found") from None
    if not path.is_file():
        raise PolicyError(str(path), field, "not a regular file")
    if st.st_size > MAX_POLICY_BYTES:
        raise PolicyError(str(path), field, f"file larger than {MAX_POLICY_BYTES} bytes")
    raw = path.read_bytes()
    try:
        # libyaml's safe loader when PyYAML was built with it: same grammar, ~15x faster.
        data = yaml.load(raw.decode("utf-8"), Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise PolicyError(str(path), field, f"not valid YAML: {e}") from None
    return data, hashlib.sha256(raw).hexdigest()


def _resolve_includes(data: dict[str, Any], path: Path, sources: dict[str, str], depth: int) -> dict[str, Any]:
    if depth > MAX_INCLUDE_DEPTH:
        raise PolicyError(str(path), "include", "includes nested too deep")
    base = path.parent
    allow = data.get("allowlist")
    if isinstance(allow, dict) and allow.get("include"):
        includes = allow["include"]
        if not isinstance(includes, list):
            raise PolicyError(str(path), "allowlist.include", "must be a list of file names")
        merged: list[Any] = []
        for i, inc in enumerate(includes):
            inc_path = (base / str(inc)).resolve()
            sub, digest = _read_yaml(inc_path, f"allowlist.include[{i}]")
            sources[str(inc_path)] = digest
            if not isinstance(sub, dict) or not isinstance(sub.get("globals"), list):
                raise PolicyError(str(inc_path), "globals", "an allowlist file needs a 'globals' list")
            for j, entry in enumerate(sub["globals"]):
                try:
                    AllowEntry.model_validate(entry)
                except ValidationError as e:
                    raise _policy_error_from(inc_path, e, prefix=f"globals[{j}]") from None
            merged.extend(sub["globals"])
        allow = dict(allow)
        allow["globals"] = merged + list(allow.get("globals") or [])
        allow["include"] = []
        data = dict(data, allowlist=allow)
    gates = data.get("gates")
    if isinstance(gates, dict):
        new_gates: dict[str, Any] = {}
        for gid, section in gates.items():
            if isinstance(section, dict) and "include" in section:
                inc_path = (base / str(section["include"])).resolve()
                sub, digest = _read_yaml(inc_path, f"gates.{gid}.include")
                sources[str(inc_path)] = digest
                if sub is None:
                    sub = {}
                if not isinstance(sub, dict):
                    raise PolicyError(str(inc_path), None, "a gate settings file must be a mapping")
                rest = {k: v for k, v in section.items() if k != "include"}
                new_gates[gid] = {**sub, **rest}
            else:
                new_gates[gid] = section
        data = dict(data, gates=new_gates)
    return data


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file. Raises :class:`PolicyError` naming the file and field."""
    p = Path(path)
    data, digest = _read_yaml(p)
    if not isinstance(data, dict):
        raise PolicyError(str(p), None, "a policy must be a YAML mapping")
    sources = {str(p.resolve()): digest}
    data = _resolve_includes(data, p, sources, 0)
    try:
        doc = PolicyDoc.model_validate(data)
    except ValidationError as e:
        raise _policy_error_from(p, e) from None
    for cp, cpp in doc.checkpoints.items():
        if not cpp.gates:
            raise PolicyError(str(p), f"checkpoints.{cp}.gates", "at least one gate must run")
    return Policy(doc, p, doc.model_dump(mode="json"), sources)


def default_policy_path() -> Path:
    """The policy used when none is named: ``$MLGATE_POLICY``, else ``policies/default.yaml`` of
    this checkout, else the copy shipped inside the package. If none exists that is an error."""
    import os

    env = os.environ.get("MLGATE_POLICY")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "policies" / "default.yaml"
        if cand.is_file() and (parent / "pyproject.toml").is_file():
            return cand
    return here.parent / "_policies" / "default.yaml"
