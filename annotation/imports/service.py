"""Atomic imports: rows are validated and inserted in chunks inside one transaction, so
memory stays bounded, and any bad line rolls everything back with its line number."""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from ..models import Judgment, Prompt, PromptBatch, PromptSource, Response, ResponsePair
from .errors import ImportFailed, RowError, RowInvalid
from .readers import csv_records, jsonl_records, open_binary
from .records import Comparison, PromptRow, parse_comparison, parse_prompt, prompt_instance

CHUNK = 2000
MAX_ERRORS = 20
ALLOWED_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".csv", ".csv.gz")


@dataclass(frozen=True)
class ImportResult:
    batch_id: int
    created: int


def file_format(filename: str) -> str:
    """'csv' or 'jsonl' from the file name; anything else is refused."""
    name = filename.lower()
    if not name.endswith(ALLOWED_SUFFIXES):
        raise ImportFailed(
            [
                RowError(
                    0, "file", f"must be one of {', '.join(ALLOWED_SUFFIXES)} (got {filename!r})"
                )
            ]
        )
    return "csv" if ".csv" in name else "jsonl"


def _records(stream: IO[bytes], fmt: str) -> Iterator[tuple[int, dict[str, Any] | RowInvalid]]:
    stream = open_binary(stream)
    return csv_records(stream) if fmt == "csv" else jsonl_records(stream)


class _ChunkedImport:
    """Collects valid rows, flushes them in chunks, and gathers errors (first MAX_ERRORS)."""

    def __init__(self, flush: Callable[[list[tuple[int, Any]]], None]) -> None:
        self.flush = flush
        self.pending: list[tuple[int, Any]] = []
        self.errors: list[RowError] = []
        self.created = 0
        self.seen_ids: set[str] = set()

    def add(self, line: int, row: Any) -> None:
        external_id = row.external_id if isinstance(row, PromptRow) else row.id
        if external_id is not None:
            if external_id in self.seen_ids:
                self.fail(line, RowInvalid("id", f"duplicate id {external_id!r} in this file"))
                return
            self.seen_ids.add(external_id)
        if self.errors:
            return  # keep validating to report more lines, but stop writing
        self.pending.append((line, row))
        if len(self.pending) >= CHUNK:
            self.drain()

    def fail(self, line: int, error: RowInvalid) -> None:
        self.errors.append(RowError(line, error.field, error.message))

    @property
    def full(self) -> bool:
        return len(self.errors) >= MAX_ERRORS

    def drain(self) -> None:
        if self.pending and not self.errors:
            self.flush(self.pending)
            self.created += len(self.pending)
        self.pending = []


def _run(stream: IO[bytes], filename: str, parse: Callable[[dict, int], Any], flush) -> int:
    fmt = file_format(filename)
    job = _ChunkedImport(flush)
    with transaction.atomic():
        for line, record in _records(stream, fmt):
            try:
                if isinstance(record, RowInvalid):
                    raise record
                job.add(line, parse(record, fmt == "csv"))
            except RowInvalid as error:
                job.fail(line, error)
            if job.full:
                break
        job.drain()
        if job.errors:
            transaction.set_rollback(True)
            raise ImportFailed(job.errors)
        if job.created == 0:
            transaction.set_rollback(True)
            raise ImportFailed([RowError(0, "", "the file holds no records")])
    return job.created


def prompts_import(
    *, batch: PromptBatch, stream: IO[bytes], filename: str, user: AbstractBaseUser | None = None
) -> ImportResult:
    """Import prompts (CSV or JSONL, single-turn text or chat messages) into a batch."""
    max_chars = settings.MARGIN["MAX_TEXT_CHARS"]

    def parse(record: dict, from_csv: bool) -> PromptRow:
        return parse_prompt(record, max_chars, from_csv=from_csv)

    def flush(rows: list[tuple[int, PromptRow]]) -> None:
        _refuse_existing_ids(batch, rows)
        _insert_prompts(batch, [row for _, row in rows], user)

    return ImportResult(batch.pk, _run(stream, filename, parse, flush))


PROMPT_COLUMNS = (
    "batch_id",
    "external_id",
    "messages",
    "source",
    "risk_category",
    "attack_vector",
    "metadata",
    "created_by_id",
    "created_at",
)


def _insert_prompts(batch: PromptBatch, rows: list[PromptRow], user) -> None:
    """PostgreSQL gets COPY (several times faster than INSERT for a weekly batch of
    250,000 prompts); other databases get bulk_create."""
    if connection.vendor == "postgresql":
        now, user_id = timezone.now(), getattr(user, "pk", None)
        sql = f"COPY {Prompt._meta.db_table} ({', '.join(PROMPT_COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(
                    (
                        batch.pk,
                        row.external_id,
                        json.dumps(row.messages, ensure_ascii=False),
                        PromptSource.IMPORTED,
                        row.risk_category,
                        row.attack_vector,
                        json.dumps(row.metadata, ensure_ascii=False),
                        user_id,
                        now,
                    )
                )
        return
    Prompt.objects.bulk_create(
        [prompt_instance(batch, row, user) for row in rows], batch_size=CHUNK
    )


def _refuse_existing_ids(batch: PromptBatch, rows: list[tuple[int, Any]]) -> None:
    ids = {row.external_id: line for line, row in rows if row.external_id is not None}
    if not ids:
        return
    taken = Prompt.objects.filter(batch=batch, external_id__in=list(ids)).values_list(
        "external_id", flat=True
    )
    errors = [RowError(ids[i], "id", f"id {i!r} already exists in this batch") for i in taken]
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e.line))


def comparisons_import(
    *, batch: PromptBatch, stream: IO[bytes], filename: str, user: AbstractBaseUser | None = None
) -> ImportResult:
    """Import ungraded comparisons (any form mlcore.comparisons reads) as judged pairs: each
    becomes a shared context, two responses (A = chosen) and an imported judgment."""
    max_chars = settings.MARGIN["MAX_TEXT_CHARS"]

    def parse(record: dict, _from_csv: bool) -> Comparison:
        return parse_comparison(record, max_chars=max_chars)

    def flush(rows: list[tuple[int, Comparison]]) -> None:
        _insert_comparisons(batch, [row for _, row in rows])

    return ImportResult(batch.pk, _run(stream, filename, parse, flush))


def _insert_comparisons(batch: PromptBatch, rows: list[Comparison]) -> None:
    now = timezone.now()
    responses = Response.objects.bulk_create(
        [
            Response(text=text, variant_label="imported", finish_reason="")
            for row in rows
            for text in (row.chosen, row.rejected)
        ],
        batch_size=CHUNK,
    )
    pairs = ResponsePair.objects.bulk_create(
        [
            ResponsePair(
                batch=batch,
                context=row.prompt,
                turn=sum(1 for m in row.prompt if m["role"] == "user"),
                response_a=responses[2 * i],
                response_b=responses[2 * i + 1],
                origin=ResponsePair.Origin.IMPORTED,
                status=ResponsePair.Status.DONE,
                overlap=1,
                generated_at=now,
            )
            for i, row in enumerate(rows)
        ],
        batch_size=CHUNK,
    )
    Judgment.objects.bulk_create(
        [Judgment(pair=pair, origin=Judgment.Origin.IMPORTED, chosen="a") for pair in pairs],
        batch_size=CHUNK,
    )
