"""A Hugging Face hub stand-in for the tests: what `snapshot_download`/`hf_hub_download` ask of it.

huggingface_hub (2.x in the base image) resolves a revision with `GET /api/models/REPO/revision/REV`
(it needs `sha`), lists files with `GET /api/models/REPO/tree/SHA?recursive=...`, then asks
`HEAD /REPO/resolve/REV/FILE` for X-Repo-Commit, ETag and size before `GET` fetches the bytes. A
gated repository answers 401 without the right bearer token, as the hub does. Containers reach it
through HF_ENDPOINT at the address it binds (the Docker bridge's gateway).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class FakeRepo:
    files: dict[str, bytes]
    token: str | None = None  # gated: only this bearer token may read it
    commit: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name])
        self.commit = digest.hexdigest()


class FakeHub:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.downloads: Counter[str] = Counter()  # "repo/file" -> GETs of its bytes
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                hub.answer(self, body=False)

            def do_GET(self) -> None:
                hub.answer(self, body=True)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _repo_of(self, parts: list[str]) -> tuple[str, FakeRepo | None]:
        repo_id = "/".join(parts[:2])
        return repo_id, self.repos.get(repo_id)

    def answer(self, request: BaseHTTPRequestHandler, body: bool) -> None:
        parts = [unquote(p) for p in urlsplit(request.path).path.strip("/").split("/")]
        api = parts[:2] == ["api", "models"]
        repo_id, repo = self._repo_of(parts[2:] if api else parts)
        if repo is None:
            return self._send(request, 404, b'{"error":"Repository not found"}', {"X-Error-Code": "RepoNotFound"}, body)
        if repo.token and request.headers.get("Authorization") != f"Bearer {repo.token}":
            message = b'{"error":"Access to this gated repository is restricted"}'
            return self._send(request, 401, message, {"X-Error-Code": "GatedRepo"}, body)
        if api and len(parts) >= 6 and parts[4] == "revision":
            info = {"id": repo_id, "sha": repo.commit, "siblings": [{"rfilename": n} for n in sorted(repo.files)]}
            return self._send(request, 200, json.dumps(info).encode(), {}, body)
        if api and len(parts) >= 5 and parts[4] == "tree":
            tree = [
                {"type": "file", "path": n, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for n, data in sorted(repo.files.items())
            ]
            return self._send(request, 200, json.dumps(tree).encode(), {}, body)
        if not api and len(parts) >= 5 and parts[2] == "resolve":
            name = "/".join(parts[4:])
            data = repo.files.get(name)
            if data is None:
                return self._send(request, 404, b"{}", {"X-Error-Code": "EntryNotFound"}, body)
            if body:
                self.downloads[f"{repo_id}/{name}"] += 1
            etag = f'"{hashlib.sha1(data).hexdigest()}"'
            return self._send(request, 200, data, {"X-Repo-Commit": repo.commit, "ETag": etag}, body)
        return self._send(request, 404, b"{}", {}, body)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
        request.send_response(status)
        request.send_header("Content-Length", str(len(data)))
        request.send_header("Content-Type", "application/octet-stream" if status == 200 else "application/json")
        for key, value in headers.items():
            request.send_header(key, value)
        request.end_headers()
        if body:
            request.wfile.write(data)
