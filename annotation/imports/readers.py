"""Line-numbered, strictly decoded readers for uploaded files (JSONL and CSV, optionally gzip)."""

import csv
import gzip
import json
from collections.abc import Iterator
from typing import IO, Any

from .errors import RowInvalid

GZIP_MAGIC = b"\x1f\x8b"


def open_binary(stream: IO[bytes]) -> IO[bytes]:
    """Transparently gunzip a stream that starts with the gzip magic number."""
    head = stream.read(2)
    stream.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def decoded_lines(stream: IO[bytes]) -> Iterator[tuple[int, str | RowInvalid]]:
    """Yield (line number, text) or (line number, the reason the line cannot be read)."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
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


def jsonl_records(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | RowInvalid]]:
    for number, text in decoded_lines(stream):
        if isinstance(text, RowInvalid):
            yield number, text
            continue
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, RowInvalid("", f"bad JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(record, dict):
            yield number, RowInvalid("", "each line must be a JSON object")
            continue
        yield number, record


def csv_records(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | RowInvalid]]:
    lines = decoded_lines(stream)
    failure: list[tuple[int, RowInvalid]] = []

    def texts() -> Iterator[str]:
        for number, text in lines:
            if isinstance(text, RowInvalid):
                failure.append((number, text))
                return
            yield text

    reader = csv.reader(texts())
    header: list[str] | None = None
    try:
        for row in reader:
            if header is None:
                header = [name.strip() for name in row]
                if len(set(header)) != len(header):
                    yield 1, RowInvalid("", "the header repeats a column name")
                    return
                continue
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield (
                    reader.line_num,
                    RowInvalid("", f"has {len(row)} columns where the header has {len(header)}"),
                )
                continue
            yield reader.line_num, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        yield reader.line_num, RowInvalid("", f"bad CSV ({exc})")
    if failure:
        yield failure[0]
