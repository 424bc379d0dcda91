"""``s3://bucket/prefix``: one listing, then each object streamed to a private temporary file,
verified, scanned and deleted (disk use is bounded by the objects in flight, not the prefix).

* ``s3://b/models/tiny`` means the object ``models/tiny`` or the folder ``models/tiny/``, never
  ``models/tiny-other/...`` (a plain prefix match would pull in a neighbour);
* every GET is conditional on the listed ETag (``IfMatch``): an object replaced between the
  listing and the download is an error, never a scan of other bytes; the size must match the
  listing, and a full-object SHA-256 checksum, where the store has one, must match the bytes;
* the object's version id (where the bucket is versioned) and ETag are recorded per file;
* folder markers (keys ending in ``/``) are skipped and noted; unsafe keys (``..``, absolute,
  backslashes) are errors, never fixed up;
* AccessDenied, a missing bucket, no credentials, an unreachable endpoint: errors. Standard boto3
  configuration applies (profiles, ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

from mlgate.targets.base import BoundedWriter, Fetched, Listing, RemoteObject, Source, TargetProblem, safe_rel, verify

CHUNK = 4 * 1024 * 1024


def _explain(uri: str, e: Exception) -> TargetProblem:
    from mlgate.integrations import aws

    if aws.is_service_error(e):
        err = e.response.get("Error", {})
        code = str(err.get("Code", "")) or "error"
        msg = str(err.get("Message", "")) or str(e)
        op = getattr(e, "operation_name", "")
        hint = {
            "AccessDenied": "access denied: the credentials may not list or read this prefix",
            "403": "access denied: the credentials may not read this object",
            "NoSuchBucket": "the bucket does not exist",
            "PreconditionFailed": "the object changed after it was listed",
            "412": "the object changed after it was listed",
        }.get(code, "")
        return TargetProblem(f"{uri}: {op} {code}: {msg}" + (f" ({hint})" if hint else ""))
    if aws.credentials_problem(e) is not None:
        return TargetProblem(f"{uri}: {type(e).__name__}: no complete AWS credentials "
                             "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)")
    return TargetProblem(f"{uri}: {type(e).__name__}: {e}")


class S3Source(Source):
    scheme = "s3"

    def __init__(self, session: Any | None = None) -> None:
        self._session = session
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            from mlgate.integrations import aws

            session = self._session or aws.session()
            self._client = session.client("s3")  # retries: boto3's configuration (AWS_MAX_ATTEMPTS, ...)
        return self._client

    def list(self, uri: str) -> Listing:
        u = urllib.parse.urlparse(uri)
        bucket, prefix = u.netloc, urllib.parse.unquote(u.path.lstrip("/"))
        if not bucket:
            raise TargetProblem(f"{uri}: no bucket name (s3://bucket/prefix)", rule="MLG-TARGET-LIST")
        folder = prefix if (not prefix or prefix.endswith("/")) else prefix + "/"
        listing = Listing(uri=uri, kind="directory", details={"bucket": bucket, "prefix": folder})
        try:
            s3 = self.client()
            contents: list[dict[str, Any]] = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
                contents.extend(page.get("Contents", []))
            if not contents and prefix and not prefix.endswith("/"):
                try:
                    head = s3.head_object(Bucket=bucket, Key=prefix)
                except Exception as e:
                    code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
                    if code not in ("404", "NoSuchKey", "NotFound"):
                        raise
                else:
                    listing.kind = "file"
                    listing.details["prefix"] = prefix
                    contents = [{"Key": prefix, "Size": head.get("ContentLength"), "ETag": head.get("ETag", "")}]
        except TargetProblem:
            raise
        except Exception as e:
            p = _explain(uri, e)
            p.rule = "MLG-TARGET-LIST"
            raise p from e
        for o in contents:
            key = str(o["Key"])
            if key.endswith("/"):
                if o.get("Size"):
                    listing.problems.append(TargetProblem(f"{uri}: folder marker {key!r} holds {o['Size']} bytes",
                                                          rule="MLG-TARGET-UNSAFE-NAME"))
                else:
                    listing.notes.append(f"{uri}: folder marker {key!r} skipped (empty)")
                continue
            try:
                rel = PurePosixPath(key).name if listing.kind == "file" else safe_rel(key, folder)
            except TargetProblem as p:
                listing.problems.append(p)
                continue
            expect = {"etag": str(o.get("ETag", ""))}
            listing.objects.append(RemoteObject(rel=rel, key=key, size=int(o["Size"]), expect=expect))
        if not listing.objects and not listing.problems:
            raise TargetProblem(f"{uri}: no objects under this prefix: nothing to check", rule="MLG-TARGET-EMPTY",
                                empty=True)
        return listing

    def fetch(self, listing: Listing, obj: RemoteObject, dest: Path) -> Fetched:
        bucket = listing.details["bucket"]
        what = f"s3://{bucket}/{obj.key}"
        w = BoundedWriter(dest, obj.size, what)
        try:
            args: dict[str, Any] = {"Bucket": bucket, "Key": obj.key, "ChecksumMode": "ENABLED"}
            if obj.expect.get("etag"):
                args["IfMatch"] = obj.expect["etag"]
            resp = self.client().get_object(**args)
            body = resp["Body"]
            try:
                for chunk in body.iter_chunks(CHUNK):
                    w.write(chunk)
            finally:
                body.close()
        except TargetProblem:
            raise
        except Exception as e:
            raise _explain(what, e) from e
        finally:
            w.close()
        etag = str(resp.get("ETag", ""))
        if obj.expect.get("etag") and etag and etag != obj.expect["etag"]:
            raise TargetProblem(f"{what}: ETag {etag} differs from the listed {obj.expect['etag']}",
                                rule="MLG-TARGET-MISMATCH")
        checked = obj
        sha_b64 = resp.get("ChecksumSHA256")
        if sha_b64 and "-" not in str(sha_b64) and resp.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
            checked = RemoteObject(obj.rel, obj.key, obj.size, {**obj.expect, "sha256_b64": str(sha_b64)})
        verify(checked, w, what)
        details = {"source": what, "etag": etag.strip('"')}
        if resp.get("VersionId"):
            details["version_id"] = str(resp["VersionId"])
        if "sha256_b64" in checked.expect:
            details["store_checksum_sha256"] = checked.expect["sha256_b64"]
        return Fetched(size=w.size, details=details)
