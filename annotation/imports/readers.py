"""Line-numbered, strictly decoded readers for uploaded files (JSONL and CSV, optionally gzip).
JSONL, gzip, BOM and encodings are read by mlcore.jsonl, as the ML cores read them."""

import csv
from collections.abc import Iterator
from typing import IO, Any

from mlcore.dialogue import RowInvalid
from mlcore.jsonl import decoded_lines, open_binary
from mlcore.jsonl import json_records as jsonl_records

__all__ = ["csv_records", "jsonl_records", "open_binary"]


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
