"""The model-file gate: scans files and folders for model serialization attacks without loading
them, with mlgate's own deny-by-default engine and modelscan as a second engine.

Every regular file under each PATH is a subject of its own (with its sha256); each PATH gets a
manifest digest (:mod:`mlgate.digest`). Symlinks and special files are findings, never followed.
"""

from __future__ import annotations

import ctypes
import fnmatch
import multiprocessing
import os
import signal
import stat
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.digest import manifest_of, sha256_file
from mlgate.gate import Gate, GateRun, Progress, SubjectDraft
from mlgate.gates.model_scan.cache import CacheRefused, VerdictCache, restore
from mlgate.gates.model_scan.config import ModelScanConfig
from mlgate.gates.model_scan.context import BudgetExceeded, ScanContext
from mlgate.gates.model_scan.globals_policy import GlobalsPolicy
from mlgate.gates.model_scan.rules import ENGINE_ERROR, FILE_LIMIT, FILE_SPECIAL, FILE_UNREADABLE
from mlgate.model import RootManifest
from mlgate.policy import Policy

__all__ = ["ModelScanConfig", "ModelScanGate"]


@dataclass
class Entry:
    root: str
    rel: str
    abspath: str
    problem: str | None = None  # why it is not a regular file


def walk(target: str, exclude: tuple[str, ...]) -> tuple[list[Entry], list[str], bool]:
    """Regular files under ``target`` (never following links), special entries as problems,
    excluded paths, and whether the target is a directory."""
    entries: list[Entry] = []
    excluded: list[str] = []
    try:
        st = os.lstat(target)
    except OSError as e:
        return [Entry(target, os.path.basename(target) or target, target, f"cannot stat: {e.strerror}")], [], False
    if stat.S_ISLNK(st.st_mode):
        return [Entry(target, os.path.basename(target), target, "is a symbolic link (not followed)")], [], False
    if stat.S_ISREG(st.st_mode):
        return [Entry(target, os.path.basename(target), target)], [], False
    if not stat.S_ISDIR(st.st_mode):
        return [Entry(target, os.path.basename(target), target, "is a special file")], [], False

    def rec(d: str, rel: str) -> None:
        try:
            items = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as e:
            entries.append(Entry(target, rel or ".", d, f"cannot list directory: {e.strerror}"))
            return
        for it in items:
            r = f"{rel}/{it.name}" if rel else it.name
            if any(fnmatch.fnmatchcase(r, pat) or fnmatch.fnmatchcase(r + "/", pat) for pat in exclude):
                excluded.append(r)
                continue
            try:
                mode = it.stat(follow_symlinks=False).st_mode
            except OSError as e:
                entries.append(Entry(target, r, it.path, f"cannot stat: {e.strerror}"))
                continue
            if stat.S_ISLNK(mode):
                dest = os.readlink(it.path)
                entries.append(Entry(target, r, it.path, f"is a symbolic link to {dest!r} (not followed)"))
            elif stat.S_ISDIR(mode):
                rec(it.path, r)
            elif stat.S_ISREG(mode):
                entries.append(Entry(target, r, it.path))
            else:
                entries.append(Entry(target, r, it.path, "is a device, FIFO or socket"))

    rec(target, "")
    return entries, excluded, True


OVERLAP_MIN_BYTES = 64 * 1024 * 1024


def _digest_beside(path: str) -> Future[tuple[str, int]] | None:
    """Start hashing ``path`` on its own thread if it is large enough for that to pay off."""
    try:
        if os.lstat(path).st_size < OVERLAP_MIN_BYTES:
            return None
    except OSError:
        return None  # the sequential path reports it
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlgate-digest")
    fut = pool.submit(sha256_file, path)
    pool.shutdown(wait=False)
    return fut


def scan_file(
    entry: Entry, config: ModelScanConfig, gp: GlobalsPolicy, cache: VerdictCache | None = None
) -> SubjectDraft:
    from mlgate.gates.model_scan.analyze import HEAD_BYTES, analyze_blob
    from mlgate.gates.model_scan.blob import SpillError, file_blob

    ctx = ScanContext(path=entry.rel, config=config, globals_policy=gp, fs_path=entry.abspath)
    draft = SubjectDraft(subject=entry.rel, kind="file", root=entry.root)
    if entry.problem:
        rule = FILE_UNREADABLE if entry.problem.startswith("cannot") else FILE_SPECIAL
        ctx.report(rule, f"{entry.rel} {entry.problem}")
    else:
        try:
            hasher = None
            if cache is not None:
                # The key needs the digest first; a hit skips the analysis.
                draft.sha256, draft.size = sha256_file(entry.abspath)
                hit = cache.get(draft.sha256, entry.rel)
                if hit is not None:
                    restore(draft, hit)
                    return draft
            else:
                # Large files: the digest (C code that releases the GIL) runs on a second thread
                # while this one walks the structure, so a big checkpoint costs one hashing pass.
                hasher = _digest_beside(entry.abspath)
                if hasher is None:
                    draft.sha256, draft.size = sha256_file(entry.abspath)
            blob = file_blob(entry.abspath, entry.rel)
            head = blob.head(HEAD_BYTES)
            try:
                analyze_blob(blob, ctx)
            except BudgetExceeded as e:
                ctx.limit(str(e))
            except (RecursionError, MemoryError) as e:
                ctx.report(ENGINE_ERROR, f"analysis aborted: {type(e).__name__}")
            except SpillError as e:  # the machine's temporary storage, not the file: error, not fail
                ctx.report(ENGINE_ERROR, str(e))
            except Exception as e:  # an analyser bug on hostile input: error, never pass
                ctx.report(ENGINE_ERROR, f"{type(e).__name__}: {e}")
            if any(f.id == FILE_LIMIT.id for f in ctx.findings):
                # over its budget the file is incomplete whatever modelscan says; modelscan runs
                # in-process without a deadline and can take minutes on the same hostile file
                ctx.details["modelscan_skipped"] = "the file is over its analysis budget (incomplete)"
            else:
                _modelscan_within_budget(Path(entry.abspath), ctx, config, head)
            if hasher is not None:
                draft.sha256, draft.size = hasher.result()
        except OSError as e:
            ctx.report(FILE_UNREADABLE, f"cannot read {entry.rel}: {e.strerror or e}")
    draft.findings = ctx.findings
    draft.coverage = ctx.coverage
    draft.formats = ctx.formats
    draft.details = ctx.details
    if cache is not None and not entry.problem:
        cache.put(draft)
    return draft


def _modelscan_within_budget(path: Path, ctx: ScanContext, config: ModelScanConfig, head: bytes) -> None:
    """modelscan runs in-process and has no deadline of its own: run it on a copy of the context
    in a daemon thread and wait for what is left of the file's time budget. Late, its results are
    dropped and the file is incomplete (the thread finishes in the background)."""
    import copy
    import threading
    import time

    from mlgate.gates.model_scan.modelscan_engine import run_modelscan

    child = copy.copy(ctx)
    child.findings, child.coverage = list(ctx.findings), list(ctx.coverage)
    child.formats, child.details = list(ctx.formats), dict(ctx.details)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            run_modelscan(path, child, config, head)
        except BaseException as e:  # surfaced in the caller's thread
            failure.append(e)

    t = threading.Thread(target=work, name="mlgate-modelscan", daemon=True)
    t.start()
    t.join(max(0.0, ctx.deadline - time.monotonic()) + 1.0)
    if t.is_alive():
        ctx.limit(f"modelscan did not finish within the {config.limits.seconds_per_file} s budget")
        return
    if failure:
        raise failure[0]
    ctx.findings[:], ctx.coverage[:], ctx.formats[:] = child.findings, child.coverage, child.formats
    ctx.details.update(child.details)


# Worker-process state: the config and globals policy are sent once per worker (initializer), not
# once per file.
_WORKER: dict[str, Any] = {}


def _init_worker(config: ModelScanConfig, gp: GlobalsPolicy, cache: VerdictCache | None) -> None:
    _die_with_parent()
    if hasattr(signal, "pthread_sigmask"):  # started while the parent held SIGTERM (_sigterm_held)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    _WORKER["config"], _WORKER["gp"], _WORKER["cache"] = config, gp, cache


def _die_with_parent() -> None:
    """A worker never outlives the scan that started it, even one killed with SIGKILL (Linux:
    ``PR_SET_PDEATHSIG``; elsewhere the pool's broken pipe ends it at the next file)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() == 1:  # the parent died before the line above ran
        os._exit(1)


class ScanInterrupted(KeyboardInterrupt):
    """SIGTERM during a many-file scan: the workers are stopped and no result is produced."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into an exception for the duration of a pooled scan (main thread only), so the
    workers are stopped and nothing half-done is reported; the default is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise ScanInterrupted("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _sigterm_held() -> Iterator[None]:
    """Hold SIGTERM while the worker processes are started: a SIGTERM that lands in the middle of
    starting one (its start-up data half written) would leave a child that the pool does not know
    yet, which then fails with a traceback after the scan has stopped. A SIGTERM that arrives
    meanwhile is delivered (and stops the scan) as soon as the workers have started."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _scan_in_worker(entry: Entry) -> SubjectDraft:
    return scan_file(entry, _WORKER["config"], _WORKER["gp"], _WORKER["cache"])


def plan_workers(n_files: int, config: ModelScanConfig) -> tuple[str, int]:
    """How to spread ``n_files`` over the machine: ``("inline", 1)`` for a handful of files (a
    pre-commit hook scanning one file pays no pool start-up), worker processes for many files (the
    per-file work is pure Python: threads share one core under the GIL), bounded by the policy's
    ``max_workers``, the CPUs this process may use and the memory each worker may need."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = max(1, min(config.max_workers, cpus, n_files))
    avail = _available_memory()
    if avail is not None:
        workers = max(1, min(workers, avail // max(config.worker_memory_bytes, 1)))
    if workers == 1 or n_files < config.process_pool_min_files:
        return "inline", 1
    return "processes", workers


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _drafts(
    entries: list[Entry], config: ModelScanConfig, gp: GlobalsPolicy, cache: VerdictCache | None = None
) -> Iterator[SubjectDraft]:
    """Scan ``entries`` in order, inline or on worker processes (see :func:`plan_workers`)."""
    mode, workers = plan_workers(len(entries), config)
    if mode == "inline":
        for e in entries:
            yield scan_file(e, config, gp, cache)
        return
    # spawn: fresh interpreters, never a fork of this (possibly multi-threaded: Prefect, MLflow)
    # process, and direct children of it, so they can be tied to its life (_die_with_parent).
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(config, gp, cache)
    )
    chunk = max(1, min(32, len(entries) // (workers * 8)))
    try:
        with _sigterm_raises():
            with _sigterm_held():  # map() submits every chunk now, so every worker starts here
                results = pool.map(_scan_in_worker, entries, chunksize=chunk)
            yield from results
    except BaseException:
        # Interrupted, or the consumer stopped early: stop the workers now, not after their queue.
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class ModelScanGate(Gate[ModelScanConfig]):
    id = "model-scan"
    config_model = ModelScanConfig
    subject_noun = "file"

    def _check(
        self,
        targets: list[str],
        policy: Policy,
        checkpoint: str | None,
        config: ModelScanConfig,
        progress: Progress,
        **options: Any,
    ) -> GateRun:
        from mlgate.gates.model_scan.modelscan_engine import modelscan_problem, modelscan_version, unavailable_note

        gp = GlobalsPolicy.from_policy(policy, checkpoint)
        run = GateRun()
        ms = modelscan_version()
        run.tools["modelscan"] = ms or "unavailable"
        if config.modelscan.enabled and not config.modelscan.required:
            problem = modelscan_problem()
            if problem is not None:
                run.notes.append(unavailable_note(problem))
        plan: list[tuple[str, list[Entry], bool]] = []
        for t in targets:
            entries, excluded, is_dir = walk(t, config.exclude)
            plan.append((t, entries, is_dir))
            for x in excluded:
                run.notes.append(f"excluded by policy (gates.model-scan.exclude): {t}/{x}")
        total = sum(len(e) for _, e, _ in plan)
        progress(0, f"scanning {total} file(s)")
        all_entries = [e for _, entries, _ in plan for e in entries]
        cache = None
        cache_dir = os.environ.get("MLGATE_SCAN_CACHE") or config.cache_dir
        if cache_dir:
            try:
                cache = VerdictCache.open(
                    cache_dir,
                    policy_digest=policy.digest,
                    checkpoint=checkpoint,
                    tools=dict(run.tools),
                    settings=config.model_dump_json(),
                )
                run.notes.append(f"verdict cache: {cache.folder}")
            except (CacheRefused, OSError) as e:
                run.notes.append(f"verdict cache not used: {e}")
        drafts = []
        for d in _drafts(all_entries, config, gp, cache):
            drafts.append(d)
            progress(1, d.subject)
        run.subjects = drafts
        for t, entries, is_dir in plan:
            files = {d.subject: d.sha256 for d in drafts if d.root == t and d.sha256}
            if any(e.problem for e in entries) or not entries:
                continue  # no manifest for a tree we could not read completely
            run.manifests.append(
                RootManifest(
                    root=t,
                    kind="directory" if is_dir else "file",
                    manifest_sha256=manifest_of(files),
                    files=files,
                    total_bytes=sum(d.size or 0 for d in drafts if d.root == t),
                )
            )
        return run
