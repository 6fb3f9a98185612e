"""Loading a study: TOML file or preset → overrides (`--set`) → a validated `StudySpec`.

    spec = load_spec("quickstart", {"search.trials": 4})      # a preset or a path
    spec = resolve(spec, workdir="/tmp/runs")                  # "" defaults → absolute paths

`validate` is the one way in: pydantic checks every field (unknown fields are errors), then
studies.spec.checks checks fields against each other and the `pruning` plug-ins, then the
params other fields determine are filled in (LR rewinding replays the pretraining run). Any
problem becomes ONE line, `<file>: <field.path>: <what is wrong>; valid: <choices>`, raised as
`SpecError` (a UsageError, so the CLI exits 2).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tomllib
import typing
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pruning.schedules import SCHEDULES
from studies import storage
from studies.errors import SpecError
from studies.spec import checks, derived
from studies.spec.fields import PT_ERROR, registry_names
from studies.spec.model import StudySpec

# --- loading ---------------------------------------------------------------------------------


def load_spec(source: str, overrides: dict[str, object] | None = None) -> StudySpec:
    """Load a study from a .toml path or a preset name; `overrides` are dotted paths."""
    text, label = _read_source(str(source))
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        where = f"{label}:{_toml_position(str(err))}"
        raise SpecError(f"{where} invalid TOML: {_toml_message(err)}") from None
    for key, value in (overrides or {}).items():
        _override(raw, key, value, label)
    return validate(raw, label)


def validate(raw: dict[str, Any], label: str = "study") -> StudySpec:
    """Field types, then cross-field checks, then derived params; one-line SpecErrors."""
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(f"{label}: {format_error(err)}") from None
    try:
        checks.check(spec)
    except checks.CheckError as err:
        raise SpecError(f"{label}: {err}") from None
    return _complete(spec)


def _complete(spec: StudySpec) -> StudySpec:
    """Fill in the params that other fields determine, so the spec a trial gets says them: what a
    schedule that replays the pretraining run (LRW) replays."""
    replaying = [n for n in spec.retrain.schedules if SCHEDULES.get(n).replays_pretraining]
    if not replaying:
        return spec
    params = dict(spec.retrain.schedule_params)
    for name in replaying:
        params[name] = {**params.get(name, {}), **derived.lrw_params(spec)}
    retrain = spec.retrain.model_copy(update={"schedule_params": params})
    return spec.model_copy(update={"retrain": retrain})


def resolve(
    spec: StudySpec,
    workdir: str | None = None,
    tracking_uri: str | None = None,
    storage_url: str | None = None,
    address: str | None = None,
) -> StudySpec:
    """A copy with every "" default filled in (absolute paths, so Ray workers whose CWD
    differs from the driver's find the same files); arguments override the file."""
    data = spec.model_dump(mode="json")
    wd = storage.choose_workdir(workdir, spec.storage.workdir)
    store, track = data["storage"], data["tracking"]
    store["workdir"] = str(wd)
    optuna_url = storage.absolute_url(storage_url or store["optuna"])
    store["optuna"] = optuna_url or storage.default_optuna_url(wd)
    store["ray"] = storage.absolute_path(store["ray"]) or storage.default_ray_storage(wd)
    store["shared"] = storage.absolute_path(store["shared"]) or str(wd)  # "" = the workdir
    tracking = storage.absolute_url(tracking_uri or track["uri"])
    track["uri"] = tracking or storage.default_tracking_uri(wd)
    track["experiment"] = track["experiment"] or spec.name
    if address is not None:
        data["ray"]["address"] = address
    return validate(data, f"study {spec.name!r}")


def _read_source(source: str) -> tuple[str, str]:
    path = Path(source).expanduser()
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), source
        except UnicodeDecodeError as err:
            raise SpecError(
                f"{source}: not a UTF-8 text file (byte {err.start}); valid: a TOML study file"
            ) from None
        except OSError as err:
            raise SpecError(f"{source}: cannot read it ({err.strerror or err})") from None
    presets = [name for name, _ in list_presets()]
    if source in presets:
        preset = resources.files("studies.presets") / f"{source}.toml"
        return preset.read_text(encoding="utf-8"), f"{source}.toml"
    what = (
        "no such study file"
        if source.endswith(".toml") or os.sep in source
        else ("no such study file or preset")
    )
    raise SpecError(
        f"{source}: {what}; valid: a path to a .toml file, or a preset: "
        f"{', '.join(presets) or 'none'}"
    )


def _toml_position(message: str) -> str:
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    return f"{found[1]}:{found[2]}:" if found else ""


def _toml_message(err: Exception) -> str:
    return re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(err)).strip()


def list_presets() -> list[tuple[str, str]]:
    """(name, description) of every study file shipped in studies/presets/."""
    out = []
    for entry in resources.files("studies.presets").iterdir():
        if entry.name.endswith(".toml"):
            try:
                description = tomllib.loads(entry.read_text(encoding="utf-8")).get("description")
            except tomllib.TOMLDecodeError:
                description = "(invalid TOML)"
            out.append((entry.name.removesuffix(".toml"), str(description or "")))
    return sorted(out)


def _override(raw: dict[str, Any], dotted: str, value: object, label: str) -> None:
    """Set `raw[a][b][c] = value` for "a.b.c", refusing paths the schema does not have."""
    parts = dotted.split(".")
    model: Any = StudySpec
    node = raw
    for i, part in enumerate(parts):
        where = ".".join(parts[: i + 1])
        if model is not None:
            fields = model.model_fields
            if part not in fields:
                raise SpecError(f"{label}: --set {dotted}: {_unknown_field(part, list(fields))}")
            model = _section_of(fields[part].annotation)
        if i == len(parts) - 1:
            node[part] = _unquote(value)
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SpecError(f"{label}: --set {dotted}: {where} is a value, not a table")
        node = child


def _unquote(value: object) -> object:
    # parse_scalar keeps quotes inside lists: --set 'retrain.schedules=["ft","clr"]'.
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            return value[1:-1]
        if value.startswith("{") and value.endswith("}"):
            try:
                return tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                return value
    return value


# --- error formatting ------------------------------------------------------------------------


def format_error(err: ValidationError) -> str:
    """The first error of a ValidationError as `path: message; valid: choices`."""
    errors = err.errors(include_url=False)
    # A misspelt field also shows up as the right one missing: name the cause, the typo.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    ctx = first.get("ctx") or {}
    loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith("<"))]
    path = ctx.get("_pt_path") or _dotted(loc)
    message, valid = _describe(first, loc)
    line = f"{path}: {message}" if path else message
    return f"{line}; valid: {valid}" if valid else line


def _dotted(loc: list[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: Any, loc: list[str | int]) -> tuple[str, str]:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == PT_ERROR:
        return error["msg"], ctx.get("_pt_valid", "")
    if kind == "extra_forbidden":
        section = _section_at(loc[:-1])
        return _unknown_field(str(loc[-1]), list(section.model_fields) if section else []), ""
    if kind == "missing":
        return _missing(loc)
    if kind == "literal_error":
        return f"unknown value {value!r}", ", ".join(re.findall(r"'([^']*)'", ctx["expected"]))
    if kind in _TYPE_NAMES and loc[-1:] in (["ratio"], ["max_lr"]):
        return f"{value!r} is neither a list nor a range", "[a, b, ...] or {low = a, high = b}"
    expected = _TYPE_NAMES.get(kind)
    if expected:
        return f"expected {expected}, got {value!r}", ""
    return error["msg"].removeprefix("Value error, "), ""


_TYPE_NAMES = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list [...]",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _unknown_field(name: str, fields: list[str]) -> str:
    hint = difflib.get_close_matches(name, fields, n=1)
    near = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"unknown field {name!r}{near}; valid: {', '.join(fields) or 'none'}"


def _missing(loc: list[str | int]) -> tuple[str, str]:
    field = StudySpec.model_fields.get(str(loc[0])) if len(loc) == 1 else None
    if field is not None and _section_of(field.annotation):
        section = _section_of(field.annotation)
        required = [n for n, f in section.model_fields.items() if f.is_required()]
        return f"missing required section [{loc[0]}]", f"a table with {', '.join(required)}"
    registries = {
        ("model", "name"): ("pruning.models", "MODELS"),
        ("dataset", "name"): ("pruning.data", "DATASETS"),
    }
    where = registries.get(tuple(loc))  # type: ignore[arg-type]
    if where:
        return "missing required field", ", ".join(registry_names(*where))
    name_hint = "a study name of letters, digits, '_', '.', '-'"
    return "missing required field", name_hint if loc == ["name"] else ""


def _section_of(annotation: Any) -> type[BaseModel] | None:
    """The model class inside an annotation (through Annotated / unions), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_of(arg)
        if found is not None:
            return found
    return None


def _section_at(loc: list[str | int]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = StudySpec
    for part in loc:
        if model is None or isinstance(part, int) or part not in model.model_fields:
            return None
        model = _section_of(model.model_fields[part].annotation)
    return model


# --- identity --------------------------------------------------------------------------------

# Fields that do not change what a study computes: where it runs and is recorded, how fast.
_NOT_SCIENCE = {
    "": {"name", "description", "compare", "resources", "tracking", "storage", "ray"},
    "dataset": {"root", "download"},
    "search": {"concurrency", "max_failures"},
}


def spec_hash(spec: StudySpec) -> str:
    """sha256 prefix of the canonical JSON of the science fields (not paths or addresses)."""
    data = spec.model_dump(mode="json", exclude=_NOT_SCIENCE[""])
    for section, fields in _NOT_SCIENCE.items():
        for field in fields if section else ():
            data[section].pop(field, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


__all__ = ["format_error", "list_presets", "load_spec", "resolve", "spec_hash", "validate"]
