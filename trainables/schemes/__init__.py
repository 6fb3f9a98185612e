"""Storage URL schemes: one registry (`registry`), the built-in schemes declared once
(`declared`), their preflight probes (`probes`). Everything that dispatches on a storage URL
asks here; `studies.storage` re-exports what the studies layer uses.
"""

from trainables.schemes import declared
from trainables.schemes.registry import (
    Scheme,
    StoreUnusable,
    Use,
    absolute,
    file_forms,
    forms,
    is_mlflow_server,
    is_remote,
    is_sql,
    local_file,
    named,
    open_filesystem,
    redact,
    register,
    retryable_errors,
    scheme_for,
    schemes,
    unregister,
)

__all__ = [
    "Scheme",
    "StoreUnusable",
    "Use",
    "absolute",
    "declared",
    "file_forms",
    "forms",
    "is_mlflow_server",
    "is_remote",
    "is_sql",
    "local_file",
    "named",
    "open_filesystem",
    "redact",
    "register",
    "retryable_errors",
    "scheme_for",
    "schemes",
    "unregister",
]
