"""Reading JSON-lines files one way everywhere: gzip or plain, UTF-8 with or without a BOM.

    for number, record in read_records("comparisons.jsonl", parse):   # FileError on a bad line
        ...

A line that is not UTF-8, holds a raw NUL byte, is not JSON or is not a JSON object is refused
with its line number; blank lines are skipped. A file saved as UTF-16 or UTF-32 is refused with
that said (save it as UTF-8).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from .dialogue import RowInvalid

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = {b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16", b"\x00\x00\xfe\xff": "UTF-32"}
T = TypeVar("T")


class FileError(ValueError):
    """A bad line of a data file; prints as ``file:line: field 'x': message``."""

    def __init__(self, path: str | Path, line: int, field: str, message: str) -> None:
        self.path, self.line, self.field, self.message = str(path), line, field, message
        where = f"field '{field}': " if field else ""
        super().__init__(f"{self.path}:{line}: {where}{message}")


def open_binary(stream: IO[bytes]) -> IO[bytes]:
    """Transparently gunzip a seekable stream that starts with the gzip magic number."""
    head = stream.read(2)
    stream.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def decoded_lines(stream: IO[bytes]) -> Iterator[tuple[int, str | RowInvalid]]:
    """Yield (line number, text) or (line number, why the line cannot be read)."""
    for number, raw in _raw_lines(stream):
        if isinstance(raw, RowInvalid):
            yield number, raw
            return
        if number == 1:
            if raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM) :]
            for bom, name in _WIDE_BOMS.items():
                if raw.startswith(bom):
                    yield number, RowInvalid("", f"the file is {name}; save it as UTF-8")
                    return
        if b"\x00" in raw:
            yield number, RowInvalid("", "contains a NUL byte")
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield (
                number,
                RowInvalid("", f"is not UTF-8 (byte {exc.start + 1}); save the file as UTF-8"),
            )


def _raw_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | RowInvalid]]:
    number = 0
    try:
        for number, raw in enumerate(stream, start=1):  # noqa: B007 (read after the loop)
            yield number, raw
    except (OSError, EOFError) as exc:  # damaged or truncated gzip data
        yield number + 1, RowInvalid("", f"the compressed data is damaged ({exc})")


def json_records(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | RowInvalid]]:
    """Yield (line number, JSON object) or (line number, why it is not one); skip blank lines."""
    for number, line in decoded_lines(stream):
        if isinstance(line, RowInvalid):
            yield number, line
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowInvalid("", f"bad JSON ({exc.msg} at column {exc.colno})")
            continue
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number, deep nesting
            yield number, RowInvalid("", f"bad JSON ({type(exc).__name__}: {exc})"[:200])
            continue
        if not isinstance(record, dict):
            yield number, RowInvalid("", "each line must be a JSON object")
            continue
        yield number, record


def read_records(
    path: str | Path, parse: Callable[[dict[str, Any]], T] = lambda record: record
) -> Iterator[tuple[int, T]]:
    """(line number, parse(record)) for each line of a JSONL(.gz) file; the first bad line
    raises FileError naming the file, the line and the field."""
    with open(path, "rb") as raw:
        for number, record in json_records(open_binary(raw)):
            try:
                if isinstance(record, RowInvalid):
                    raise record
                yield number, parse(record)
            except RowInvalid as exc:
                raise FileError(path, number, exc.field, exc.message) from None
