"""The byte check, cheap where the store allows.

A model version's bytes sit under an S3 prefix (directly for ``s3://`` sources, or under the
tracking server's ``--artifacts-destination`` for ``mlflow-artifacts:/`` sources). What S3 says
about each object is its *identity*:

* ``version-id``: in a versioning-enabled bucket an object version is immutable, so an unchanged
  version id means unchanged bytes (``ListObjectVersions``: one call per version's prefix);
* ``sha256``: S3's stored SHA-256 checksum (``HeadObject`` with ``ChecksumMode``), for objects
  uploaded with one;
* ``etag``: the MD5 of a single-part upload. Not collision resistant: only trusted when the
  policy says so.

:func:`identities_digest` condenses a listing into one digest, which the signed rescan state
records at the last clean result. When the digest still matches, the bytes are the bytes that were
verified; otherwise (or when the store gives only weak identities) :func:`fetch_pinned` downloads
exactly the listed object versions (``VersionId``/``IfMatch``), so what is hashed, verified and
scanned is what the new identities name.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import logging
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlgate.errors import MlgateError, TransientError

log = logging.getLogger(__name__)

class ArtifactProblem(MlgateError):
    """The stored artifact is missing, unreadable as a model folder, or has unsafe names."""

    def __init__(self, category: str, message: str) -> None:
        self.category = category
        super().__init__(message)


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/key``; ``folder`` when the key is a prefix (then it ends with ``/``)."""

    bucket: str
    key: str
    folder: bool = True

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, uri: str, *, folder: bool = True) -> S3Location:
        u = urllib.parse.urlparse(uri)
        if u.scheme != "s3" or not u.netloc:
            raise ValueError(f"not an s3:// URI: {uri!r}")
        key = u.path.lstrip("/")
        if folder and key and not key.endswith("/"):
            key += "/"
        return cls(u.netloc, key, folder)


def map_uri(uri: str, artifacts_destination: str | None, *, folder: bool = True) -> S3Location | None:
    """The S3 location of an artifact URI, if it can be known without asking anyone:
    ``s3://`` as is, ``mlflow-artifacts:/path`` under the server's artifacts destination."""
    u = urllib.parse.urlparse(uri)
    if u.scheme == "s3":
        return S3Location.parse(uri, folder=folder)
    if u.scheme == "mlflow-artifacts" and artifacts_destination:
        rel = PurePosixPath(urllib.parse.unquote(u.path).lstrip("/"))
        if not rel.parts or ".." in rel.parts:
            return None
        base = S3Location.parse(artifacts_destination)
        return S3Location(base.bucket, base.key + rel.as_posix() + ("/" if folder else ""), folder)
    return None


@dataclass(frozen=True)
class ObjectId:
    rel: str
    key: str
    size: int
    etag: str
    version_id: str | None = None  # None: the bucket is not versioned (S3 says "null")
    sha256: str | None = None  # base64, as S3 returns it

    @property
    def kind(self) -> str:
        if self.version_id:
            return "version-id"
        if self.sha256:
            return "sha256"
        return "etag"

    @property
    def value(self) -> str:
        return {"version-id": self.version_id, "sha256": self.sha256}.get(self.kind) or self.etag

    def token(self) -> str:
        return f"{self.rel}\t{self.size}\t{self.kind}:{self.value}\tetag:{self.etag}\n"


def identities_digest(objects: list[ObjectId]) -> str:
    h = hashlib.sha256()
    for o in sorted(objects, key=lambda o: o.rel.encode()):
        h.update(o.token().encode())
    return h.hexdigest()


def weakest(objects: list[ObjectId]) -> str:
    order = {"version-id": 0, "sha256": 1, "etag": 2}
    return max((o.kind for o in objects), key=lambda k: order[k], default="etag")


def _client_error(e: Exception, where: str) -> Exception:
    """One taxonomy (:func:`mlgate.integrations.aws.classify`): throttled -> retry later; a key,
    version or bucket that is gone -> a missing artifact (quarantine); a changed object
    (412) -> missing too; anything else (denied, unsupported, failed) -> an error, never a pass."""
    from mlgate.integrations.aws import ErrorClass, classify, error_code, is_sdk_error

    code = error_code(e)
    cls = classify(e)
    if cls is ErrorClass.THROTTLED:
        return TransientError(f"{where}: {code or e}")
    if code in ("PreconditionFailed", "412"):
        return ArtifactProblem("missing-artifact", f"{where}: {code} (the object changed or is gone)")
    if cls is ErrorClass.NOT_FOUND:
        if code == "NoSuchBucket":
            return ArtifactProblem("missing-artifact", f"{where}: the bucket does not exist")
        return ArtifactProblem("missing-artifact", f"{where}: {code} (the object changed or is gone)")
    if code:
        return MlgateError(f"{where}: {code} ({cls.value})")
    if is_sdk_error(e):
        return MlgateError(f"{where}: {e} ({cls.value})")
    return e


def safe_rel(key: str, prefix: str) -> str:
    rel = key[len(prefix):] if key.startswith(prefix) else key
    pp = PurePosixPath(rel)
    if not rel or rel.startswith("/") or ".." in pp.parts or "\\" in rel or "//" in rel:
        raise ArtifactProblem("bytes-changed", f"unsafe object key {key!r} under s3://…/{prefix}")
    return rel


def _latest(page_iter: Any) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for page in page_iter:
        for v in page.get("Versions", []) or []:
            if v.get("IsLatest"):
                latest[v["Key"]] = v
        for d in page.get("DeleteMarkers", []) or []:
            if d.get("IsLatest"):
                latest.pop(d["Key"], None)
    return latest


@dataclass
class Inventory:
    """The latest object versions under some prefixes, listed in bulk (``ListObjectVersions``,
    1,000 keys a request) instead of one listing per version and file. Plain data: the flow lists
    once per run (:func:`build_inventory`) and hands each batch of versions its own slice
    (:meth:`subset`). A lookup outside the listed prefixes lists afresh. The identities are those
    at listing time (the start of the run)."""

    prefixes: list[tuple[str, str]] = field(default_factory=list)  # (bucket, prefix) listed completely
    entries: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # bucket -> key -> entry
    requests: int = 0
    _sorted: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    def covers(self, loc: S3Location) -> bool:
        return any(b == loc.bucket and loc.key.startswith(p) for b, p in self.prefixes)

    def latest(self, loc: S3Location) -> dict[str, dict[str, Any]]:
        entries = self.entries.get(loc.bucket, {})
        if not loc.folder:
            return {loc.key: entries[loc.key]} if loc.key in entries else {}
        keys = self._sorted.get(loc.bucket)
        if keys is None or len(keys) != len(entries):
            keys = self._sorted[loc.bucket] = sorted(entries)
        out = {}
        for i in range(bisect.bisect_left(keys, loc.key), len(keys)):
            if not keys[i].startswith(loc.key):
                break
            out[keys[i]] = entries[keys[i]]
        return out

    def merge(self, other: Inventory) -> None:
        self.prefixes.extend(p for p in other.prefixes if p not in self.prefixes)
        for bucket, entries in other.entries.items():
            self.entries.setdefault(bucket, {}).update(entries)
        self.requests += other.requests

    def subset(self, locations: list[S3Location]) -> Inventory:
        """Only what ``locations`` need (covered ones), as prefixes of their own."""
        out = Inventory()
        for loc in locations:
            if self.covers(loc) and (loc.bucket, loc.key) not in out.prefixes:
                out.prefixes.append((loc.bucket, loc.key))
                out.entries.setdefault(loc.bucket, {}).update(self.latest(loc))
        return out


def _entry(v: dict[str, Any]) -> dict[str, Any]:
    return {"Key": v["Key"], "VersionId": v.get("VersionId"), "ETag": v.get("ETag", ""), "Size": v.get("Size", 0)}


def build_inventory(s3: Any, locations: list[S3Location], *, keys_per_location: int = 100,
                    page_size: int = 1000) -> Inventory:
    """List the common prefix of ``locations`` in each bucket once. A prefix whose listing would
    exceed ``keys_per_location`` keys per location it serves is abandoned (a bucket shared with
    much else): the per-version listings are cheaper then."""
    inv = Inventory()
    by_bucket: dict[str, list[str]] = {}
    for loc in locations:
        by_bucket.setdefault(loc.bucket, []).append(loc.key)
    for bucket, keys in by_bucket.items():
        prefix = _common_dir(keys)
        if not prefix or len(keys) < 2:
            continue
        max_pages = max(1, -(-len(keys) * keys_per_location // page_size))
        pages: list[Any] = []
        try:
            for page in s3.get_paginator("list_object_versions").paginate(
                    Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
                inv.requests += 1
                pages.append(page)
                if len(pages) > max_pages:
                    log.info("s3://%s/%s holds more than %d keys: listing per version instead", bucket, prefix,
                             max_pages * page_size)
                    break
            else:
                inv.entries.setdefault(bucket, {}).update({k: _entry(v) for k, v in _latest(pages).items()})
                inv.prefixes.append((bucket, prefix))
        except Exception as e:  # the per-version listings report the error properly
            log.debug("bulk listing of s3://%s/%s failed: %s", bucket, prefix, e)
    return inv


def _common_dir(keys: list[str]) -> str:
    """The longest common prefix of ``keys`` that ends at a ``/``."""
    import os.path

    common = os.path.commonprefix(keys)  # noqa: RUF071 - character-wise on purpose, cut at the last "/" below
    return common[: common.rfind("/") + 1]


def list_objects(s3: Any, loc: S3Location, *, sha256: bool = False,
                 inventory: Inventory | None = None) -> list[ObjectId]:
    """The current objects at ``loc`` with their identities. An object whose latest version is a
    delete marker is absent. ``sha256``: ask for stored SHA-256 checksums of objects that have no
    version id (one ``HeadObject`` each). ``inventory``: use its listing when it covers ``loc``."""
    if inventory is not None and inventory.covers(loc):
        latest = inventory.latest(loc)
    else:
        try:
            latest = _latest(s3.get_paginator("list_object_versions").paginate(Bucket=loc.bucket, Prefix=loc.key))
        except Exception as e:
            raise _client_error(e, loc.uri) from e
    out: list[ObjectId] = []
    for key, v in sorted(latest.items()):
        if loc.folder:
            if key.endswith("/"):
                continue
            rel = safe_rel(key, loc.key)
        elif key == loc.key:
            rel = PurePosixPath(key).name
        else:
            continue
        vid = v.get("VersionId")
        oid = ObjectId(rel=rel, key=key, size=int(v.get("Size") or 0), etag=str(v.get("ETag", "")).strip('"'),
                       version_id=None if vid in (None, "", "null") else str(vid))
        if oid.version_id is None and sha256:
            oid = ObjectId(oid.rel, oid.key, oid.size, oid.etag, None, head_sha256(s3, loc.bucket, key))
        out.append(oid)
    return out


def head_sha256(s3: Any, bucket: str, key: str) -> str | None:
    try:
        h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except Exception as e:
        raise _client_error(e, f"s3://{bucket}/{key}") from e
    value = h.get("ChecksumSHA256")
    return str(value) if value else None


def fetch_pinned(s3: Any, loc: S3Location, objects: list[ObjectId], dest: Path) -> Path:
    """Download exactly ``objects`` (by version id, else conditional on the ETag) into ``dest``;
    returns the folder (or the single file)."""
    if not objects:
        raise ArtifactProblem("missing-artifact", f"{loc.uri}: no objects")
    dest.mkdir(parents=True, exist_ok=False)
    for o in objects:
        target = dest / o.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        kw: dict[str, Any] = {"Bucket": loc.bucket, "Key": o.key}
        if o.version_id:
            kw["VersionId"] = o.version_id
        else:
            kw["IfMatch"] = f'"{o.etag}"'
        if o.sha256:
            kw["ChecksumMode"] = "ENABLED"
        try:
            resp = s3.get_object(**kw)
            h = hashlib.sha256()
            with open(target, "xb") as f:
                for chunk in resp["Body"].iter_chunks(4 * 1024 * 1024):
                    h.update(chunk)
                    f.write(chunk)
        except (ArtifactProblem, MlgateError):
            raise
        except OSError:
            raise
        except Exception as e:
            raise _client_error(e, f"s3://{loc.bucket}/{o.key}") from e
        if o.sha256 and resp.get("ChecksumSHA256") == o.sha256 and "-" not in o.sha256:
            got = base64.b64encode(h.digest()).decode()
            if got != o.sha256:
                raise ArtifactProblem("bytes-changed", f"s3://{loc.bucket}/{o.key}: bytes differ from S3's checksum")
    return dest if loc.folder else dest / objects[0].rel
