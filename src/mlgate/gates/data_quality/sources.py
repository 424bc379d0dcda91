"""Dataset inputs: list the files of one dataset (local or ``s3://``), read them one at a time
while hashing exactly the bytes that are parsed, and build one Arrow table plus its fingerprint.

* A dataset is one file, or a folder / S3 prefix of files of **one** format (CSV, Parquet, JSON
  Lines), recursively; ``key=value`` folders are Hive partitions. Entries whose name matches the
  ``ignore`` patterns (``.*``, ``_*``, ``*.crc`` by default: the prefixes pyarrow.dataset ignores)
  are skipped and listed. Anything else that is not of the dataset's format, symlinks and special
  files are *problems* (the verdict becomes incomplete): a file the gate skipped could be one the
  trainer reads.
* Each file is read whole into one private buffer (bounded by ``max_file_bytes``); its sha256 is
  computed over that buffer while pyarrow parses the same buffer, then the buffer is released.
  There is no second read, so what is hashed is what is validated.
* Limits (``memory`` settings) stop the read with an ``unsupported`` problem: nothing is judged on
  a partial dataset.

pyarrow and boto3 are imported inside functions: this module is cheap to import.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import hashlib
import logging
import os
import stat
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlgate.errors import TransientError
from mlgate.gates.data_quality.config import INPUT_FORMATS, DataQualityConfig, MemoryLimits
from mlgate.gates.data_quality.fingerprint import ColumnSchema, FileDigest, Fingerprint
from mlgate.integrations import aws

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """Something that stops a dataset from being positively checked.
    ``kind``: ``error`` (unreadable, corrupt) or ``unsupported`` (skipped content, limits)."""

    code: str
    kind: str
    path: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataFile:
    rel: str  # relative to the dataset root, "/"-separated; the fingerprint's path
    where: str  # absolute local path or s3://bucket/key (for messages)
    size: int
    etag: str | None = None
    partitions: tuple[tuple[str, str], ...] = ()


@dataclass
class Listing:
    uri: str
    kind: str  # file | directory | object | prefix | missing
    format: str | None
    files: list[DataFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class Backend(Protocol):
    def list(self, uri: str, cfg: DataQualityConfig, input_format: str | None) -> Listing: ...

    def read(self, f: DataFile, max_bytes: int) -> bytearray: ...


class ReadError(Exception):
    """A file could not be read or parsed; the message is shown to the user as is."""


def is_s3(uri: str) -> bool:
    return uri.lower().startswith("s3://")


def _format_of(name: str) -> str | None:
    lower = name.lower()
    for suffix, fmt in SUFFIX_FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    return None


def _ignored(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(part, p) for part in rel.split("/") for p in patterns)


def _hive(rel: str, enabled: bool) -> tuple[tuple[str, str], ...]:
    if not enabled:
        return ()
    out = []
    for part in rel.split("/")[:-1]:
        if "=" in part:
            k, v = part.split("=", 1)
            if k:
                out.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
    return tuple(out)


def _finish_listing(listing: Listing, candidates: list[tuple[str, str, int, str | None]], cfg: DataQualityConfig,
                    input_format: str | None) -> Listing:
    """Assign one format to the candidate files; unknown and mixed formats are problems."""
    by_format: dict[str, list[DataFile]] = {}
    for rel, where, size, etag in sorted(candidates):
        fmt = input_format or _format_of(rel)
        if fmt is None:
            listing.problems.append(Problem(
                "DQ-UNSUPPORTED-FILE", "unsupported", rel,
                f"{rel}: not a {'/'.join(INPUT_FORMATS)} file (by its name); a file the gate skips could be "
                "one the trainer reads. Remove it, or name it to match the 'ignore' patterns.",
            ))
            continue
        by_format.setdefault(fmt, []).append(DataFile(rel, where, size, etag, _hive(rel, cfg.hive_partitioning)))
    if len(by_format) > 1:
        counts = ", ".join(f"{k}: {len(v)} file(s)" for k, v in sorted(by_format.items()))
        listing.problems.append(Problem(
            "DQ-MIXED-FORMATS", "unsupported", listing.uri,
            f"a dataset must have one format; found {counts}",
        ))
        listing.format = None
        return listing
    if by_format:
        (listing.format, listing.files), = by_format.items()
    else:
        listing.format = input_format
    return listing


# ---------------------------------------------------------------------------------------------
# Local files
# ---------------------------------------------------------------------------------------------


class LocalBackend:
    def list(self, uri: str, cfg: DataQualityConfig, input_format: str | None) -> Listing:
        raw = uri[len("file://"):] if uri.startswith("file://") else uri
        path = Path(raw)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return Listing(uri, "missing", None, problems=[
                Problem("DQ-READ-ERROR", "error", uri, f"{uri}: no such file or directory")])
        except OSError as e:
            return Listing(uri, "missing", None, problems=[
                Problem("DQ-READ-ERROR", "error", uri, f"{uri}: {e.strerror or e}")])
        if stat.S_ISLNK(st.st_mode):
            return Listing(uri, "file", None, problems=[Problem(
                "DQ-SYMLINK", "unsupported", uri,
                f"{uri}: symlinks are refused (the target can change after the check); pass the real path")])
        if stat.S_ISREG(st.st_mode):
            listing = Listing(uri, "file", None)
            return _finish_listing(listing, [(path.name, str(path.resolve()), st.st_size, None)], cfg, input_format)
        if not stat.S_ISDIR(st.st_mode):
            return Listing(uri, "file", None, problems=[
                Problem("DQ-SPECIAL-FILE", "unsupported", uri, f"{uri}: not a regular file or folder")])
        listing = Listing(uri, "directory", None)
        candidates: list[tuple[str, str, int, str | None]] = []
        stack: list[tuple[Path, str]] = [(path, "")]
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as e:
                listing.problems.append(Problem("DQ-READ-ERROR", "error", prefix or uri,
                                                f"{folder}: cannot list: {e.strerror or e}"))
                continue
            for entry in entries:
                rel = f"{prefix}{entry.name}"
                if _ignored(entry.name, cfg.ignore):
                    listing.ignored.append(rel)
                    continue
                if entry.is_symlink():
                    listing.problems.append(Problem(
                        "DQ-SYMLINK", "unsupported", rel, f"{rel}: symlinks are refused inside a dataset"))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), rel + "/"))
                elif entry.is_file(follow_symlinks=False):
                    candidates.append((rel, entry.path, entry.stat(follow_symlinks=False).st_size, None))
                    if len(candidates) > cfg.memory.max_files:
                        listing.problems.append(Problem(
                            "DQ-LIMIT", "unsupported", uri,
                            f"more than {cfg.memory.max_files} files (memory.max_files); not checked"))
                        listing.files = []
                        return listing
                else:
                    listing.problems.append(Problem(
                        "DQ-SPECIAL-FILE", "unsupported", rel, f"{rel}: not a regular file"))
        return _finish_listing(listing, candidates, cfg, input_format)

    def read(self, f: DataFile, max_bytes: int) -> bytearray:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(f.where, flags)
        except OSError as e:
            raise ReadError(f"{f.rel}: cannot open: {e.strerror or e}") from None
        with os.fdopen(fd, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ReadError(f"{f.rel}: not a regular file")
            size = st.st_size
            if size > max_bytes:
                raise _LimitError(f"{f.rel}: {size} bytes is more than memory.max_file_bytes ({max_bytes})")
            buf = bytearray(size)
            view = memoryview(buf)
            pos = 0
            while pos < size:
                n = fh.readinto(view[pos: pos + CHUNK])
                if not n:
                    raise ReadError(f"{f.rel}: file shrank while it was read ({pos} of {size} bytes)")
                pos += n
            if fh.read(1):
                raise ReadError(f"{f.rel}: file grew while it was read (more than {size} bytes)")
            view.release()
            return buf


# ---------------------------------------------------------------------------------------------
# S3 (boto3; AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 are honoured by botocore)
# ---------------------------------------------------------------------------------------------

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_TRANSIENT = {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "InternalError",
              "ServiceUnavailable", "503", "500"}


def _split_s3(uri: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(uri)
    return parts.netloc, urllib.parse.unquote(parts.path.lstrip("/"))


class S3Backend:
    def __init__(self, session: Any = None, client: Any = None) -> None:
        self._session = session
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            session = self._session or aws.session()
            self._client = session.client(
                "s3", config=aws.config(max_attempts=4, retry_mode="standard", connect_timeout=10, read_timeout=60)
            )
        return self._client

    def _call(self, what: str, fn: Any, **kw: Any) -> Any:
        try:
            return fn(**kw)
        except aws.AWS_ERRORS as e:
            if aws.is_service_error(e):
                code = str(e.response.get("Error", {}).get("Code", ""))
                if code in _TRANSIENT:
                    raise TransientError(f"{what}: {e}") from e
                raise
            if aws.credentials_problem(e) == "missing":
                raise ReadError(f"{what}: no AWS credentials: {e}") from None
            if aws.connection_problem(e) is not None:
                raise TransientError(f"{what}: cannot reach S3: {e}") from e
            raise ReadError(f"{what}: {e}") from None

    def list(self, uri: str, cfg: DataQualityConfig, input_format: str | None) -> Listing:
        bucket, key = _split_s3(uri)
        if not bucket:
            return Listing(uri, "missing", None, problems=[
                Problem("DQ-READ-ERROR", "error", uri, f"{uri}: no bucket in the S3 URI")])
        try:
            if key and not key.endswith("/"):
                try:
                    head = self._call(f"{uri}: HeadObject", self.client.head_object, Bucket=bucket, Key=key)
                except aws.SERVICE_ERRORS as e:
                    if str(e.response.get("Error", {}).get("Code", "")) not in _NOT_FOUND:
                        raise
                else:
                    listing = Listing(uri, "object", None)
                    name = key.rsplit("/", 1)[-1]
                    return _finish_listing(
                        listing, [(name, f"s3://{bucket}/{key}", int(head["ContentLength"]), head.get("ETag"))],
                        cfg, input_format)
                prefix = key + "/"
            else:
                prefix = key
            listing = Listing(uri, "prefix", None)
            candidates: list[tuple[str, str, int, str | None]] = []
            paginator = self.client.get_paginator("list_objects_v2")
            pages = self._call(f"{uri}: ListObjectsV2", paginator.paginate, Bucket=bucket, Prefix=prefix)
            for page in pages:
                for obj in page.get("Contents", []) or []:
                    okey = obj["Key"]
                    rel = okey[len(prefix):]
                    if not rel or rel.endswith("/"):
                        continue  # folder markers
                    if _ignored(rel, cfg.ignore):
                        listing.ignored.append(rel)
                        continue
                    candidates.append((rel, f"s3://{bucket}/{okey}", int(obj["Size"]), obj.get("ETag")))
                    if len(candidates) > cfg.memory.max_files:
                        listing.problems.append(Problem(
                            "DQ-LIMIT", "unsupported", uri,
                            f"more than {cfg.memory.max_files} objects (memory.max_files); not checked"))
                        return listing
            if not candidates and key and not key.endswith("/"):
                listing.kind = "missing"
                listing.problems.append(Problem("DQ-READ-ERROR", "error", uri, f"{uri}: no such object or prefix"))
                return listing
            return _finish_listing(listing, candidates, cfg, input_format)
        except aws.SERVICE_ERRORS as e:
            err = e.response.get("Error", {})
            return Listing(uri, "missing", None, problems=[Problem(
                "DQ-READ-ERROR", "error", uri, f"{uri}: {err.get('Code', 'error')}: {err.get('Message', e)}")])
        except ReadError as e:
            return Listing(uri, "missing", None, problems=[Problem("DQ-READ-ERROR", "error", uri, str(e))])

    def read(self, f: DataFile, max_bytes: int) -> bytearray:
        if f.size > max_bytes:
            raise _LimitError(f"{f.rel}: {f.size} bytes is more than memory.max_file_bytes ({max_bytes})")
        bucket, key = _split_s3(f.where)
        kw: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if f.etag:
            kw["IfMatch"] = f.etag  # the object read is the object listed
        try:
            resp = self._call(f"{f.where}: GetObject", self.client.get_object, **kw)
        except aws.SERVICE_ERRORS as e:
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            if code in ("PreconditionFailed", "412"):
                raise ReadError(f"{f.rel}: object changed after it was listed") from None
            raise ReadError(f"{f.rel}: {code or 'error'}: {err.get('Message', e)}") from None
        size = int(resp.get("ContentLength", -1))
        if size != f.size:
            resp["Body"].close()
            raise ReadError(f"{f.rel}: object changed after it was listed ({f.size} -> {size} bytes)")
        buf = bytearray(size)
        view = memoryview(buf)
        pos = 0
        body = resp["Body"]
        try:
            while True:
                chunk = body.read(CHUNK)
                if not chunk:
                    break
                if pos + len(chunk) > size:
                    raise ReadError(f"{f.rel}: more bytes than its Content-Length ({size})")
                view[pos: pos + len(chunk)] = chunk
                pos += len(chunk)
        except ReadError:
            raise
        except Exception as e:
            raise TransientError(f"{f.where}: read failed: {e}") from e
        finally:
            body.close()
        if pos != size:
            raise ReadError(f"{f.rel}: short read ({pos} of {size} bytes)")
        view.release()
        return buf


class _LimitError(ReadError):
    pass


def backend_for(uri: str, session: Any = None) -> Backend:
    return S3Backend(session) if is_s3(uri) else LocalBackend()


# ---------------------------------------------------------------------------------------------
# Parsing and loading
# ---------------------------------------------------------------------------------------------


def parse(buf: bytearray | bytes, fmt: str, rel: str) -> pa.Table | None:
    """Parse one file's bytes. ``None`` for an empty (0-byte) CSV/JSON Lines file."""
    import pyarrow as pa

    if len(buf) == 0 and fmt in ("csv", "jsonl"):
        return None
    source = pa.BufferReader(pa.py_buffer(buf))
    try:
        if fmt == "csv":
            import pyarrow.csv as pcsv

            # Quoted fields may hold newlines (as pandas reads them); empty strings are nulls (as in pandas).
            return pcsv.read_csv(source, parse_options=pcsv.ParseOptions(newlines_in_values=True),
                                 convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(source).read(use_pandas_metadata=True)
        if fmt == "jsonl":
            import pyarrow.json as pjson

            return pjson.read_json(source)
    except (pa.ArrowException, OSError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ReadError(f"{rel}: not a valid {fmt} file: {msg}") from None
    raise ReadError(f"{rel}: unsupported format {fmt!r}")


def release_memory() -> None:
    """Give memory that Arrow freed (parse temporaries) back to the OS now, not at the allocator's
    leisure: it keeps the peak of the next step down."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


# Nested and binary columns become Python objects in pandas (several times their Arrow size).
NESTED_WEIGHT = 8


def decoded_bytes(table: pa.Table) -> int:
    """The memory the decoded table stands for: its Arrow size, with nested/binary columns
    weighted (they turn into Python objects in pandas)."""
    import pyarrow.types as pt

    total = 0
    for col in table.columns:
        t = col.type
        heavy = pt.is_nested(t) or pt.is_binary(t) or pt.is_large_binary(t) or pt.is_fixed_size_binary(t)
        total += col.nbytes * (NESTED_WEIGHT if heavy else 1)
    return total


def _sha256(buf: bytearray) -> str:
    return hashlib.sha256(buf).hexdigest()  # releases the GIL: runs beside the parse


@dataclass
class LoadedData:
    listing: Listing
    table: pa.Table | None = None
    files: list[FileDigest] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    schema_issues: list[str] = field(default_factory=list)
    fingerprint: Fingerprint | None = None


def _add_partitions(table: pa.Table, f: DataFile) -> pa.Table:
    import pyarrow as pa

    for k, v in f.partitions:
        if k in table.column_names:
            raise ReadError(f"{f.rel}: partition folder {k}={v} names a column the file already has")
        table = table.append_column(k, pa.repeat(pa.scalar(v, pa.string()), table.num_rows))
    return table


def load(listing: Listing, backend: Backend, cfg: DataQualityConfig) -> LoadedData:
    """Read, hash and parse every file of ``listing`` in order; build one table and the fingerprint."""
    out = LoadedData(listing=listing, problems=list(listing.problems))
    limits: MemoryLimits = cfg.memory
    if listing.format is None and (listing.files or listing.problems):
        return out
    fmt = listing.format or "unknown"  # an empty folder: no file, no format
    total = sum(f.size for f in listing.files)
    if total > limits.max_input_bytes:
        out.problems.append(Problem("DQ-LIMIT", "unsupported", listing.uri,
                                    f"{total} bytes in {len(listing.files)} file(s) is more than "
                                    f"memory.max_input_bytes ({limits.max_input_bytes}); not checked"))
        return out
    tables: list[tuple[str, pa.Table]] = []
    table_bytes = 0
    failed = False
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlgate-sha256") as hasher:
        for f in sorted(listing.files, key=lambda x: x.rel):
            try:
                buf = backend.read(f, limits.max_file_bytes)
            except _LimitError as e:
                out.problems.append(Problem("DQ-LIMIT", "unsupported", f.rel, f"{e}; not checked"))
                return out
            except ReadError as e:
                out.problems.append(Problem("DQ-READ-ERROR", "error", f.rel, str(e)))
                failed = True
                continue
            digest_future = hasher.submit(_sha256, buf)
            table = None
            ok = True
            try:
                table = parse(buf, fmt, f.rel)
                if table is not None:
                    table = _add_partitions(table, f)
            except ReadError as e:
                out.problems.append(Problem("DQ-READ-ERROR", "error", f.rel, str(e)))
                failed, ok = True, False
            digest = digest_future.result()
            size = len(buf)
            del buf
            release_memory()
            out.files.append(FileDigest(path=f.rel, sha256=digest, bytes=size,
                                        rows=(table.num_rows if table is not None else 0) if ok else None))
            if failed:
                tables.clear()  # nothing is validated on a partial dataset: free the memory now
                continue
            if table is None:
                continue
            table_bytes += decoded_bytes(table)
            if table_bytes > limits.max_table_bytes:
                out.problems.append(Problem(
                    "DQ-LIMIT", "unsupported", f.rel,
                    f"the decoded dataset reached {table_bytes} bytes after {f.rel}, more than "
                    f"memory.max_table_bytes ({limits.max_table_bytes}); not checked"))
                return out
            tables.append((f.rel, table))
    if failed:
        return out
    out.table, out.schema_issues = _unify(tables, out)
    if out.table is None:
        return out
    names = out.table.column_names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:  # ambiguous: which 'label' would the trainer read? pandas renames, GX errors
        out.problems.append(Problem("DQ-DUPLICATE-COLUMNS", "error", listing.uri,
                                    f"duplicate column names {dupes}: the dataset is ambiguous"))
        out.table = None
        return out
    columns = [ColumnSchema(name=fld.name, type=str(fld.type)) for fld in out.table.schema]
    out.fingerprint = Fingerprint.build(fmt, out.files, out.table.num_rows, columns)
    return out


def _unify(tables: list[tuple[str, pa.Table]], out: LoadedData) -> tuple[pa.Table | None, list[str]]:
    """One table from the files' tables. Files whose columns differ from the first file's are
    reported (a missing or extra column in one partition); types are widened where Arrow can
    (int64 + double -> double); incompatible types are an error."""
    import pyarrow as pa

    if not tables:
        return pa.table({}), []
    issues: list[str] = []
    first_rel, first = tables[0][0], tables[0][1].column_names
    for rel, t in tables[1:]:
        if t.column_names != first:
            missing = [c for c in first if c not in t.column_names]
            extra = [c for c in t.column_names if c not in first]
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if extra:
                parts.append(f"extra {extra}")
            if not parts:
                parts.append(f"column order {t.column_names}")
            issues.append(f"{rel}: columns differ from {first_rel} ({'; '.join(parts)})")
    if len(tables) == 1:
        return tables[0][1], issues
    try:
        table = pa.concat_tables([t for _, t in tables], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        out.problems.append(Problem("DQ-READ-ERROR", "error", out.listing.uri,
                                    f"the files' schemas cannot be combined: {str(e).splitlines()[0]}"))
        return None, issues
    tables.clear()
    return table, issues
