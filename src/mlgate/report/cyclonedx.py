"""CycloneDX 1.6 ML-BOM: a view of the result model, validated against the official schema in the
tests (``cyclonedx-python-lib`` ``JsonStrictValidator(SchemaVersion.V1_6)``).

What goes where:

* one component of type ``machine-learning-model`` per scanned root (a folder, a file, an
  ``s3://`` prefix, a ``models:/`` version, an ``hf://`` repository at a commit); its files are
  nested ``file`` components with their SHA-256. A root that is one file carries the file's hash
  itself. The root's manifest digest (README, "The model-file gate") is the property
  ``mlgate:manifest_sha256``;
* the verdict, its reason, the policy name and digest, the checkpoint and the gate are
  ``mlgate:*`` properties of each model component (and of the BOM's metadata for the run);
* a signature reference, where one is known, is an external reference of type
  ``digital-signature`` (``model.sig`` shipped in the folder, or a registry tag recorded by a
  remote target in a subject's ``details["signature_ref"]``);
* findings are ``vulnerabilities`` (rule id, severity rating, message, remediation, the file they
  affect); waived ones carry the waiver as properties, they are never dropped;
* a dataset subject (data-quality gate) is a ``data`` component.

A report with no model or dataset in it (an S3 audit) has nothing a BOM describes: asking for one
is a usage error, never an empty BOM that would read as "nothing to declare".
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from mlgate import __version__
from mlgate.errors import UsageError
from mlgate.model import Finding, Report, SubjectResult, Verdict

SPEC_VERSION = "1.6"
SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
SIGNATURE_FILES = ("model.sig",)
_NS = uuid.UUID("6f1c1f2e-3f7e-4c55-9a33-6d6c2b8c0a11")  # mlgate's namespace for BOM serial numbers


def _prop(name: str, value: object) -> dict[str, str]:
    return {"name": f"mlgate:{name}", "value": str(value)}


def _hashes(sha256: str | None) -> list[dict[str, str]]:
    return [{"alg": "SHA-256", "content": sha256}] if sha256 else []


def _ref(*parts: str) -> str:
    # bom-refs must be unique in the BOM; paths can repeat across roots, so both go in.
    return "mlgate:" + ":".join(p.replace(":", "%3A") for p in parts)


def _file_component(root_ref: str, s: SubjectResult) -> dict[str, Any]:
    c: dict[str, Any] = {
        "type": "file",
        "bom-ref": _ref(root_ref, s.subject),
        "name": s.subject,
        "properties": [_prop("verdict", s.verdict.value)]
        + ([_prop("reason", s.reason)] if s.reason else [])
        + ([_prop("size", s.size)] if s.size is not None else [])
        + ([_prop("formats", ",".join(s.formats))] if s.formats else []),
    }
    if s.sha256:
        c["hashes"] = _hashes(s.sha256)
    return c


def _signature_refs(subjects: Sequence[SubjectResult]) -> list[str]:
    refs: list[str] = []
    for s in subjects:
        ref = s.details.get("signature_ref")
        if isinstance(ref, str) and ref and ref not in refs:
            refs.append(ref)
        if s.subject.rsplit("/", 1)[-1] in SIGNATURE_FILES and s.subject not in refs:
            refs.append(s.subject)
    return refs


def _model_components(r: Report, idx: int) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
    """Components for the report's model roots, and (root, subject) -> bom-ref for findings."""
    manifests = {m.root: m for m in r.manifests}
    roots: dict[str, list[SubjectResult]] = {}
    for s in r.subjects:
        if s.kind == "file":
            roots.setdefault(s.root or s.subject, []).append(s)
    comps: list[dict[str, Any]] = []
    refs: dict[tuple[str, str], str] = {}
    for root, subjects in roots.items():
        root_ref = _ref(str(idx), root)
        verdict = Verdict.worst([s.verdict for s in subjects])
        m = manifests.get(root)
        props = [
            _prop("verdict", verdict.value),
            _prop("gate", r.gate),
            _prop("checkpoint", r.checkpoint or "-"),
            _prop("policy_name", r.policy.name),
            _prop("policy_digest", r.policy.digest),
            _prop("files", len(subjects)),
        ]
        bad = [s for s in subjects if s.verdict is verdict and verdict is not Verdict.PASS]
        if bad:
            props.append(_prop("reason", f"{bad[0].subject}: {bad[0].reason}"))
        if m is not None:
            props += [_prop("manifest_sha256", m.manifest_sha256), _prop("total_bytes", m.total_bytes)]
        else:
            props.append(_prop("manifest_sha256", "none: the root could not be read completely"))
        comp: dict[str, Any] = {
            "type": "machine-learning-model",
            "bom-ref": root_ref,
            "name": root,
            "properties": props,
        }
        single = m is not None and m.kind == "file" and len(subjects) == 1
        if single:
            comp["hashes"] = _hashes(subjects[0].sha256)
            refs[(root, subjects[0].subject)] = root_ref
        else:
            nested = [_file_component(root_ref, s) for s in subjects]
            comp["components"] = nested
            for s, n in zip(subjects, nested, strict=True):
                refs[(root, s.subject)] = n["bom-ref"]
        sigs = _signature_refs(subjects)
        if sigs:
            comp["externalReferences"] = [
                {"type": "digital-signature", "url": ref, "comment": "model signature (OpenSSF Model Signing)"}
                for ref in sigs
            ]
        for s in subjects:
            refs.setdefault((root, s.subject), root_ref)
        comps.append(comp)
    return comps, refs


def _data_components(r: Report, idx: int) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
    comps: list[dict[str, Any]] = []
    refs: dict[tuple[str, str], str] = {}
    for s in r.subjects:
        if s.kind != "dataset":
            continue
        ref = _ref(str(idx), "data", s.subject)
        props = [
            _prop("verdict", s.verdict.value),
            _prop("gate", r.gate),
            _prop("checkpoint", r.checkpoint or "-"),
            _prop("policy_name", r.policy.name),
            _prop("policy_digest", r.policy.digest),
        ] + ([_prop("reason", s.reason)] if s.reason else [])
        for key in ("fingerprint", "fingerprint_scheme", "rows"):
            if s.details.get(key) is not None:
                props.append(_prop(key, s.details[key]))
        comp: dict[str, Any] = {"type": "data", "bom-ref": ref, "name": s.subject, "properties": props}
        if s.sha256:
            comp["hashes"] = _hashes(s.sha256)
        comps.append(comp)
        refs[(s.root, s.subject)] = ref
    return comps, refs


def _vulnerability(f: Finding, affects: str, n: int) -> dict[str, Any]:
    props = [
        _prop("kind", f.kind.value),
        _prop("blocking", str(f.blocking).lower()),
        _prop("location", str(f.location)),
        _prop("engine", f.engine),
    ] + [_prop("control", c) for c in f.controls]
    if f.waived:
        props += [
            _prop("waived_by", f.waived.exception_id),
            _prop("waiver_reason", f.waived.reason),
            _prop("waiver_owner", f.waived.owner),
            _prop("waiver_expires", f.waived.expires.isoformat()),
        ]
    v: dict[str, Any] = {
        "bom-ref": f"mlgate:finding:{n}",
        "id": f.id,
        "source": {"name": f.engine},
        "ratings": [{"source": {"name": "mlgate"}, "severity": f.severity.value, "method": "other"}],
        "description": f.message,
        "detail": f.title,
        "affects": [{"ref": affects}],
        "properties": props,
    }
    if f.remediation:
        v["recommendation"] = f.remediation
    refs = [u for u in f.references if u.startswith(("http://", "https://"))]
    if refs:
        v["advisories"] = [{"url": u} for u in refs]
    return v


def build_bom(reports: Sequence[Report]) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    vulns: list[dict[str, Any]] = []
    for idx, r in enumerate(reports):
        mc, mrefs = _model_components(r, idx)
        dc, drefs = _data_components(r, idx)
        components += mc + dc
        refs = {**mrefs, **drefs}
        for s in r.subjects:
            ref = refs.get((s.root or s.subject, s.subject)) or refs.get((s.root, s.subject))
            if ref is None:
                continue
            for f in s.findings:
                vulns.append(_vulnerability(f, ref, len(vulns)))
        for f in r.findings:  # run-level findings (a crash, an unreachable store): affect every component
            for c in mc + dc:
                vulns.append(_vulnerability(f, c["bom-ref"], len(vulns)))
    if not components:
        gates = ", ".join(sorted({r.gate for r in reports}))
        raise UsageError(
            f"--format cyclonedx describes models and datasets; this {gates} report has none "
            "(use json, sarif or html)"
        )
    first = min(r.started_at for r in reports)
    last = max(r.finished_at for r in reports)
    overall = Verdict.worst([r.verdict for r in reports])
    tools: dict[str, str] = {}
    for r in reports:
        tools.update(r.tools)
    seed = json.dumps(
        [[r.gate, r.checkpoint, r.policy.digest, r.started_at.isoformat(), [m.manifest_sha256 for m in r.manifests]]
         for r in reports]
    )
    bom: dict[str, Any] = {
        "$schema": SCHEMA_URI,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(_NS, hashlib.sha256(seed.encode()).hexdigest())}",
        "version": 1,
        "metadata": {
            "timestamp": last.isoformat().replace("+00:00", "Z"),
            "lifecycles": [{"phase": "operations" if any(r.checkpoint == "pre-deploy" for r in reports)
                            else "build"}],
            "tools": {
                "components": [
                    {"type": "application", "name": name.removeprefix("gate:"), "version": ver or "unknown",
                     **({"group": "mlgate"} if name.startswith("gate:") else {})}
                    for name, ver in sorted(tools.items()) if ver not in ("absent",)
                ] or [{"type": "application", "name": "mlgate", "version": __version__}],
            },
            "properties": [
                _prop("verdict", overall.value),
                _prop("started_at", first.isoformat()),
                _prop("finished_at", last.isoformat()),
            ]
            + [_prop("policy_digest", d) for d in sorted({r.policy.digest for r in reports})]
            + [_prop("report_reason", f"{r.gate}: {r.reason}") for r in reports if r.reason],
        },
        "components": components,
    }
    if vulns:
        bom["vulnerabilities"] = vulns
    return bom


def render_cyclonedx(reports: Sequence[Report]) -> str:
    return json.dumps(build_bom(reports), indent=2, ensure_ascii=False) + "\n"
