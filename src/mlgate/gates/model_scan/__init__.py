"""The model-file gate: scans files and folders for model serialization attacks without loading
them, with mlgate's own deny-by-default engine and modelscan as a second engine.

Every regular file under each PATH is a subject of its own (with its sha256); each PATH gets a
manifest digest (:mod:`mlgate.digest`). Symlinks and special files are findings, never followed.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.digest import manifest_of, sha256_file
from mlgate.gate import Gate, GateRun, Progress, SubjectDraft
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


def scan_file(entry: Entry, config: ModelScanConfig, gp: GlobalsPolicy) -> SubjectDraft:
    from mlgate.gates.model_scan.analyze import HEAD_BYTES, analyze_blob
    from mlgate.gates.model_scan.blob import file_blob

    ctx = ScanContext(path=entry.rel, config=config, globals_policy=gp)
    draft = SubjectDraft(subject=entry.rel, kind="file", root=entry.root)
    if entry.problem:
        rule = FILE_UNREADABLE if entry.problem.startswith("cannot") else FILE_SPECIAL
        ctx.report(rule, f"{entry.rel} {entry.problem}")
    else:
        try:
            draft.sha256, draft.size = sha256_file(entry.abspath)
            blob = file_blob(entry.abspath, entry.rel)
            head = blob.head(HEAD_BYTES)
            try:
                analyze_blob(blob, ctx)
            except BudgetExceeded as e:
                ctx.limit(str(e))
            except (RecursionError, MemoryError) as e:
                ctx.report(ENGINE_ERROR, f"analysis aborted: {type(e).__name__}")
            except Exception as e:  # an analyser bug on hostile input: error, never pass
                ctx.report(ENGINE_ERROR, f"{type(e).__name__}: {e}")
            if any(f.id == FILE_LIMIT.id for f in ctx.findings):
                # over its budget the file is incomplete whatever modelscan says; modelscan runs
                # in-process without a deadline and can take minutes on the same hostile file
                ctx.details["modelscan_skipped"] = "the file is over its analysis budget (incomplete)"
            else:
                _modelscan_within_budget(Path(entry.abspath), ctx, config, head)
        except OSError as e:
            ctx.report(FILE_UNREADABLE, f"cannot read {entry.rel}: {e.strerror or e}")
    draft.findings = ctx.findings
    draft.coverage = ctx.coverage
    draft.formats = ctx.formats
    draft.details = ctx.details
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
        with ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="mlgate-scan") as pool:
            drafts = []
            for d in pool.map(lambda e: scan_file(e, config, gp), all_entries):
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
