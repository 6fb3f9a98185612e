"""A spec as the TOML a user would write: logged with the study, so the MLflow UI shows the exact
study file that ran (tomllib only reads TOML; this writes the subset a spec uses)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from studies.spec.model import StudySpec


def spec_to_toml(spec: StudySpec) -> str:
    """Top-level scalars first, then one [table] per section (nested tables dotted)."""
    return to_toml(spec.model_dump(mode="json"))


def to_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping)]
    lines = [f"{_key(k)} = {_value(v)}" for k, v in scalars if v is not None]
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, table in tables:
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        body = to_toml(table, name)
        if any(not isinstance(v, Mapping) for v in table.values()) or not table:
            out += f"\n[{name}]\n"
        out += body
    return out


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum()
    return key if bare else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else "inf")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # TOML basic strings escape like JSON
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot write {type(value).__name__} as TOML")
