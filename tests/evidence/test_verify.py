"""The pure checks of the evidence kernel (no server): findings per problem, revocation keyed on
the signed id (re-wrapping, extra signatures and the ECDSA twin do not escape it), promotion
rules, the profile table, the AWS error taxonomy and the tag contract."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from tests.plugins.guard_helpers import envelope, legacy_envelope

from mlgate.evidence import tags as T
from mlgate.evidence import verify as EV
from mlgate.evidence.keys import generate_keypair, load_public_key
from mlgate.evidence.statement import REGISTRY_HOOK, attestation_id_of

M = "ab" * 32
SRC = "mlflow-artifacts:/1/run/artifacts/model"
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    priv, pub = generate_keypair(d / "a")
    other, _ = generate_keypair(d / "b")
    return {"priv": priv, "pub": pub, "other": other}


def check(keys: dict[str, Path], tags: dict[str, str], *, profile: EV.VerificationProfile = EV.DEPLOY,
          revoked: set[str] | None = None, manifest: str | None = M, name: str = "m",
          promotion: EV.PromotionPolicy | None = None) -> set[str]:
    ev = EV.VersionEvidence(name=name, version="1", source=SRC, tags=tags)
    v = EV.verify_evidence(ev, profile, [load_public_key(keys["pub"])], revoked=revoked or set(),
                           manifest_sha256=manifest, promotion=promotion)
    return {f.id for f in v.findings}


def good(keys: dict[str, Path], **kw: object) -> dict[str, str]:
    return {T.ENVELOPE: envelope(keys["priv"], source=SRC, manifest_sha256=M, **kw),  # type: ignore[arg-type]
            T.VERDICT: "pass", T.MANIFEST: M}


def test_each_problem_is_one_finding(keys: dict[str, Path]) -> None:
    assert check(keys, good(keys)) == set()
    assert check(keys, {}) == {EV.UNSIGNED}
    assert check(keys, {T.VERDICT: "pass"}) == {EV.FORGED_TAG}
    assert check(keys, {**good(keys), T.MANIFEST: "cd" * 32}) == {EV.FORGED_TAG}
    forged = envelope(keys["other"], source=SRC, manifest_sha256=M)
    assert check(keys, {**good(keys), T.ENVELOPE: forged}) == {EV.SIGNATURE}
    assert check(keys, good(keys), manifest="cd" * 32) == {EV.MANIFEST}
    assert check(keys, {**good(keys), T.ENVELOPE: envelope(keys["priv"], source=None, manifest_sha256=M)}) \
        == {EV.SOURCE}
    assert check(keys, {**good(keys), T.ENVELOPE: envelope(keys["priv"], source="s3://x/m", manifest_sha256=M)}) \
        == {EV.SOURCE}
    assert check(keys, good(keys), name="other-model") == {EV.SOURCE}
    assert check(keys, good(keys, verdict="fail")) == {EV.FORGED_TAG}
    assert check(keys, {**good(keys), T.VERDICT: "quarantined"}) == {EV.QUARANTINED}
    assert check(keys, {**good(keys), T.VERDICT: "fail"}) == {EV.VERDICT}


def _twin(env_text: str) -> str:
    env = json.loads(env_text)
    sig = env["signatures"][0]
    r, s = decode_dss_signature(base64.b64decode(sig["sig"]))
    env["signatures"] = [{"keyid": sig["keyid"], "sig": base64.b64encode(encode_dss_signature(r, N - s)).decode()},
                         sig, {"keyid": "junk", "sig": "AAAA"}]
    env["extra"] = {"note": "re-wrapped"}
    return json.dumps(env, indent=1)


def test_revocation_is_keyed_on_the_signed_id(keys: dict[str, Path]) -> None:
    tags = good(keys)
    aid = attestation_id_of(tags[T.ENVELOPE])
    assert aid is not None
    rewrapped = {**tags, T.ENVELOPE: _twin(tags[T.ENVELOPE])}
    assert rewrapped[T.ENVELOPE] != tags[T.ENVELOPE]
    assert check(keys, rewrapped) == set()  # the twin still verifies...
    for t in (tags, rewrapped):  # ...and is refused once the id is revoked, wherever it comes from
        assert check(keys, t, revoked={aid}) == {EV.REVOKED}
        assert check(keys, {**t, T.REVOKED: aid}) == {EV.REVOKED}
    assert check(keys, rewrapped, revoked={aid}, profile=EV.RELEASE_PROFILE) == set()  # declared difference


def test_legacy_envelopes_are_read_and_their_old_revocations_honoured(keys: dict[str, Path]) -> None:
    from mlgate.evidence.statement import envelope_text_digest

    env = legacy_envelope(keys["priv"], source=SRC, manifest_sha256=M)
    tags = {T.ENVELOPE: env, T.VERDICT: "pass", T.MANIFEST: M}
    assert check(keys, tags) == set()
    assert check(keys, tags, revoked={envelope_text_digest(env) or ""}) == {EV.REVOKED}
    assert EV.PROVENANCE in check(keys, tags, promotion=EV.PromotionPolicy())  # provenance unknown


def test_promotion_rules(keys: dict[str, Path]) -> None:
    p = EV.PromotionPolicy()
    assert check(keys, good(keys), promotion=p) == set()
    assert check(keys, good(keys, provenance=REGISTRY_HOOK), promotion=p) == {EV.PROVENANCE}
    assert check(keys, good(keys, provenance=REGISTRY_HOOK),
                 promotion=EV.PromotionPolicy(provenances=("pipeline", "registry-hook"))) == set()
    assert check(keys, good(keys, checkpoint="pre-train"), promotion=p) == {EV.CHECKPOINT}
    assert check(keys, good(keys, gates=("s3-audit",)), promotion=p) == {EV.GATES}
    pinned = EV.PromotionPolicy(policy_digests=("sha256:" + "cd" * 32,))
    assert check(keys, good(keys), promotion=pinned) == {EV.POLICY_DIGEST}


def test_profile_table_is_the_declared_difference() -> None:
    assert set(EV.PROFILES) == {"guard", "guard-new", "webhook", "deploy", "rescan", "release"}
    assert all(p.revocation for n, p in EV.PROFILES.items() if n != "release")
    assert all(p.model_signature for n, p in EV.PROFILES.items() if not n.startswith("guard"))
    policy = EV.EvidencePolicy(aliases={"Staging": EV.PromotionPolicy(provenances=("registry-hook",))})
    assert [policy.is_protected(a) for a in ("PRODUCTION", "staging", "dev")] == [True, True, False]
    assert policy.promotion_for("staging").provenances == ("registry-hook",)


def test_aws_error_taxonomy() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    from mlgate.integrations.aws import ErrorClass, classify

    def ce(code: str, status: int = 400) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")

    assert classify(ce("AccessDenied", 403)) is ErrorClass.DENIED
    assert classify(ce("SlowDown", 503)) is ErrorClass.THROTTLED
    assert classify(ce("NoSuchBucket", 404)) is ErrorClass.NOT_FOUND
    assert classify(ce("NoSuchPublicAccessBlockConfiguration", 404)) is ErrorClass.NOT_FOUND
    assert classify(ce("NotImplemented", 501)) is ErrorClass.UNSUPPORTED
    assert classify(ce("Weird", 500)) is ErrorClass.THROTTLED
    assert classify(ce("Weird")) is ErrorClass.FAILED
    assert classify(NoCredentialsError()) is ErrorClass.DENIED
    assert classify(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) is ErrorClass.THROTTLED
    assert classify(ValueError("x")) is ErrorClass.FAILED


def test_no_tag_literals_outside_the_tag_contract() -> None:
    """Every ``mlgate.*`` tag name is a constant of mlgate.evidence.tags (event names, logger
    names and entry-point groups are not tags)."""
    allowed = {"mlgate.gates", "mlgate.signers", "mlgate.model.quarantined", "mlgate.model.released",
               "mlgate.hooks", "mlgate.registry_guard"}
    pat = re.compile(r"""["'](mlgate\.[a-z_][a-z0-9_.]*)["']""")
    bad = []
    for root in (REPO / "src" / "mlgate", REPO / "plugins"):
        for p in root.rglob("*.py"):
            if p.name == "tags.py" and p.parent.name == "evidence":
                continue
            for m in pat.finditer(p.read_text()):
                if m.group(1) not in allowed:
                    bad.append(f"{p.relative_to(REPO)}: {m.group(1)}")
    assert bad == []
