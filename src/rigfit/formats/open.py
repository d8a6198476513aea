"""Decide what a reference names (a file, a folder, a Hub id) and read it."""

from __future__ import annotations

import re
from pathlib import Path

from rigfit.formats.build import config_model, gguf_model, safetensors_model
from rigfit.formats.config_json import load_config
from rigfit.formats.errors import ReaderError
from rigfit.formats.gguf.header import read_gguf
from rigfit.formats.model import FileModel, ModelKind
from rigfit.formats.safetensors import INDEX_NAME, read_header, read_index

__all__ = ["HF_ID", "open_model", "open_path"]

# A Hugging Face repo id ("org/name", letters, digits, "-", "_", "."), optionally with a GGUF
# quant tag (":Q4_K_M") or a revision ("@v1.0"), as llama.cpp's -hf and the hub CLI write them.
HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(?::[\w.-]+)?(?:@[\w./-]+)?$")
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")
_SUPPORTED = (
    "rigfit reads config.json, *.gguf, *.safetensors, a folder holding them,"
    " or a Hugging Face id org/name"
)


def _is_projector(name: str) -> bool:
    # llama.cpp multimodal projectors (mmproj-*.gguf) sit beside the language model
    return "mmproj" in name.lower()


def gguf_sets(names: list[str]) -> dict[str, list[str]]:
    """GGUF files grouped into models: a split file's shards together, in order."""
    sets: dict[str, list[str]] = {}
    for name in sorted(names):
        if not name.lower().endswith(".gguf") or _is_projector(name):
            continue
        m = _SPLIT.match(name)
        key = f"{m['stem']}-of-{m['count']}" if m else name
        sets.setdefault(key, []).append(name)
    return sets


def _open_gguf(paths: list[Path], id: str) -> FileModel:
    headers = [read_gguf(p) for p in paths]
    return gguf_model(id, str(paths[0]), ModelKind.GGUF, headers)


def _gguf_shards(path: Path) -> list[Path]:
    m = _SPLIT.match(path.name)
    if not m:
        return [path]
    count = int(m["count"])
    shards = [
        path.with_name(f"{m['stem']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)
    ]
    missing = [p.name for p in shards if not p.is_file()]
    if missing:
        raise ReaderError(
            f"{path}: a split GGUF of {count} files; missing {', '.join(missing[:3])}"
            + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        )
    return shards


def _open_safetensors(folder: Path, files: list[Path], id: str) -> FileModel:
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise ReaderError(
            f"{files[0]}: no config.json beside it; rigfit needs the config to know the"
            " architecture"
        )
    parsed = load_config(cfg)
    index = None
    if (folder / INDEX_NAME).is_file():
        index = read_index(folder / INDEX_NAME)
        missing = [s for s in index.shards if not (folder / s).is_file()]
        if missing:
            raise ReaderError(f"{folder / INDEX_NAME} names shard {missing[0]}, which is missing")
        files = [folder / s for s in index.shards]
    headers = [read_header(f) for f in files]
    return safetensors_model(id, str(folder), ModelKind.SAFETENSORS, parsed, headers, index)


def _open_folder(folder: Path) -> FileModel:
    id = folder.resolve().name
    cfg = folder / "config.json"
    shards = sorted(folder.glob("*.safetensors"))
    if cfg.is_file() and (shards or (folder / INDEX_NAME).is_file()):
        return _open_safetensors(folder, shards, id)
    sets = gguf_sets([p.name for p in folder.glob("*.gguf")])
    if len(sets) == 1:
        names = next(iter(sets.values()))
        return _open_gguf(_gguf_shards(folder / names[0]), id)
    if len(sets) > 1:
        raise ReaderError(
            f"{folder} holds {len(sets)} GGUF models ({', '.join(list(sets)[:4])}"
            f"{', ...' if len(sets) > 4 else ''}); name the file to read"
        )
    if cfg.is_file():
        parsed = load_config(cfg)
        return config_model(id, str(cfg), ModelKind.CONFIG, parsed)
    if shards:
        raise ReaderError(
            f"{folder} holds safetensors but no config.json; rigfit needs the config to know"
            " the architecture"
        )
    raise ReaderError(f"{folder} holds no config.json, *.safetensors or *.gguf; {_SUPPORTED}")


def open_path(path: Path) -> FileModel:
    """Read an existing local file or folder."""
    if path.is_dir():
        return _open_folder(path)
    name = path.name.lower()
    if name.endswith(".gguf"):
        return _open_gguf(_gguf_shards(path), path.name)
    if name.endswith(".safetensors"):
        folder = path.parent
        if (folder / INDEX_NAME).is_file():
            return _open_safetensors(folder, [path], folder.resolve().name)
        return _open_safetensors(folder, [path], path.name)
    if name == INDEX_NAME:
        return _open_safetensors(path.parent, [], path.parent.resolve().name)
    if name.endswith(".json"):
        parsed = load_config(path)
        id = path.parent.resolve().name if name == "config.json" else path.name
        return config_model(id, str(path), ModelKind.CONFIG, parsed)
    kind = f"a {path.suffix} file" if path.suffix else "a file without an extension"
    raise ReaderError(f"not a model file: {path} is {kind}; {_SUPPORTED}")


def open_model(ref: str, *, progress: bool = False, revision: str | None = None) -> FileModel:
    """Read a model from a path (config.json, .gguf, .safetensors, a folder) or a Hub id.

    A Hub id is ``org/name``, optionally ``org/name:TAG`` to pick a GGUF quant in a repository
    of several and ``org/name@revision``. ``progress`` shows a bar on a terminal's stderr while
    reading from the Hub. Nothing but config files and headers is ever read.
    """
    path = Path(ref).expanduser()
    if path.exists():
        return open_path(path)
    if HF_ID.match(ref) and not ref.startswith((".", "/")):
        from rigfit.formats.hub import open_hub  # imports huggingface_hub only when needed

        return open_hub(ref, revision=revision, progress=progress)
    raise ReaderError(f"{ref}: no such file or folder, and not a Hugging Face id; {_SUPPORTED}")
