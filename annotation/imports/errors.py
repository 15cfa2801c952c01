from dataclasses import dataclass

from config.errors import ApplicationError
from mlcore.dialogue import RowInvalid

__all__ = ["ImportFailed", "RowError", "RowInvalid"]


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return (
            f"{where}, field '{self.field}': {self.message}"
            if self.field
            else f"{where}: {self.message}"
        )


class ImportFailed(ApplicationError):
    """Nothing was imported. `errors` names each bad line and field (the first ones found)."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(self.summary())

    def extra(self) -> dict:
        return {
            "errors": [
                {"line": e.line, "field": e.field, "message": e.message} for e in self.errors
            ]
        }

    def summary(self) -> str:
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        return f"Nothing was imported: {shown}{more}"
