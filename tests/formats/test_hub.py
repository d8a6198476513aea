"""The Hub reader against a fake Hub on 127.0.0.1: range reads only, auth, and errors."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gguf
import pytest
from readers_kit import LLAMA, QWEN3_MOE, build_gguf, write_safetensors_model

from rigfit.formats import HubError, ModelKind, ReaderError, open_model
from rigfit.formats.hub import HUB_EXTRA_MESSAGE
from rigfit.quant import WeightFormat

SHA = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "hf_test_token_123"


@dataclass
class FakeHub:
    """Repositories (repo id -> file name -> bytes) and a log of what was asked and served."""

    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    private: set[str] = field(default_factory=set)
    gated: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    served: dict[str, int] = field(default_factory=dict)  # path -> body bytes sent
    url: str = ""


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    api = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$")
    resolve = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def _send(
            self, code: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return
                hub.served[self.path] = hub.served.get(self.path, 0) + len(body)

        def _authorized(self, repo: str) -> bool:
            if repo not in hub.private | hub.gated:
                return True
            return self.headers.get("Authorization") == f"Bearer {TOKEN}"

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            hub.requests.append((self.command, self.path, dict(self.headers)))
            path = self.path.split("?")[0]
            if m := api.match(path):
                repo = m[1]
                if repo not in hub.repos:
                    return self._send(404, b"{}", {"X-Error-Code": "RepoNotFound"})
                if repo in hub.gated and not self._authorized(repo):
                    return self._send(403, b"{}", {"X-Error-Code": "GatedRepo"})
                if not self._authorized(repo):
                    return self._send(401, b"{}")
                info = {
                    "id": repo,
                    "modelId": repo,
                    "sha": SHA,
                    "private": repo in hub.private,
                    "siblings": [{"rfilename": f} for f in sorted(hub.repos[repo])],
                }
                return self._send(
                    200, json.dumps(info).encode(), {"Content-Type": "application/json"}
                )
            if m := resolve.match(path):
                repo, rev, name = m[1], m[2], m[3]
                if repo not in hub.repos:
                    return self._send(404, b"", {"X-Error-Code": "RepoNotFound"})
                if not self._authorized(repo):
                    return self._send(401, b"")
                data = hub.repos[repo].get(name)
                if data is None or rev not in (SHA, "main"):
                    return self._send(404, b"", {"X-Error-Code": "EntryNotFound"})
                headers = {
                    "ETag": f'"{hash(data)}"',
                    "X-Repo-Commit": SHA,
                    "Accept-Ranges": "bytes",
                }
                rng = self.headers.get("Range")
                if rng:
                    a, b = re.match(r"bytes=(\d+)-(\d*)", rng).groups()  # type: ignore[union-attr]
                    start, end = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
                    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                    return self._send(206, data[start : end + 1], headers)
                return self._send(200, data, headers)
            return self._send(404, b"")

    return Handler


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture
def safetensors_repo(fake_hub: FakeHub, tmp_path: Path) -> FakeHub:
    write_safetensors_model(tmp_path / "st", LLAMA, shards=3)
    fake_hub.repos["org/tiny"] = {**_folder_files(tmp_path / "st"), "README.md": b"# tiny"}
    return fake_hub


def test_safetensors_repo_reads_only_headers(safetensors_repo: FakeHub, tmp_path: Path) -> None:
    hub = safetensors_repo
    local = open_model(str(tmp_path / "st"))
    model = open_model("org/tiny", progress=True)
    assert model.kind is ModelKind.HUB
    assert model.id == "org/tiny"
    assert model.source == f"{hub.url}/org/tiny@{SHA}"
    assert model.weights == local.weights
    assert model.arch.params_total == local.arch.params_total
    assert model.native_format is WeightFormat.F16
    files = hub.repos["org/tiny"]
    shards = [n for n in files if n.endswith(".safetensors")]
    for name in shards:
        path = f"/org/tiny/resolve/{SHA}/{name}"
        header_len = int.from_bytes(files[name][:8], "little")
        assert hub.served[path] == 8 + header_len < len(files[name])
        ranges = [h.get("range") or h.get("Range") for m, p, h in hub.requests if p == path]
        assert ranges == ["bytes=0-7", f"bytes=8-{8 + header_len - 1}"]
    # nothing was written to the Hugging Face cache: only headers were read, in memory
    assert not (tmp_path / "hf-cache").exists()


def test_token_is_sent_as_bearer(
    safetensors_repo: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = safetensors_repo
    hub.private.add("org/tiny")
    with pytest.raises(HubError, match="set HF_TOKEN"):
        open_model("org/tiny")
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # read at call time, not at import
    assert open_model("org/tiny").weights is not None
    auth = {
        h.get("authorization") or h.get("Authorization")
        for _, p, h in hub.requests
        if p.startswith("/org/tiny/")
    }
    assert auth == {f"Bearer {TOKEN}"}


def test_gated_repo(safetensors_repo: FakeHub) -> None:
    safetensors_repo.gated.add("org/tiny")
    with pytest.raises(HubError) as err:
        open_model("org/tiny")
    assert str(err.value) == "org/tiny is gated: accept its license on the Hub and set HF_TOKEN"


def test_unknown_repo(fake_hub: FakeHub) -> None:
    with pytest.raises(HubError) as err:
        open_model("org/absent")
    msg = str(err.value)
    assert msg.startswith(f"repository org/absent not found on {fake_hub.url}")
    assert "\n" not in msg


def test_repo_without_config_or_gguf(fake_hub: FakeHub) -> None:
    fake_hub.repos["org/empty"] = {"README.md": b"hi"}
    with pytest.raises(ReaderError, match=re.escape("org/empty: no config.json and no .gguf file")):
        open_model("org/empty")


def test_config_only_repo(fake_hub: FakeHub) -> None:
    fake_hub.repos["org/cfg"] = {
        "config.json": json.dumps(QWEN3_MOE).encode(),
        "pytorch_model.bin": b"x",
    }
    model = open_model("org/cfg")
    assert model.weights is None
    assert any("no safetensors" in n for n in model.notes)
    assert "/org/cfg/resolve/" + SHA + "/pytorch_model.bin" not in fake_hub.served


def test_gguf_repo_with_tag(fake_hub: FakeHub, tmp_path: Path) -> None:
    q8 = build_gguf(tmp_path / "tiny-Q8_0.gguf", LLAMA, quant=gguf.GGMLQuantizationType.Q8_0,
                    ftype=gguf.LlamaFileType.MOSTLY_Q8_0, tokens=3000)  # fmt: skip
    f32 = build_gguf(tmp_path / "tiny-F32.gguf", LLAMA)
    fake_hub.repos["org/tiny-GGUF"] = {
        "tiny-Q8_0.gguf": q8.read_bytes(),
        "tiny-F32.gguf": f32.read_bytes(),
        "mmproj-tiny-f16.gguf": b"projector",
    }
    with pytest.raises(
        ReaderError, match=r"holds 2 GGUF models .* pick one with org/tiny-GGUF:TAG"
    ):
        open_model("org/tiny-GGUF")
    model = open_model("org/tiny-GGUF:q8_0")
    assert model.id == "org/tiny-GGUF:q8_0"
    assert model.native_format is WeightFormat.Q8_0
    local = open_model(str(q8))
    assert model.weights == local.weights
    assert model.config == local.config
    # the header is smaller than the first range request: one request, no tensor data beyond it
    path = f"/org/tiny-GGUF/resolve/{SHA}/tiny-Q8_0.gguf"
    assert [p for _, p, _ in fake_hub.requests].count(path) == 1
    assert f"/org/tiny-GGUF/resolve/{SHA}/mmproj-tiny-f16.gguf" not in fake_hub.served


def test_revision_is_passed(safetensors_repo: FakeHub) -> None:
    open_model("org/tiny@v1")
    assert any(p == "/api/models/org/tiny/revision/v1" for _, p, _ in safetensors_repo.requests)


def test_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(HubError) as err:
        open_model("org/tiny")
    assert str(err.value).startswith("cannot reach the Hugging Face Hub at http://127.0.0.1:9")
    assert "\n" not in str(err.value)


def test_missing_hub_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ReaderError) as err:
        open_model("org/tiny")
    assert str(err.value) == HUB_EXTRA_MESSAGE


def test_progress_bar_on_a_terminal(
    safetensors_repo: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    open_model("org/tiny", progress=True)
    err = capsys.readouterr().err
    assert "org/tiny" in err
    assert "bytes read" in err
    open_model("org/tiny", progress=False)
    assert capsys.readouterr().err == ""


def test_gguf_repo_with_a_config_json(fake_hub: FakeHub, tmp_path: Path) -> None:
    """A GGUF repository that also ships config.json (no safetensors): the GGUF is read."""
    path = build_gguf(tmp_path / "m.gguf", LLAMA)
    fake_hub.repos["org/g"] = {
        "config.json": json.dumps(LLAMA).encode(),
        "m.gguf": path.read_bytes(),
    }
    assert open_model("org/g").weights is not None
