"""A study spec → the phases to run: the Optuna search, the Scratch-E/B baselines, the oracle's
per-round grids; each phase is one Ray Tune run built in plan.phase."""

from __future__ import annotations

from studies.plan.baselines import baseline_phase
from studies.plan.oracle import oracle_phases
from studies.plan.phase import Phase
from studies.plan.search import search_phase
from studies.session.records import StudyRecord
from studies.spec import StudySpec


def plan(spec: StudySpec, record: StudyRecord) -> list[Phase]:
    """The study's phases, in the order they run."""
    if spec.kind == "oracle":
        return oracle_phases(spec, record)
    phases = [search_phase(spec, record)]
    if spec.search.baselines:
        phases.append(baseline_phase(spec, record))
    return phases


__all__ = ["Phase", "plan"]
