from .filters import ExportFilters
from .service import (
    comparisons_count,
    comparisons_export_lines,
    export_job_create,
    export_job_run,
    export_partials_remove,
    export_write_file,
)

__all__ = [
    "ExportFilters",
    "comparisons_count",
    "comparisons_export_lines",
    "export_job_create",
    "export_job_run",
    "export_partials_remove",
    "export_write_file",
]
