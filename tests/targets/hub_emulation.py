"""A local EMULATION of the Hugging Face Hub endpoints that huggingface_hub uses to read a repo at
a commit (no hub is reachable from this machine): ``GET /api/models/{repo}/revision/{rev}?blobs=true``
(model_info with files metadata: rfilename, size, blobId, lfs{sha256,size,pointerSize}) and
``GET /{repo}/resolve/{rev}/{file}`` (LFS files redirect to a CDN-like path, as the hub does).
Errors carry the hub's ``X-Error-Code`` header (RepoNotFound with 401, RevisionNotFound), which
huggingface_hub turns into its typed errors. Started on 127.0.0.1 by the test that uses it."""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Hub:
    # repo_id -> commit -> {filename: bytes}
    repos: dict[str, dict[str, dict[str, bytes]]] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)  # filenames stored as LFS
    tamper: dict[str, bytes] = field(default_factory=dict)  # filename -> bytes served instead
    requests: list[str] = field(default_factory=list)


def serve(hub: Hub) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            return

        def _err(self, code: int, err: str, msg: str) -> None:
            body = json.dumps({"error": msg}).encode()
            self.send_response(code)
            self.send_header("X-Error-Code", err)
            self.send_header("X-Error-Message", msg)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, doc: object) -> None:
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            u = urllib.parse.urlparse(self.path)
            path = urllib.parse.unquote(u.path)
            hub.requests.append(path)
            if path.startswith("/api/models/"):
                repo, _, rev = path[len("/api/models/"):].partition("/revision/")
                if repo not in hub.repos:
                    return self._err(401, "RepoNotFound", "Repository not found")
                if rev not in hub.repos[repo]:
                    return self._err(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                files = hub.repos[repo][rev]
                sibs = []
                for name, data in sorted(files.items()):
                    s: dict[str, object] = {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(data)}
                    if name in hub.lfs:
                        s["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
                    sibs.append(s)
                return self._json({"_id": "x", "id": repo, "modelId": repo, "sha": rev, "private": False,
                                   "siblings": sibs, "tags": [], "downloads": 0, "likes": 0})
            if path.startswith("/lfs-cdn/"):
                _, _, repo_rev_name = path.partition("/lfs-cdn/")
                repo_a, repo_b, rev, name = repo_rev_name.split("/", 3)
                return self._file(f"{repo_a}/{repo_b}", rev, name)
            parts = path.lstrip("/").split("/", 4)
            if len(parts) == 5 and parts[2] == "resolve":
                repo, rev, name = f"{parts[0]}/{parts[1]}", parts[3], parts[4]
                if name in hub.lfs:
                    self.send_response(302)
                    self.send_header("Location", f"/lfs-cdn/{repo}/{rev}/{urllib.parse.quote(name)}")
                    self.send_header("X-Repo-Commit", rev)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._file(repo, rev, name)
            return self._err(404, "EntryNotFound", "not found")

        def _file(self, repo: str, rev: str, name: str) -> None:
            data = hub.repos.get(repo, {}).get(rev, {}).get(name)
            if data is None:
                return self._err(404, "EntryNotFound", "Entry not found")
            data = hub.tamper.get(name, data)
            self.send_response(200)
            self.send_header("X-Repo-Commit", rev)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"
