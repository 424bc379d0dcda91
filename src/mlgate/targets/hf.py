"""``hf://org/repo@<40-hex commit sha>`` through ``huggingface_hub`` (``HF_ENDPOINT``, ``HF_TOKEN``).

The revision must be a full commit sha (:func:`mlgate.targets.parse_hf` refuses branches and
tags: they move, so what was scanned would not be what is loaded later). The listing is
``HfApi.model_info(repo, revision=<sha>, files_metadata=True)``, the hub's own record of every
file at that commit: the answer must name the same commit, and every file must carry a size and a
digest. Each file is then streamed from the hub's ``resolve`` URL at that commit (``hf_hub_url``,
with ``huggingface_hub``'s HTTP session and headers) into a private temporary file and verified:
LFS files against their LFS sha256 and size, other files against their git blob id and size.
Nothing is written to the Hugging Face cache and nothing is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlgate.targets.base import BoundedWriter, Fetched, Listing, RemoteObject, Source, TargetProblem, safe_rel, verify

CHUNK = 4 * 1024 * 1024


def _explain(uri: str, e: Exception) -> TargetProblem:
    name = type(e).__name__
    first = (str(e).strip().splitlines() or [""])[0][:300]
    hint = {
        "RepositoryNotFoundError": "no such repository, or it is private and the token (HF_TOKEN) may not read it",
        "RevisionNotFoundError": "no such commit in this repository",
        "GatedRepoError": "the repository is gated: accept its terms and set HF_TOKEN",
    }.get(name, "")
    return TargetProblem(f"{uri}: {name}: {first}" + (f" ({hint})" if hint else ""), rule="MLG-TARGET-LIST")


class HfSource(Source):
    scheme = "hf"

    def __init__(self, endpoint: str | None = None, token: str | None = None) -> None:
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
        self.token = token

    def list(self, uri: str) -> Listing:
        from huggingface_hub import HfApi

        from mlgate.targets import parse_hf

        repo_id, commit = parse_hf(uri)
        listing = Listing(uri=uri, kind="directory",
                          details={"repo_id": repo_id, "commit": commit, "endpoint": self.endpoint})
        try:
            info: Any = HfApi(endpoint=self.endpoint, token=self.token).model_info(
                repo_id, revision=commit, files_metadata=True)
        except Exception as e:
            raise _explain(uri, e) from e
        if getattr(info, "sha", None) != commit:
            raise TargetProblem(f"{uri}: the hub answered for commit {getattr(info, 'sha', None)!r}, not {commit}",
                                rule="MLG-TARGET-MISMATCH")
        siblings = list(info.siblings or [])
        for sib in siblings:
            name = str(sib.rfilename)
            try:
                rel = safe_rel(name, "")
            except TargetProblem as p:
                listing.problems.append(p)
                continue
            expect: dict[str, str] = {}
            size = sib.size
            if sib.lfs is not None:
                expect["sha256"] = str(sib.lfs.sha256)
                size = int(sib.lfs.size)
            elif sib.blob_id:
                expect["git_blob_sha1"] = str(sib.blob_id)
            if size is None or not expect:
                listing.problems.append(TargetProblem(
                    f"{uri}: {name}: the hub lists no size or digest, so the copy cannot be verified",
                    rule="MLG-TARGET-LIST"))
                continue
            listing.objects.append(RemoteObject(rel=rel, key=name, size=int(size), expect=expect))
        if not listing.objects and not listing.problems:
            raise TargetProblem(f"{uri}: no files at this commit: nothing to check", rule="MLG-TARGET-EMPTY",
                                empty=True)
        return listing

    def fetch(self, listing: Listing, obj: RemoteObject, dest: Path) -> Fetched:
        from huggingface_hub import get_session, hf_hub_url
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

        commit = listing.details["commit"]
        url = hf_hub_url(listing.details["repo_id"], obj.key, revision=commit, endpoint=self.endpoint)
        what = f"{listing.uri}: {obj.rel}"
        w = BoundedWriter(dest, obj.size, what)
        if "git_blob_sha1" in obj.expect and obj.size is not None:
            w.want_git_blob_sha1(obj.size)
        try:
            headers = build_hf_headers(token=self.token)
            with get_session().stream("GET", url, headers=headers, follow_redirects=True, timeout=60) as resp:
                if resp.status_code != 200:
                    raise TargetProblem(f"{what}: HTTP {resp.status_code} from the hub")
                served = resp.headers.get("X-Repo-Commit")
                if served and served != commit:
                    raise TargetProblem(f"{what}: served from commit {served}, not {commit}",
                                        rule="MLG-TARGET-MISMATCH")
                for chunk in resp.iter_bytes(CHUNK):
                    w.write(chunk)
        except TargetProblem:
            raise
        except Exception as e:
            raise TargetProblem(f"{what}: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]}") from e
        finally:
            w.close()
        verify(obj, w, what)
        details = {"source": url, "commit": commit}
        details.update({k: v for k, v in obj.expect.items() if k in ("sha256", "git_blob_sha1")})
        return Fetched(size=w.size, details=details)
