from .errors import ImportFailed, RowError
from .service import ImportResult, comparisons_import, prompts_import

__all__ = ["ImportFailed", "ImportResult", "RowError", "comparisons_import", "prompts_import"]
