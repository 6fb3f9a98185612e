"""Render the findings from bench/results/mini_findings.json: the full table
(bench/results/mini_findings.md) and README.md's "## Results" block between the marker comments.
Every figure shown is read from the JSON (bench/mini_findings.py writes it); none is typed.

    .venv/bin/python bench/render_results.py            # write both
    .venv/bin/python bench/render_results.py --check    # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FINDINGS = ROOT / "bench" / "results" / "mini_findings.json"
FULL = ROOT / "bench" / "results" / "mini_findings.md"
README = ROOT / "README.md"
BEGIN = "<!-- results:findings begin -->"
END = "<!-- results:findings end -->"
SOURCE = "<!-- rendered by bench/render_results.py from bench/results/mini_findings.json -->"


# --- numbers --------------------------------------------------------------------------------


def num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def pval(value: float | None) -> str:
    """Two significant digits; below 1e-4 only the bound (no exponent a reader could misread)."""
    if value is None:
        return "–"
    return "< 1e-4" if value < 1e-4 else f"{value:.2g}"


def acc(mean: float | None, std: float | None, n: int) -> str:
    """mean ± std over seeds; one seed has no spread, so never "± 0" but "(n=1)"."""
    if mean is None:
        return "–"
    return f"{mean:.2f} (n={n})" if std is None else f"{mean:.2f} ± {std:.2f}"


def ci(diff: float | None, bounds: list[float | None]) -> str:
    if diff is None:
        return "–"
    low, high = bounds
    if low is None:
        return f"{diff:+.2f}"
    return f"{diff:+.2f} [{low:+.2f}, {high:+.2f}]"


def effect(c: dict) -> str:
    value = c["effect"]["value"]
    return "–" if value is None else f"{c['effect']['name']} {value:+.2f}"


def design(c: dict) -> str:
    left = f", {len(c['seeds_left_out'])} seed(s) unpaired" if c["seeds_left_out"] else ""
    return f"{c['n']} ({c['design']}{left})"


def dense_gap(c: dict, arm: str) -> str:
    gaps = c["gap_dense"]
    return "–" if not gaps else ci(gaps[arm]["diff"], gaps[arm]["ci95"])


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --- the parts ------------------------------------------------------------------------------


def readme_table(data: dict) -> str:
    header = ["finding", "claim", "n", "A", "B", "A − B [95 % CI]", "p (Holm)"]
    header += ["TOST p (Holm)", "effect", "status"]
    return table(header, [_readme_row(c) for c in data["comparisons"]])


def _readme_row(c: dict) -> list[str]:
    a, b = acc(c["mean_a"], c["std_a"], c["n"]), acc(c["mean_b"], c["std_b"], c["n"])
    tost = f"±{c['margin']:g}: {pval(c['tost_p_holm'])}"
    row = [c["label"], c["claim"], str(c["n"]), a, b, ci(c["diff"], c["ci95"])]
    return [*row, pval(c["p_holm"]), tost, effect(c), c["status"]]


def full_table(data: dict) -> str:
    header = ["finding", "claim", "A", "B", "n (design)", "A − B [95 % CI]", "test", "p"]
    header += ["p (Holm)", "Wilcoxon p", "TOST margin", "90 % CI", "TOST p", "TOST p (Holm)"]
    header += ["effect", "A − dense [95 % CI]", "B − dense [95 % CI]", "status"]
    return table(header, [_full_row(c) for c in data["comparisons"]])


def _full_row(c: dict) -> list[str]:
    a = f"{c['a']}: {acc(c['mean_a'], c['std_a'], c['n'])}"
    b = f"{c['b']}: {acc(c['mean_b'], c['std_b'], c['n'])}"
    wilcoxon = c["wilcoxon_note"] if c["wilcoxon_p"] is None else pval(c["wilcoxon_p"])
    low, high = c["ci90"]
    ci90 = "–" if low is None else f"[{low:+.2f}, {high:+.2f}]"
    row = [c["label"], c["claim"], a, b, design(c), ci(c["diff"], c["ci95"]), c["test"]]
    row += [pval(c["p"]), pval(c["p_holm"]), wilcoxon, f"±{c['margin']:g}", ci90]
    row += [pval(c["tost_p"]), pval(c["tost_p_holm"]), effect(c)]
    return [*row, dense_gap(c, "a"), dense_gap(c, "b"), c["status"]]


def per_seed_table(data: dict) -> str:
    """Every value a finding used, per seed: anyone can redo the tests by hand."""
    rows = []
    for c in data["comparisons"]:
        for arm in ("a", "b"):
            values = c[f"values_{arm}"]
            shown = ", ".join(f"{seed}: {v:.2f}" for seed, v in values.items())
            rows.append([c["label"], c[arm], shown or "–"])
    return table(["finding", "arm", "test acc % per seed"], rows)


def provenance(data: dict) -> str:
    names = ", ".join(f"`{s['name']}` ({s['status']})" for s in data["studies"]) or "none"
    dirty = " with uncommitted changes" if data["git"]["dirty"] else ""
    return (
        f"Generated {data['generated'][:10]} by "
        f"`{data['command'].split(' --workdir')[0]} --workdir WORKDIR` (the analysis at "
        f"commit `{data['git']['commit'][:10]}`{dirty}) from one workdir holding the studies "
        f"{names}."
    )


def ns(data: dict) -> str:
    found = sorted({c["n"] for c in data["comparisons"]})
    return " or ".join(map(str, found)) if found else "–"


def notes(data: dict) -> list[str]:
    """What is missing and why silo-mini is not a finding, as bullets."""
    out = [f"not available: {m['part']} ({m['why']})" for m in data["missing"]]
    smoke = data["smoke"]
    why = (
        "silo-mini is a smoke test of SILO's protocol, not a finding: it re-initialises the "
        "weights every round and its rounds are cut from 50 epochs to 2"
    )
    if smoke["status"] == "finished":
        why += (
            f"; after {smoke['rounds']} such rounds the selected trials reach "
            f"{smoke['test_acc_min']:.1f}–{smoke['test_acc_max']:.1f} % against "
            f"{smoke['dense_mean']:.1f} % dense"
        )
    else:
        why += " (its last report: `bench/results/silo-mini.report.md`)"
    out.append(why + ", so it cannot answer SILO's question; that needs `silo-resnet20`")
    return out


def readme_block(data: dict) -> str:
    """README's "## Results" block, markers included."""
    m = data["holm_family"]
    intro = (
        f"{provenance(data)} A and B are test accuracy (%) of the trial chosen on validation "
        f"per seed, mean ± std over n = {ns(data)} seeds; every comparison is paired by seed. "
        f"p (Holm) and TOST p (Holm) are Holm-adjusted over all {m} tests of "
        "`bench/results/mini_findings.md` (each difference test and each TOST), which also "
        "has the raw and Wilcoxon p-values, the 90 % CIs, the gaps to the dense model and the "
        "per-seed values. effect is dz (mean difference / SD of the differences)."
    )
    bullets = "".join(f"- {line}\n" for line in notes(data))
    return f"{BEGIN}\n{SOURCE}\n{intro}\n\n{readme_table(data)}\n{bullets}{END}"


def full_markdown(data: dict) -> str:
    """bench/results/mini_findings.md."""
    bullets = "".join(f"- {line}\n" for line in notes(data))
    return (
        "# Findings across the mini studies\n\n"
        f"{SOURCE}\n\n{provenance(data)}\n\n"
        "Each comparison is paired by seed (docs/science.md §9): the paired t-test of the "
        "per-seed differences with its 95 % CI; Wilcoxon's signed-rank test from "
        f"{data['wilcoxon_min_n']} pairs on; the TOST for the study's equivalence margin "
        "(points) with its 90 % CI; Holm over all "
        f"{data['holm_family']} tests below (difference tests and TOSTs); dz = mean "
        "difference / SD of the differences. The status follows the rules of "
        "`studies/results/verdict.py` for the claim (A > B: the paper's direction; A ≈ B: "
        f"equivalence), at alpha {data['alpha']:g} on the Holm-adjusted p.\n\n"
        f"{full_table(data)}\n## Per seed\n\n{per_seed_table(data)}\n## Notes\n\n{bullets}"
    )


def with_block(readme: str, block: str) -> str:
    """README with its findings block replaced; an error if the markers are missing."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md lacks the markers {BEGIN} … {END}")
    return readme[:start] + block + readme[end + len(END) :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=Path, default=FINDINGS)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    args = parser.parse_args()
    data = json.loads(args.findings.read_text())
    wanted = {
        FULL: full_markdown(data),
        README: with_block(README.read_text(), readme_block(data)),
    }
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    if args.check:
        print("\n".join(f"out of date: {p.relative_to(ROOT)}" for p in stale) or "up to date")
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
