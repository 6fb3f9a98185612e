"""Field types of the study file: numbers in intervals, registry names, value lists and
{low, high} ranges, URLs. Each raises `invalid(...)`, which carries the valid choices that
the error format (studies.spec.loading) prints after the message.
"""

from __future__ import annotations

import difflib
import importlib
import math
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from studies.storage import DEFAULT_WORKDIR, Use, forms, scheme_for
from trainables.keys import Result
from trainables.recipe import STARTS, parse_start

# Metric name → Tune mode; what a trial reports after every epoch (trainables/round_run.py).
OBJECTIVES = {
    Result.VAL_ACC: "max",
    Result.BEST_VAL_ACC: "max",
    Result.MACS: "min",
    Result.PARAMS: "min",
}
PT_ERROR = "prunetune"  # the pydantic error type of every error raised by the spec's fields


def invalid(message: str, valid: str = "", path: str | None = None) -> PydanticCustomError:
    """An error for pydantic to collect; `path` replaces its location (cross-field checks)."""
    ctx: dict[str, str] = {"_pt_valid": valid}
    if path is not None:
        ctx["_pt_path"] = path
    return PydanticCustomError(PT_ERROR, message, ctx)


def _bounded(
    kind: type, lo: float, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False
) -> Any:
    """`kind` restricted to an interval; the error names the interval as `valid`."""
    if hi is None:
        text = f"{'>' if lo_open else '>='} {lo:g}"
    else:
        text = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def check(value: float) -> float:
        inside = math.isfinite(value) and (
            (value > lo if lo_open else value >= lo)
            and (hi is None or (value < hi if hi_open else value <= hi))
        )
        if not inside:
            raise invalid(f"{value!r} is out of range", text)
        return value

    return Annotated[kind, AfterValidator(check)]


PosInt = _bounded(int, 1)
NonNegInt = _bounded(int, 0)
PosFloat = _bounded(float, 0, lo_open=True)
NonNegFloat = _bounded(float, 0)
Fraction = _bounded(float, 0, 1, hi_open=True)  # [0, 1): ratios, val_fraction, smoothing


def _registry(kind: str, module: str, attr: str) -> Any:
    """A str that must name a member of a `pruning` registry (imported on first use)."""

    def check(name: str) -> str:
        members = registry_names(module, attr)
        if name not in members:
            hint = difflib.get_close_matches(name, members, n=1)
            near = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise invalid(f"unknown {kind} {name!r}{near}", ", ".join(members))
        return name

    return Annotated[str, AfterValidator(check)]


def registry_names(module: str, attr: str) -> list[str]:
    """The members of a `pruning` registry, imported on first use (torch is slow to import)."""
    return list(getattr(importlib.import_module(module), attr).names())


ModelName = _registry("model", "pruning.models", "MODELS")
DatasetName = _registry("dataset", "pruning.data", "DATASETS")
MethodName = _registry("pruning method", "pruning.methods", "METHODS")
ScheduleName = _registry("schedule", "pruning.schedules", "SCHEDULES")


def _listify(value: Any) -> Any:
    # `ratio = 0.5` and `--set retrain.epochs=10` mean a one-element list.
    return [value] if isinstance(value, str | int | float) else value


def _unique_nonempty(values: list[Any]) -> list[Any]:
    if not values:
        raise invalid("the list is empty, so there is nothing to run", "at least one value")
    dupes = sorted({str(v) for v in values if values.count(v) > 1})
    if dupes:
        raise invalid(f"duplicate value {dupes[0]}", "each value once")
    return values


def NonEmpty(item: Any) -> Any:  # a type constructor, hence the capital
    return Annotated[list[item], BeforeValidator(_listify), AfterValidator(_unique_nonempty)]


# strict: TOML has real types, so "3" for an int is a mistake, not something to coerce.
SECTION_CONFIG = ConfigDict(extra="forbid", strict=True)


class RatioRange(BaseModel):
    """A uniform range of pruning ratios."""

    model_config = SECTION_CONFIG

    low: Fraction
    high: Fraction

    @model_validator(mode="after")
    def _ordered(self) -> RatioRange:
        if self.low >= self.high:
            raise invalid(f"low ({self.low:g}) must be < high ({self.high:g})", "low < high")
        return self


class LrRange(BaseModel):
    """A log-uniform range of peak learning rates."""

    model_config = SECTION_CONFIG

    low: PosFloat
    high: PosFloat

    @model_validator(mode="after")
    def _ordered(self) -> LrRange:
        if self.low >= self.high:
            raise invalid(f"low ({self.low:g}) must be < high ({self.high:g})", "low < high")
        return self


def _values_or_range(item: Any, range_type: type[BaseModel]) -> Any:
    """A list of values (categorical / grid) or a {low, high} table (a continuous range)."""

    def pick(value: Any) -> str:
        return "<range>" if isinstance(value, dict | BaseModel) else "<list>"

    return Annotated[
        Annotated[NonEmpty(item), Tag("<list>")] | Annotated[range_type, Tag("<range>")],
        Discriminator(pick),
    ]


Ratios = _values_or_range(Fraction, RatioRange)
MaxLrs = _values_or_range(PosFloat, LrRange)
Momentum = _bounded(float, 0, 1, hi_open=True)


def _start(value: str) -> str:
    try:
        parse_start(value)
    except ValueError:
        raise invalid(f"unknown retraining start {value!r}", ", ".join(STARTS)) from None
    return value


StartName = Annotated[str, AfterValidator(_start)]
Methods = NonEmpty(MethodName)
Starts = NonEmpty(StartName)
Schedules = NonEmpty(ScheduleName)
Budgets = NonEmpty(PosInt)
Seeds = NonEmpty(NonNegInt)


def _widths(values: list[Any]) -> list[Any]:
    for w in values:
        if not (w == "M" or (isinstance(w, int) and not isinstance(w, bool) and w > 0)):
            raise invalid(f"bad width {w!r}", 'positive integers and "M" (VGG max-pool)')
    return values


def _milestones(values: list[float]) -> list[float]:
    if any(not 0 < f <= 1 for f in values) or values != sorted(values):
        raise invalid(f"{values} are not increasing fractions of the epochs", "e.g. [0.5, 0.75]")
    return values


def _objective(value: Any) -> Any:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise invalid(f"{value!r} is not a metric or a list of them", ", ".join(OBJECTIVES))
    for name in names:
        if name not in OBJECTIVES:
            raise invalid(f"unknown metric {name!r}", ", ".join(OBJECTIVES))
    if len(set(names)) != len(names):
        raise invalid(f"duplicate metric in {names}", "each metric once")
    return value if isinstance(value, str) or len(names) > 1 else names[0]


def _url(use: Use, what: str) -> Any:
    """A URL of a scheme that `use` accepts (asked at validation time: the registry's)."""

    def check(value: str) -> str:
        if value and scheme_for(value, use) is None:
            raise invalid(f"unsupported {what} {value!r}", forms(use))
        if "://" in value and urlsplit(value).password:
            # The URL is recorded (study record, MLflow params, Tune's state, logs): a password
            # in it would be written everywhere. Both drivers read it from the environment.
            raise invalid(
                f"the {what} carries a password, which would be recorded with the study",
                "the URL without it; the password in PGPASSWORD or ~/.pgpass (PostgreSQL), "
                "MLFLOW_TRACKING_PASSWORD (MLflow server)",
            )
        return value

    return Annotated[str, AfterValidator(check)]


STUDY_NAME_MAX = 100  # it names files, Optuna studies and MLflow experiments and runs


def _study_name(value: str) -> str:
    valid = f"1-{STUDY_NAME_MAX} letters, digits, '_', '.', '-', not starting with '.'"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value) or value.startswith("."):
        raise invalid(f"bad study name {value!r}", valid)
    if len(value) > STUDY_NAME_MAX:
        raise invalid(f"study name of {len(value)} characters is too long", valid)
    return value


def _nonempty_workdir(value: str) -> str:
    if not value:
        raise invalid("must not be empty", f"a directory, e.g. {DEFAULT_WORKDIR!r}")
    return value


def _ray_address(value: str) -> str:
    if value and value != "auto" and not re.fullmatch(r"(ray://)?[\w.\-]+:\d+", value):
        raise invalid(
            f"bad Ray address {value!r}", '"" (local), "auto", host:port, ray://host:port'
        )
    return value


def _storage_root(value: str) -> str:
    """ "" (the default), a local directory, or an object-store URI pyarrow opens (Ray Tune's
    storage_path); preflight checks that the bucket answers."""
    scheme = scheme_for(value, Use.FILES)
    if scheme is None:
        raise invalid(f"unsupported storage URI {value!r}", forms(Use.FILES))
    if not scheme.remote:
        return value
    parts = urlsplit(value)
    if "@" in parts.netloc:
        # Recorded with the study like every URL (record, MLflow params, Tune's state).
        raise invalid(
            "the URI carries credentials, which would be recorded with the study",
            "the URI without them; AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
        )
    if not parts.netloc:
        raise invalid(f"{value!r} names no bucket", forms(Use.FILES))
    return value


def _unique_or_empty(values: list[Any]) -> list[Any]:
    return _unique_nonempty(values) if values else values


StudyName = Annotated[str, AfterValidator(_study_name)]
Workdir = Annotated[str, AfterValidator(_nonempty_workdir)]
StorageRoot = Annotated[str, AfterValidator(_storage_root)]
RayAddress = Annotated[str, AfterValidator(_ray_address)]
Baselines = Annotated[list[Literal["scratch-e", "scratch-b"]], AfterValidator(_unique_or_empty)]
TrackingUri = _url(Use.TRACKING, "tracking URI")
StorageUrl = _url(Use.OPTUNA, "storage")
Widths = Annotated[list[int | str], AfterValidator(_widths)]
Milestones = Annotated[list[float], AfterValidator(_milestones)]
Configs = Annotated[list[str], BeforeValidator(_listify)]
Objective = Annotated[str | list[str], BeforeValidator(_objective)]
