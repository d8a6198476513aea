"""Read a model from the Hugging Face Hub (or the mirror in ``HF_ENDPOINT``) without weights.

Only ``config.json``, ``model.safetensors.index.json`` and file headers are fetched: a
safetensors shard costs two HTTP range requests (its 8-byte length, then exactly its JSON
header), a GGUF file range requests in growing chunks up to
:data:`rigfit.formats.gguf.header.HEADER_MAX_BYTES`. ``HF_ENDPOINT`` and ``HF_TOKEN`` are read from
the environment at call time and passed explicitly, because ``huggingface_hub`` reads its own
copies once, at import. Needs the ``hub`` extra (``pip install 'rigfit[hub]'``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from rigfit.formats.build import config_model, gguf_model, safetensors_model
from rigfit.formats.config_json import CONFIG_MAX_BYTES, parse_config, parse_json
from rigfit.formats.errors import HubError, ReaderError
from rigfit.formats.gguf.header import HEADER_MAX_BYTES, GGUFHeader, parse_gguf
from rigfit.formats.model import FileModel, ModelKind
from rigfit.formats.safetensors import (
    INDEX_MAX_BYTES,
    INDEX_NAME,
    SafetensorsHeader,
    header_length,
    parse_header,
    parse_index,
)
from rigfit.formats.source import FIRST_CHUNK_BYTES

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_ENDPOINT", "HUB_EXTRA_MESSAGE", "open_hub"]

DEFAULT_ENDPOINT = "https://huggingface.co"
HUB_EXTRA_MESSAGE = (
    "reading from the Hugging Face Hub needs the hub extra: pip install 'rigfit[hub]'"
)
# Seconds to wait for the Hub to connect or answer one request; header reads are small, so a
# longer wait means the endpoint is unreachable, not busy.
TIMEOUT_S = 30.0
# Shard headers read at once: DeepSeek-V3 has 163 shards, read one by one that is 326 round
# trips; 8 at a time stays polite to the Hub.
PARALLEL_READS = 8
# Bytes read per streamed chunk when a server ignores Range and sends a whole file.
_STREAM_CHUNK = 64 << 10
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _hub_imports() -> SimpleNamespace:
    """huggingface_hub's pieces and httpx, imported on first use (the optional ``hub`` extra)."""
    try:
        import httpx
        from huggingface_hub import HfApi, errors, hf_hub_url
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]
    except ImportError:
        raise ReaderError(HUB_EXTRA_MESSAGE) from None
    return SimpleNamespace(
        httpx=httpx,
        HfApi=HfApi,
        errors=errors,
        hf_hub_url=hf_hub_url,
        build_hf_headers=build_hf_headers,
    )


def parse_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``org/name[:TAG][@revision]`` -> (repo id, GGUF tag, revision)."""
    rest, _, revision = ref.partition("@")
    repo_id, _, tag = rest.partition(":")
    return repo_id, tag or None, revision or None


@dataclass
class _Progress:
    """A tqdm bar on stderr, or nothing."""

    bar: Any = None
    bytes_read: int = 0

    def add_files(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total = (self.bar.total or 0) + n
            self.bar.refresh()

    def done(self, nbytes: int) -> None:
        self.bytes_read += nbytes
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"{self.bytes_read:,} bytes read")


@contextmanager
def _progress(enabled: bool, desc: str) -> Iterator[_Progress]:
    if not (enabled and sys.stderr.isatty()):
        yield _Progress()
        return
    from tqdm import tqdm  # type: ignore[import-untyped]  # a huggingface_hub dependency

    with tqdm(total=0, unit="file", desc=desc, file=sys.stderr, leave=False) as bar:
        yield _Progress(bar)


class _Hub:
    """One repository at one commit: file URLs, small GETs and range reads, with auth."""

    def __init__(self, repo_id: str, revision: str | None) -> None:
        hf = _hub_imports()
        self.hf = hf
        self.httpx = hf.httpx
        self.repo_id = repo_id
        self.endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        self.token: str | None = os.environ.get("HF_TOKEN") or None
        self.revision = revision or "main"
        headers = hf.build_hf_headers(token=self.token or False, library_name="rigfit")
        self.client: httpx.Client = hf.httpx.Client(
            headers=headers, follow_redirects=True, timeout=TIMEOUT_S
        )

    # ---- errors ---------------------------------------------------------------------------

    def _unreachable(self, exc: Exception) -> HubError:
        return HubError(f"cannot reach the Hugging Face Hub at {self.endpoint}: {exc}")

    def _denied(self, status: int) -> HubError:
        hint = (
            "HF_TOKEN does not grant access (for a gated model, accept its license on the Hub)"
            if self.token
            else "set HF_TOKEN to a token that can read it"
        )
        return HubError(f"{self.repo_id}: access denied (HTTP {status}); {hint}")

    def _check(self, r: httpx.Response, filename: str) -> None:
        if r.status_code in (401, 403):
            raise self._denied(r.status_code)
        if r.status_code == 404:
            raise HubError(f"{self.repo_id}: no {filename} at revision {self.revision}")
        if r.status_code >= 400:
            raise HubError(f"{self.repo_id}: HTTP {r.status_code} for {filename}")

    # ---- listing --------------------------------------------------------------------------

    def files(self) -> list[str]:
        """The repository's file names; pins the revision to the commit it resolved to."""
        errors = self.hf.errors
        api = self.hf.HfApi(endpoint=self.endpoint, library_name="rigfit")
        try:
            info = api.model_info(
                self.repo_id,
                revision=None if self.revision == "main" else self.revision,
                token=self.token or False,
                timeout=TIMEOUT_S,
            )
        except errors.GatedRepoError:
            raise HubError(
                f"{self.repo_id} is gated: accept its license on the Hub and set HF_TOKEN"
            ) from None
        except errors.RevisionNotFoundError:
            raise HubError(f"{self.repo_id}: revision {self.revision!r} not found") from None
        except errors.RepositoryNotFoundError:
            private = "" if self.token else "; if it is private or gated, set HF_TOKEN"
            raise HubError(
                f"repository {self.repo_id} not found on {self.endpoint}{private}"
            ) from None
        except errors.HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                raise self._denied(status) from None
            raise HubError(f"{self.repo_id}: HTTP {status} from {self.endpoint}") from None
        except self.httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if info.sha:
            self.revision = info.sha
        return [s.rfilename for s in (info.siblings or ())]

    def url(self, filename: str) -> str:
        return str(
            self.hf.hf_hub_url(
                self.repo_id, filename, revision=self.revision, endpoint=self.endpoint
            )
        )

    # ---- reads ----------------------------------------------------------------------------

    def get_small(self, filename: str, max_bytes: int) -> bytes:
        """A whole small file, refusing more than ``max_bytes``."""
        try:
            with self.client.stream("GET", self.url(filename)) as r:
                self._check(r, filename)
                data = bytearray()
                for chunk in r.iter_bytes(_STREAM_CHUNK):
                    data += chunk
                    if len(data) > max_bytes:
                        raise ReaderError(
                            f"{self.repo_id}/{filename}: larger than {max_bytes:,} bytes,"
                            " the most rigfit reads"
                        )
        except self.httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return bytes(data)

    def read_range(self, filename: str, start: int, length: int) -> tuple[bytes, int]:
        """``length`` bytes from ``start`` (fewer at the end) and the file's total size."""
        headers = {"Range": f"bytes={start}-{start + length - 1}"}
        try:
            with self.client.stream("GET", self.url(filename), headers=headers) as r:
                self._check(r, filename)
                if r.status_code == 206:
                    m = _CONTENT_RANGE.match(r.headers.get("content-range", ""))
                    if not m or m[3] == "*" or int(m[1]) != start:
                        raise HubError(
                            f"{self.repo_id}/{filename}: bad Content-Range"
                            f" {r.headers.get('content-range')!r}"
                        )
                    total, skip = int(m[3]), 0
                else:  # the server ignored Range: stream from the start, stop early
                    total, skip = int(r.headers.get("content-length", "-1")), start
                data = bytearray()
                for chunk in r.iter_bytes(_STREAM_CHUNK):
                    data += chunk
                    if len(data) >= skip + length:
                        break
        except self.httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if total < 0:
            raise HubError(f"{self.repo_id}/{filename}: the server did not say the file's size")
        return bytes(data[skip : skip + length]), total

    def safetensors_header(self, filename: str) -> SafetensorsHeader:
        """Two range requests: the 8-byte length, then exactly the JSON header."""
        name = f"{self.repo_id}/{filename}"
        first, size = self.read_range(filename, 0, 8)
        n = header_length(first, size, name)
        data, _ = self.read_range(filename, 8, n)
        if len(data) != n:
            raise ReaderError(f"{name}: truncated at byte {8 + len(data)}")
        return parse_header(data, size, name)

    def gguf_header(self, filename: str) -> GGUFHeader:
        return parse_gguf(_RemoteFile(self, filename), limit=HEADER_MAX_BYTES)


class _RemoteFile:
    """A :class:`~rigfit.formats.source.ByteSource` over HTTP range requests."""

    def __init__(self, hub: _Hub, filename: str) -> None:
        self.hub = hub
        self.filename = filename
        self._first, self._size = hub.read_range(filename, 0, FIRST_CHUNK_BYTES)
        self.bytes_read = len(self._first)

    @property
    def name(self) -> str:
        return f"{self.hub.repo_id}/{self.filename}"

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        if offset + n <= len(self._first):
            return self._first[offset : offset + n]
        data, _ = self.hub.read_range(self.filename, offset, min(n, self._size - offset))
        self.bytes_read += len(data)
        return data


def _pick_gguf(repo_id: str, names: list[str], tag: str | None) -> list[str]:
    from rigfit.formats.open import gguf_sets  # local: open imports this module lazily

    sets = gguf_sets(names)
    if tag is not None:
        sets = {k: v for k, v in sets.items() if tag.lower() in k.lower()}
    if len(sets) == 1:
        return next(iter(sets.values()))
    if not sets:
        what = f"no .gguf file matching {tag!r}" if tag else "no config.json and no .gguf file"
        raise ReaderError(f"{repo_id}: {what}")
    listed = ", ".join(list(sets)[:6]) + (", ..." if len(sets) > 6 else "")
    raise ReaderError(
        f"{repo_id} holds {len(sets)} GGUF models ({listed}); pick one with {repo_id}:TAG,"
        " e.g. :Q4_K_M"
    )


def open_hub(ref: str, *, revision: str | None = None, progress: bool = False) -> FileModel:
    """Read ``org/name`` (``:TAG`` picks a GGUF quant, ``@rev`` a revision) from the Hub."""
    repo_id, tag, ref_revision = parse_ref(ref)
    hub = _Hub(repo_id, revision or ref_revision)
    try:
        with _progress(progress, repo_id) as bar:
            names = hub.files()
            source = f"{hub.endpoint}/{repo_id}@{hub.revision}"
            has_weights = INDEX_NAME in names or any(
                n.endswith(".safetensors") and "/" not in n for n in names
            )
            has_gguf = any(n.lower().endswith(".gguf") for n in names)
            if tag is None and "config.json" in names and (has_weights or not has_gguf):
                return _safetensors(hub, names, source, bar)
            shards = _pick_gguf(repo_id, names, tag)
            bar.add_files(len(shards))
            headers = []
            for name in shards:
                headers.append(hub.gguf_header(name))
                bar.done(0)
            display = repo_id + (f":{tag}" if tag else "")
            return gguf_model(display, source, ModelKind.HUB, headers)
    finally:
        hub.client.close()


def _safetensors(hub: _Hub, names: list[str], source: str, bar: _Progress) -> FileModel:
    repo_id = hub.repo_id
    bar.add_files(1)
    raw = hub.get_small("config.json", CONFIG_MAX_BYTES)
    bar.done(len(raw))
    parsed = parse_config(parse_json(raw, f"{repo_id}/config.json"), f"{repo_id}/config.json")
    index = None
    if INDEX_NAME in names:
        bar.add_files(1)
        data = hub.get_small(INDEX_NAME, INDEX_MAX_BYTES)
        bar.done(len(data))
        index = parse_index(parse_json(data, f"{repo_id}/{INDEX_NAME}"), f"{repo_id}/{INDEX_NAME}")
        missing = [s for s in index.shards if s not in names]
        if missing:
            raise ReaderError(f"{repo_id}/{INDEX_NAME} names shard {missing[0]}, not in the repo")
        shards = list(index.shards)
    else:
        shards = sorted(n for n in names if n.endswith(".safetensors") and "/" not in n)
    if not shards:
        note = "no safetensors in the repository: only config.json was read"
        model = config_model(repo_id, source, ModelKind.HUB, parsed)
        return replace(model, notes=(*model.notes, note))
    bar.add_files(len(shards))
    headers: list[SafetensorsHeader] = []
    with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
        for header in pool.map(hub.safetensors_header, shards):
            headers.append(header)
            bar.done(8 + header.header_size)
    return safetensors_model(repo_id, source, ModelKind.HUB, parsed, headers, index)
