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
from mlgate.model import Finding, FindingKind, Severity, Verdict, Waiver, utc_today

CHECKPOINTS = ("pre-train", "pre-publish", "pre-deploy")
Checkpoint = Literal["pre-train", "pre-publish", "pre-deploy"]
POLICY_API_VERSION = "mlgate/v1"
MAX_POLICY_BYTES = 4 * 1024 * 1024
MAX_INCLUDE_DEPTH = 4

# A dotted name (``pkg.mod.Class``), checked in one match: the allowlists hold ~6,000 entries and
# this runs on every one at each policy load. \Z, not $: a trailing newline is not a name.
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


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
    # Object-level entries (written by ``mlgate allowlist build``, see docs/allowlists.md): what the
    # name resolves to in the library, what it is and how a pickle may use it. ``kind`` unset keeps
    # the historical meaning (any use). class: constructed only (NEWOBJ/BUILD, passed as a value),
    # called with arguments (REDUCE) only when ``called``; function: a reconstructor that is called;
    # value: a reference only (a dtype, a pure numeric function), never called.
    kind: Literal["class", "function", "value"] | None = None
    called: bool = False
    object: str | None = None
    versions: tuple[str, ...] = ()

    @field_validator("module")
    @classmethod
    def _module(cls, v: str) -> str:
        base = v[:-3] if v.endswith(".**") else v
        if not _DOTTED.match(base):
            raise ValueError(f"not a module name or 'pkg.**' pattern: {v!r}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v != "*" and not _DOTTED.match(v):
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
        self.gate_files: dict[str, Path] = {}  # gate id -> the included file its settings came from
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
            where = self.path
            if gate_id in self.gate_files:  # settings from an included file: name that file too
                where = Path(f"{self.path} (gates.{gate_id} from {self.gate_files[gate_id]})")
            raise _policy_error_from(where, e, prefix=f"gates.{gate_id}") from None

    # -- judging --------------------------------------------------------------------------------
    def judge_findings(
        self, findings: Iterable[Finding], subject: str, checkpoint: str | None, today: _dt.date | None = None
    ) -> tuple[list[Finding], Verdict, str]:
        """Apply thresholds and waivers. Returns the findings with ``blocking``/``waived`` set, the
        subject verdict the findings alone imply, and a short reason."""
        today = today or utc_today()
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
                reasons.append(f"{f.id}: {what_failed(f)}")
        verdict = Verdict.worst(verdicts) if verdicts else Verdict.PASS
        uniq = list(dict.fromkeys(reasons))
        more = f" (+{len(uniq) - 3} more)" if len(uniq) > 3 else ""
        return judged, verdict, "; ".join(uniq[:3]) + more

    def expired_exceptions(self, today: _dt.date | None = None) -> list[ExceptionEntry]:
        today = today or utc_today()
        return [e for e in self.doc.exceptions if today > e.expires]


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


class PolicyErrors(PolicyError):
    """Several problems in a policy (and its included files), every one with its file and field.
    The first problem is also the exception's ``file``/``field`` (compatible with PolicyError)."""

    def __init__(self, problems: list[PolicyError]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(first.file, first.field, first.args[0].split(": ", 1)[-1] if first.args else "")
        lines = [_problem_line(p) for p in self.problems]
        self.args = (f"policy error: {len(lines)} problems:\n" + "\n".join(f"  {ln}" for ln in lines),)

    @staticmethod
    def combine(problems: list[PolicyError]) -> PolicyError:
        flat: list[PolicyError] = []
        for p in problems:
            flat.extend(p.problems if isinstance(p, PolicyErrors) else [p])
        return flat[0] if len(flat) == 1 else PolicyErrors(flat)


def what_failed(f: Finding) -> str:
    """The failing condition a finding states (its message, first line, shortened), not its title:
    an S3 check's title names the requirement ("server access logging is enabled"), its message
    what is wrong ("server access logging is off")."""
    text = (f.message or "").strip().splitlines()[0] if (f.message or "").strip() else f.title
    return text if len(text) <= 160 else text[:157] + "..."


def _problem_line(p: PolicyError) -> str:
    msg = str(p)
    return msg[len("policy error: "):] if msg.startswith("policy error: ") else msg


def _policy_error_from(path: Path, e: ValidationError, prefix: str = "") -> PolicyError:
    """Every validation error, each with the file and the field (not "the first and N more")."""
    problems: list[PolicyError] = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or None)
        problems.append(PolicyError(str(path), field, err["msg"]))
    return PolicyErrors.combine(problems)


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
        # large generated allowlists are JSON, which parses ~100x faster than YAML; YAML goes through
        # libyaml's safe loader when PyYAML was built with it (same grammar, ~15x faster).
        text = raw.decode("utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as e:
        raise PolicyError(str(path), field, f"not valid YAML: {e}") from None
    return data, hashlib.sha256(raw).hexdigest()


def _resolve_includes(
    data: dict[str, Any], path: Path, sources: dict[str, str], depth: int, gate_files: dict[str, Path] | None = None
) -> dict[str, Any]:
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
            problems: list[PolicyError] = []
            validated: list[AllowEntry] = []
            for j, entry in enumerate(sub["globals"]):
                try:
                    validated.append(AllowEntry.model_validate(entry))
                except ValidationError as e:
                    problems.append(_policy_error_from(inc_path, e, prefix=f"globals[{j}]"))
            if problems:
                raise PolicyErrors.combine(problems)
            # validated once, here (with this file's name in any error): PolicyDoc takes the
            # instances as they are (pydantic does not revalidate instances of the field's type).
            merged.extend(validated)
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
                if gate_files is not None:
                    gate_files[str(gid)] = inc_path
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
    gate_files: dict[str, Path] = {}
    data = _resolve_includes(data, p, sources, 0, gate_files)
    problems: list[PolicyError] = []
    checkpoints = data.get("checkpoints")
    if isinstance(checkpoints, dict):
        for cp, cpp in checkpoints.items():
            if isinstance(cpp, dict) and "gates" in cpp and not cpp["gates"]:
                problems.append(PolicyError(str(p), f"checkpoints.{cp}.gates", "at least one gate must run"))
    try:
        doc = PolicyDoc.model_validate(data)
    except ValidationError as e:
        problems.insert(0, _policy_error_from(p, e))
    if problems:
        raise PolicyErrors.combine(problems)
    for cp, cpp in doc.checkpoints.items():
        if not cpp.gates:
            raise PolicyError(str(p), f"checkpoints.{cp}.gates", "at least one gate must run")
    pol = Policy(doc, p, doc.model_dump(mode="json"), sources)
    pol.gate_files = gate_files
    return pol


def packaged_policies_dir() -> Path:
    """The policies shipped inside the package (``mlgate/_policies``: the repository's top-level
    ``policies/``, the source of truth, linked in the source tree and copied into the wheel)."""
    return Path(__file__).resolve().parent / "_policies"


def default_policy_path() -> Path:
    """The policy used when none is named (``--policy`` comes first): ``$MLGATE_POLICY``, else the
    ``default.yaml`` shipped with the package. Never found by walking the filesystem."""
    import os

    env = os.environ.get("MLGATE_POLICY")
    if env:
        return Path(env)
    return packaged_policies_dir() / "default.yaml"
