"""The study file (TOML) → a validated, typed `StudySpec`.

model.py    the pydantic sections (field types in fields.py)
checks.py   pure cross-field checks, against the `pruning` plug-ins too
derived.py  facts of a valid spec: grids, rounds, targets, schedules with a searched max LR
loading.py  TOML, presets, --set overrides, validate (model, then checks), error format
"""

from studies.errors import SpecError
from studies.spec.fields import OBJECTIVES
from studies.spec.loading import list_presets, load_spec, resolve, spec_hash, validate
from studies.spec.model import StudySpec

__all__ = [
    "OBJECTIVES",
    "SpecError",
    "StudySpec",
    "list_presets",
    "load_spec",
    "resolve",
    "spec_hash",
    "validate",
]
