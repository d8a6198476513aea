"""Bounded random and sequential access to the first bytes of a file, local or remote.

Readers never load a whole model file: they ask a :class:`ByteSource` for byte ranges, and the
sequential :class:`Cursor` refuses to go past a hard limit, so a hostile length field costs an
error message, not memory or bandwidth.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from rigfit.formats.errors import ReaderError

__all__ = ["ByteSource", "Cursor", "FileSource"]

# The first refill of a cursor: large enough for a whole small header in one read (or one HTTP
# range request), small enough to be cheap when only a few bytes turn out to be needed.
FIRST_CHUNK_BYTES = 1 << 20
_U64 = struct.Struct("<Q")


class ByteSource(Protocol):
    """Random access to a file of known size, by byte range."""

    @property
    def name(self) -> str:
        """How messages name the file (a path or a URL)."""
        ...

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        ...

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer only at the end of the file)."""
        ...


class FileSource:
    """A local file opened for reading; counts the bytes it returns (``bytes_read``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise ReaderError(f"cannot open {self.path}: {exc.strerror or exc}") from None
        self._size = os.fstat(self._file.fileno()).st_size
        self.bytes_read = 0

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        self._file.seek(offset)
        data = self._file.read(max(0, min(n, self._size - offset)))
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Cursor:
    """Reads a :class:`ByteSource` front to back, in growing chunks, never past ``limit`` bytes.

    Every read checks the remaining bytes first: past the end of the file it raises
    ``truncated at byte N``; past ``limit`` it raises ``what`` exceeds the limit.
    """

    def __init__(self, source: ByteSource, *, limit: int, what: str = "header") -> None:
        self.source = source
        self.limit = min(limit, source.size)
        self._hard_limit = limit
        self.what = what
        self.pos = 0
        self._buf = b""
        self._buf_start = 0
        self._chunk = FIRST_CHUNK_BYTES

    @property
    def remaining(self) -> int:
        """Bytes of the file after the current position."""
        return self.source.size - self.pos

    def _fail_past(self, end: int) -> ReaderError:
        if end > self.source.size:
            return ReaderError(
                f"{self.source.name}: truncated at byte {self.source.size}"
                f" (the {self.what} needs at least {end} bytes)"
            )
        return ReaderError(
            f"{self.source.name}: the {self.what} is larger than {self._hard_limit:,} bytes,"
            " the most rigfit reads"
        )

    def _ensure(self, n: int) -> int:
        """Make ``n`` bytes from ``pos`` available in the buffer; return their buffer offset."""
        end = self.pos + n
        if end > self.limit:
            raise self._fail_past(end)
        buf_end = self._buf_start + len(self._buf)
        if self._buf_start <= self.pos and end <= buf_end:
            return self.pos - self._buf_start
        if self._buf_start <= self.pos < buf_end:
            keep, start = self._buf[self.pos - self._buf_start :], buf_end
        else:
            keep, start = b"", self.pos
        want = min(max(end - start, self._chunk), self.limit - start)
        data = self.source.read_at(start, want)
        if len(data) < end - start:
            raise self._fail_past(end)
        self._buf = keep + data
        self._buf_start = self.pos
        self._chunk = min(self._chunk * 2, self._hard_limit)
        return 0

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes."""
        off = self._ensure(n)
        self.pos += n
        return self._buf[off : off + n]

    def unpack(self, st: struct.Struct) -> tuple[int | float | bool, ...]:
        """The next ``st.size`` bytes unpacked."""
        off = self._ensure(st.size)
        self.pos += st.size
        return st.unpack_from(self._buf, off)

    def skip(self, n: int) -> None:
        """Move past ``n`` bytes without keeping them (they are still read, in chunks)."""
        if self.pos + n > self.limit:
            raise self._fail_past(self.pos + n)
        buf_end = self._buf_start + len(self._buf)
        if self.pos + n <= buf_end:
            self.pos += n
            return
        # beyond the buffer: only the end position must exist; remote sources read nothing
        self.pos += n
        self._buf = b""
        self._buf_start = self.pos

    def skip_strings(self, count: int, max_len: int) -> None:
        """Move past ``count`` length-prefixed strings (u64 length + bytes), quickly.

        Walks the buffer in a tight loop and refills it in chunks: a 150,000-token vocabulary
        is skipped without building a single Python string.
        """
        done = 0
        while done < count:
            off = self._ensure(8)
            buf, end = self._buf, len(self._buf)
            unpack = _U64.unpack_from
            start_off = off
            while done < count and off + 8 <= end:
                (n,) = unpack(buf, off)
                if n > max_len:
                    self.pos += off - start_off
                    raise ReaderError(
                        f"{self.source.name}: string of {n:,} bytes at byte {self.pos}"
                        f" exceeds the {max_len:,} bytes a {self.what} string may have"
                    )
                if off + 8 + n > end:
                    break
                off += 8 + n
                done += 1
            self.pos += off - start_off
            if done < count:
                # the next string straddles the buffer end: read its length, then skip it
                (n,) = self.unpack(_U64)
                if int(n) > max_len:
                    raise ReaderError(
                        f"{self.source.name}: string of {int(n):,} bytes at byte {self.pos - 8}"
                        f" exceeds the {max_len:,} bytes a {self.what} string may have"
                    )
                if int(n) > self.remaining:
                    raise ReaderError(
                        f"{self.source.name}: truncated at byte {self.source.size}"
                        f" (a string of {int(n):,} bytes starts at byte {self.pos})"
                    )
                self.skip(int(n))
                done += 1
