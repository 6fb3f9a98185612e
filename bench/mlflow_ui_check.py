"""What a user sees of a prunetune study in the MLflow UI, checked in headless Chromium.

Given a workdir with a finished study (or, without --workdir, after running the quickstart into a
temporary one), the script serves the study's MLflow store on 127.0.0.1 (a free port,
``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``), opens the experiment's runs page
(``#/experiments/<id>/runs``) in a fresh browser profile (a first visit: nothing saved in the
browser) and reports:

- the columns the runs table shows by default (param / metric / attribute headers) and which of
  schedule, max LR, ratio, val acc and test acc are among them, and on screen without scrolling;
- the run names shown (and whether the Run Name column cuts them), whether the trial runs appear
  nested under the study run (and after one click on its expander), and a trial's run page;
- the same for every saved view the experiment already has (experiment tags
  ``mlflow.sharedViewState.<id>``, the URL ``#/experiments/<id>/runs?viewStateShareKey=<id>``),
  and for a URL that names the columns in its query (MLflow ignores it);
- a proposed saved view (trials grouped by schedule and the other varying axes; schedule, max LR,
  ratio, final val/test accuracy as the first columns; the sidebar in Model training mode via
  ``?workflowType=machine_learning``), written into a *copy* of the store, to prove the URL that
  shows the columns (the study's own store is never written: a SQLite store is served from a
  copy; an http:// tracking URI is only read);
- the study run's page (description, params, artifacts) and the chart view (its sections, top
  to bottom), for the bare page and the proposed view.

Screenshots (1400x900) go to --shots (default bench/results/mlflow_ui/, git-ignored); --docs DIR
copies four of them, as small 256-colour PNGs, where they can be committed (docs/mlflow-ui/).
The report goes to stdout and to --report (Markdown; a hand-written part of an existing report
below its marker line is kept). Exit status 1 when
the trial names are not readable or a key column is missing from every existing URL (the bare runs
page and the experiment's saved views); the proposed view does not count.

Needs a Chromium and Playwright's Python package, neither a project dependency (no browser
download, no internet: Playwright drives the system Chromium):

    apt-get install -y chromium
    python3 -m venv /tmp/uivenv && /tmp/uivenv/bin/pip install playwright

Run it with that Python from the repository root (it calls .venv/bin/prunetune and
.venv/bin/mlflow of the repository):

    /tmp/uivenv/bin/python bench/mlflow_ui_check.py                       # quickstart first (minutes)
    /tmp/uivenv/bin/python bench/mlflow_ui_check.py --workdir ./prunetune-runs [--study quickstart]
    /tmp/uivenv/bin/python bench/mlflow_ui_check.py --workdir DIR \\
        --report bench/results/mlflow_ui.md --docs docs/mlflow-ui
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VIEWPORT = {"width": 1400, "height": 900}
RUN_NAME_COL = "attributes.`Run Name`"
SHARE_TAG = "mlflow.sharedViewState."  # MLflow's saved views: experiment tags under this prefix
SHARE_PARAM = "viewStateShareKey"
PROPOSED_VIEW_ID = "prunetune-trials"
# Model training mode: the sidebar's Runs/Models instead of GenAI's Traces/Evaluation runs.
WORKFLOW = "workflowType=machine_learning"
PROPOSED_QUERY = f"{WORKFLOW}&{SHARE_PARAM}={PROPOSED_VIEW_ID}"
PROPOSED_VIEW_NAME = "trials by schedule: sampled values, final accuracies"

# What a user of a study looks for, and the column ids (MLflow's canonical keys) that show it.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "schedule": ("params.`trial.schedule`", "tags.`schedule`"),
    "max LR": ("params.`trial.max_lr`",),
    "ratio": ("params.`trial.ratio`", "tags.`ratio`"),
    "val acc": (
        "metrics.`final/val_acc`",
        "metrics.`final/best_val_acc`",
        "metrics.`acc/val`",
    ),
    "test acc": (
        "metrics.`final/test_acc`",
        "metrics.`final/test_acc_at_best_val`",
        "metrics.`acc/test`",
    ),
}

# The saved view proposed for a study: the state MLflow 3.17's "Views > Save as new view" writes
# (search facets + the table's UI state; MLflow drops runsExpanded, runsPinned, runsHidden,
# runsVisibilityMap and autoRefreshEnabled from a shared view, so a view cannot expand the study
# run: it groups the trial runs instead, which shows them and charts each group's mean).
P, M = "params.`{}`".format, "metrics.`{}`".format
FIRST_COLUMNS = [  # in this order, right after the run name
    P("trial.schedule"),
    P("trial.max_lr"),
    P("trial.ratio"),
    M("final/val_acc"),
    M("final/test_acc"),
]
MORE_COLUMNS = [P("trial.method"), P("trial.epochs"), P("trial.seed"), M("final/sparsity")]
# What a group is: the schedule and every other sampled axis that varies among the trials
# (not the seed nor the max LR: a group's mean is over those).
GROUP_AXES = ["trial.schedule", "trial.method", "trial.ratio", "trial.epochs", "trial.start"]
VARYING_EXTRA = ["trial.start", "trial.rounds"]  # shown as columns only where they vary
# px; MLflow's default 190 px cuts names such as clr-lr0.0412-l1-0.5-e8-s0-3f9a2
RUN_NAME_WIDTH = 300


def proposed_view_state(trials: dict[str, dict[str, str]]) -> dict[str, Any]:
    def varies(key: str) -> bool:
        return len({p.get(key) for p in trials.values()}) > 1

    extra = [P(k) for k in VARYING_EXTRA if varies(k)]
    columns = FIRST_COLUMNS + MORE_COLUMNS + extra
    axes = [k for k in GROUP_AXES if k == "trial.schedule" or varies(k)]
    return {
        "searchFilter": "",
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "columnOrder": [RUN_NAME_COL, *columns],
        "columnWidths": {RUN_NAME_COL: RUN_NAME_WIDTH},
        "runsHiddenMode": "SHOW_ALL",
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": False,
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "param", "groupByData": k} for k in axes],
        },
        "groupsExpanded": {},  # a group is expanded unless it says false
        "globalLineChartConfig": {
            "xAxisKey": "step",
            "lineSmoothness": 0,
            "selectedXAxisMetricKey": "",
        },
    }


def saved_view_tag_value(name: str, state: dict[str, Any]) -> str:
    """The value of an experiment tag ``mlflow.sharedViewState.<id>`` as MLflow 3.17 writes it
    (an envelope; `state` is the JSON text, uncompressed; at most 20,000 characters)."""
    now = int(time.time() * 1000)
    return json.dumps(
        {"name": name, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    )


# --------------------------------------------------------------------------------------------
# The study and its MLflow store


@dataclass
class Study:
    workdir: Path
    name: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str | None


def run_quickstart(workdir: Path) -> None:
    env = dict(
        os.environ,
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_AUTH_MODE="disabled",
        MLFLOW_DISABLE_TELEMETRY="true",
        RAY_USAGE_STATS_ENABLED="0",
    )
    cmd = [str(ROOT / ".venv/bin/prunetune"), "run", "quickstart", "--workdir", str(workdir)]
    print("running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)


def find_study(workdir: Path, name: str | None) -> Study:
    records = sorted((workdir / "studies").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if name:
        records = [p for p in records if p.stem == name]
    if not records:
        sys.exit(
            f"no study record under {workdir / 'studies'}" + (f" named {name!r}" if name else "")
        )
    rec = json.loads(records[-1].read_text())
    uri = rec["tracking_uri"].replace("${WORKDIR}", str(workdir.resolve()))
    return Study(workdir, rec["name"], uri, str(rec["experiment_id"]), rec.get("parent_run_id"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mlflow server` on 127.0.0.1 (what `mlflow ui` serves, with one worker)."""

    def __init__(self, backend_uri: str, cwd: Path, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(
            os.environ,
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
            MLFLOW_DISABLE_TELEMETRY="true",
        )
        cmd = [
            str(ROOT / ".venv/bin/mlflow"),
            "server",
            "--backend-store-uri",
            backend_uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        self.log = log
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"mlflow server exited ({self.proc.returncode}): see {self.log}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + "/health", timeout=3) as r,
            ):
                if r.status == 200:
                    return
            time.sleep(1)
        sys.exit(f"mlflow server not healthy after {timeout:.0f} s: see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def api(base: str, path: str, body: dict | None = None) -> dict:
    url = f"{base}/api/2.0/mlflow/{path}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"{}")


def all_runs(base: str, experiment_id: str) -> list[dict]:
    runs: list[dict] = []
    token = None
    while True:
        body: dict[str, Any] = {"experiment_ids": [experiment_id], "max_results": 1000}
        if token:
            body["page_token"] = token
        page = api(base, "runs/search", body)
        runs += page.get("runs", [])
        token = page.get("next_page_token")
        if not token:
            return runs


def kv(items: list[dict] | None) -> dict[str, str]:
    return {i["key"]: i.get("value") for i in items or []}


# --------------------------------------------------------------------------------------------
# The browser


@dataclass
class TableView:
    label: str
    url: str
    columns: list[tuple[str, str]] = field(default_factory=list)  # (col-id, header text)
    on_screen: list[str] = field(default_factory=list)  # col-ids whose header is in view at load
    groups: list[str] = field(default_factory=list)  # header groups (Parameters, Metrics, ...)
    names_first: list[str] = field(default_factory=list)  # run names before any click
    names_expanded: list[str] = field(default_factory=list)  # after expanding the study run
    names_cut: int = 0  # run names cut short (an ellipsis) in the Run Name column
    mode: str = ""  # the sidebar's workflow: "GenAI" or "Model training"
    trial_page: dict[str, Any] = field(default_factory=dict)  # a trial run, opened by its link
    assistant_open: bool = False
    rows_label: str = ""
    banner: str = ""
    shots: list[str] = field(default_factory=list)
    error: str = ""

    def key_found(self) -> dict[str, str | None]:
        ids = [c for c, _ in self.columns]
        return {k: next((c for c in ids if c in alts), None) for k, alts in KEY_COLUMNS.items()}


JS_HEADERS = """() => {
  const out = [];
  const grid = document.querySelector('.ag-root-wrapper');
  const gr = grid ? grid.getBoundingClientRect() : {left: 0, right: innerWidth};
  const sx = (document.querySelector('.ag-body-horizontal-scroll-viewport') || {}).scrollLeft || 0;
  for (const h of document.querySelectorAll('.ag-header-row-column .ag-header-cell')) {
    const id = h.getAttribute('col-id');
    const r = h.getBoundingClientRect();
    const x = r.left + (h.closest('.ag-pinned-left-header') ? 0 : sx);
    const inView = r.width > 0 && r.left >= gr.left - 1 && r.left + Math.min(r.width, 40) <= Math.min(gr.right, innerWidth);
    out.push([id, h.innerText.trim(), inView, x]);
  }
  return out;
}"""

JS_GROUPS = """() => [...document.querySelectorAll('.ag-header-group-cell')]
  .map(e => e.innerText.trim()).filter(Boolean)"""

JS_NAMES = """(col) => {
  const rows = [...document.querySelectorAll('.ag-row')].filter(r => r.querySelector(`[col-id="${col}"]`));
  rows.sort((a, b) => (+a.getAttribute('row-index')) - (+b.getAttribute('row-index')));
  return rows.map(r => {
    const cell = r.querySelector(`[col-id="${col}"]`);
    const a = cell.querySelector('a');
    return (a ? a.innerText : cell.innerText).split('\\n').map(s => s.trim()).filter(Boolean).join(' ');
  }).filter(Boolean);
}"""

# Whether a cell's text is cut (an ellipsis): the run name column is 190 px wide by default.
JS_NAMES_CUT = """(col) => [...document.querySelectorAll(`.ag-row [col-id="${col}"] a`)]
  .filter(a => {
    const text = document.createRange();
    text.selectNodeContents(a);  // the text's full extent, clipped or not
    return text.getBoundingClientRect().right > a.getBoundingClientRect().right + 1;
  }).length"""

JS_SCROLL_X = """(x) => {
  const v = document.querySelector('.ag-body-horizontal-scroll-viewport');
  const c = document.querySelector('.ag-center-cols-viewport');
  for (const e of [v, c]) if (e) e.scrollLeft = x;
  return v ? [v.scrollLeft, v.scrollWidth, v.clientWidth] : [0, 0, 0];
}"""


def dedupe(xs: list[str]) -> list[str]:
    seen: set[str] = set()
    return [x for x in xs if not (x in seen or seen.add(x))]


class Browser:
    def __init__(self, chromium: str, shots: Path):
        from playwright.sync_api import sync_playwright

        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        self.shots = shots

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.close()
        with contextlib.suppress(Exception):
            self.pw.stop()

    def page(self):
        """A fresh profile (a first visit: no saved UI state in local storage)."""
        ctx = self.browser.new_context(viewport=VIEWPORT)
        ctx.set_default_timeout(120_000)
        return ctx.new_page()

    def shot(self, page, name: str) -> str:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path))
        return str(path)

    @staticmethod
    def settle(page, ms: int = 1500) -> None:
        with contextlib.suppress(Exception):
            page.wait_for_load_state("networkidle", timeout=30_000)
        page.wait_for_timeout(ms)

    @staticmethod
    def assistant_open(page) -> bool:
        """The MLflow Assistant side panel (opens on a first visit, ~350 px wide)."""
        return page.get_by_placeholder("Ask a question...").filter(visible=True).count() > 0

    @staticmethod
    def mode(page) -> str:
        """The sidebar's workflow (GenAI by default; ?workflowType=machine_learning switches)."""
        nav = page.locator("nav, aside").first
        text = nav.inner_text() if nav.count() else page.inner_text("body")
        return "GenAI" if "Evaluation runs" in text else "Model training"

    def close_assistant(self, page) -> bool:
        if not self.assistant_open(page):
            return False
        close = page.get_by_role("button", name="Close", exact=True).filter(visible=True)
        if close.count():
            close.last.click()
            page.wait_for_timeout(800)
        return True

    def table(
        self,
        label: str,
        url: str,
        study_run_name: str | None,
        shot: str,
        trial_names: frozenset[str] = frozenset(),
    ) -> TableView:
        view = TableView(label, url)
        page = self.page()
        try:
            page.goto(url)
            page.wait_for_selector(f'.ag-row [col-id="{RUN_NAME_COL}"]')
            self.settle(page)
            view.assistant_open = self.assistant_open(page)
            view.mode = self.mode(page)
            body = page.inner_text("body")
            m = re.search(r"(\d+) matching runs?", body)
            view.rows_label = m.group(0) if m else ""
            m = re.search(r"You're viewing a shared view[^\n]*", body)
            view.banner = m.group(0) if m else ""
            view.names_first = page.evaluate(JS_NAMES, RUN_NAME_COL)
            view.shots.append(self.shot(page, f"{shot}-first-visit"))
            self.close_assistant(page)
            heads = page.evaluate(JS_HEADERS)
            view.on_screen = [h[0] for h in heads if h[2]]
            cols = [(h[3], h[0], h[1]) for h in heads]
            # the grid renders only the columns in view: scroll right to collect the others
            _, width, client = page.evaluate(JS_SCROLL_X, 0)
            x = 0
            while width and x + client < width:
                x += max(client - 100, 200)
                page.evaluate(JS_SCROLL_X, x)
                page.wait_for_timeout(300)
                cols += [(h[3], h[0], h[1]) for h in page.evaluate(JS_HEADERS)]
            page.evaluate(JS_SCROLL_X, 0)
            page.wait_for_timeout(300)
            first = {c: (x, t) for x, c, t in reversed(cols)}  # each column where first seen
            view.columns = [
                (c, t)
                for c, (_, t) in sorted(first.items(), key=lambda kv: kv[1][0])
                if c and c not in ("0", "1")
            ]
            view.groups = dedupe(page.evaluate(JS_GROUPS))
            view.shots.append(self.shot(page, f"{shot}-table"))
            if study_run_name and view.names_first == [study_run_name]:  # collapsed: expand it
                cell = page.locator(f'.ag-row [col-id="{RUN_NAME_COL}"]').filter(
                    has=page.get_by_role("link", name=study_run_name, exact=True)
                )
                btn = cell.first.locator("button").first
                if btn.count():
                    btn.click()
                    page.wait_for_timeout(1500)
                    view.names_expanded = page.evaluate(JS_NAMES, RUN_NAME_COL)
                    view.shots.append(self.shot(page, f"{shot}-expanded"))
            view.names_cut = page.evaluate(JS_NAMES_CUT, RUN_NAME_COL)
            shown = [n for n in view.names_expanded or view.names_first if n in trial_names]
            if shown:  # follow a trial's link, as a user would
                page.get_by_role("link", name=shown[0], exact=True).first.click()
                page.wait_for_selector("text=Parameters")
                self.settle(page)
                text = page.inner_text("body")
                m = re.search(r"Parameters \((\d+)\)", text)
                view.trial_page = {
                    "name": shown[0],
                    "params": m.group(1) if m else "?",
                    "mode": self.mode(page),
                    "url": page.url,
                    "shots": [self.shot(page, f"{shot}-trial-run")],
                }
        except Exception as exc:  # report what was seen so far
            view.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            with contextlib.suppress(Exception):
                view.shots.append(self.shot(page, f"{shot}-error"))
        finally:
            page.context.close()
        return view

    def run_page(self, base: str, experiment_id: str, run_id: str, shot: str) -> dict[str, Any]:
        out: dict[str, Any] = {"shots": []}
        page = self.page()
        try:
            page.goto(f"{base}/#/experiments/{experiment_id}/runs/{run_id}")
            page.wait_for_selector("text=Parameters")
            self.settle(page)
            self.close_assistant(page)
            out["text"] = (
                page.inner_text("main")
                if page.locator("main").count()
                else page.inner_text("body")
            )
            out["shots"].append(self.shot(page, f"{shot}-overview"))
            page.goto(f"{base}/#/experiments/{experiment_id}/runs/{run_id}/artifacts")
            self.settle(page, 2500)
            self.close_assistant(page)
            out["artifacts_text"] = page.inner_text("body")
            out["shots"].append(self.shot(page, f"{shot}-artifacts"))
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            page.context.close()
        return out

    def charts(self, url: str, shot: str) -> dict[str, Any]:
        out: dict[str, Any] = {"shots": []}
        page = self.page()
        try:
            sep = "&" if "?" in url.split("#")[-1] else "?"
            page.goto(f"{url}{sep}compareRunsMode=CHART")
            page.wait_for_selector('[data-testid="experiment-view-compare-runs-chart-area"]')
            self.settle(page, 4000)
            self.close_assistant(page)
            page.wait_for_timeout(1500)
            out["sections"] = page.evaluate(
                """() => [...document.querySelectorAll('[data-testid="experiment-view-compare-runs-section-header"]')]
                  .map(e => e.innerText.split('\\n').map(s => s.trim()).filter(Boolean).slice(0, 2).join(' '))"""
            )
            out["text"] = page.inner_text("body")
            out["shots"].append(self.shot(page, f"{shot}"))
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            with contextlib.suppress(Exception):
                out["shots"].append(self.shot(page, f"{shot}-error"))
        finally:
            page.context.close()
        return out


# --------------------------------------------------------------------------------------------
# The report


def readable(name: str, params: dict[str, str]) -> bool:
    """A trial's name says what it is: not Tune's `trainable_<hash>`, and it names its schedule."""
    schedule = params.get("trial.schedule", "")
    return not name.startswith("trainable_") and (not schedule or schedule in name)


def table_lines(view: TableView, trials: dict[str, dict[str, str]]) -> list[str]:
    found = view.key_found()
    lines = [f"### {view.label}", "", f"URL: `{view.url}`", ""]
    if view.error:
        lines += [f"**error:** {view.error}", ""]
    if view.banner:
        lines.append(f"- banner: {view.banner}")
    lines.append(
        f"- sidebar: {view.mode or '?'}; MLflow Assistant panel open on the first visit: "
        f"{'yes (~350 px; closed for the checks below)' if view.assistant_open else 'no'}"
    )
    lines.append(
        f"- {view.rows_label or '? matching runs'}; header groups: {', '.join(view.groups) or '-'}"
    )
    lines.append(
        "- columns shown (left to right): "
        + ", ".join(
            f"`{t or c}`" + ("" if c in view.on_screen else " (scroll)") for c, t in view.columns
        )
    )
    for key, col in found.items():
        where = (
            "missing"
            if col is None
            else ("on screen" if col in view.on_screen else "in the table, scroll right")
        )
        lines.append(f"  - {key}: {where}" + (f" (`{col}`)" if col else ""))
    shown = [n for n in view.names_first if n in trials]
    others = [n for n in view.names_first if n not in trials]
    lines.append(
        f"- trial runs shown before any click: {len(shown)} of {len(trials)}"
        + (f" ({', '.join(shown[:4])}{' …' if len(shown) > 4 else ''})" if shown else "")
        + (f"; other rows: {', '.join(others)}" if others else "")
    )
    if not shown and view.names_expanded:
        after = [n for n in view.names_expanded if n in trials]
        lines.append(
            f"- the trial runs are collapsed under the study run: one click on its expander "
            f"shows {len(after)} of {len(trials)}"
        )
    if view.names_cut:
        lines.append(f"- run names cut short (ellipsis) in the Run Name column: {view.names_cut}")
    if view.trial_page:
        t = view.trial_page
        lines.append(
            f"- a click on `{t['name']}` opens its run page: {t['params']} parameters, sidebar "
            f"{t['mode']}; {shots_line(t['shots'])[2:]}"
        )
    lines.append(shots_line(view.shots))
    return [*lines, ""]


def view_passes(view: TableView, trials: dict[str, dict[str, str]]) -> bool:
    names = [n for n in (view.names_first + view.names_expanded) if n in trials]
    return (
        not view.error
        and all(view.key_found().values())
        and bool(names)
        and all(readable(n, trials[n]) for n in names)
    )


def shots_line(shots: list[str]) -> str:
    return "- screenshots: " + (", ".join(f"`{rel(Path(s))}`" for s in shots) or "-")


def rel(p: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(p.resolve().relative_to(ROOT))
    return str(p)


def serve(study: Study, tmp: Path) -> tuple[str, Server | None, bool]:
    """The tracking server's base URL, the server started (if any), whether it may be written."""
    uri = study.tracking_uri
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/"), None, False
    writable = False
    if uri.startswith("sqlite:///"):  # serve a copy: the check adds a saved view to it
        src = Path(uri.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{src}{suffix}").exists():
                shutil.copy2(f"{src}{suffix}", tmp / f"mlflow.db{suffix}")
        uri, writable = f"sqlite:///{tmp / 'mlflow.db'}", True
    server = Server(uri, tmp, tmp / "mlflow-server.log")
    t0 = time.monotonic()
    server.wait()
    print(f"mlflow server on {server.url} ({time.monotonic() - t0:.0f} s to healthy)", flush=True)
    return server.url, server, writable


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, help="a workdir with a finished study")
    ap.add_argument("--study", help="the study's name (default: the workdir's newest record)")
    ap.add_argument("--shots", type=Path, default=ROOT / "bench/results/mlflow_ui")
    ap.add_argument("--report", type=Path, help="also write the report here (Markdown)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument(
        "--docs", type=Path, help="also copy the key screenshots here, small (e.g. docs/mlflow-ui)"
    )
    args = ap.parse_args()

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        sys.exit(
            "needs Playwright (not a project dependency): python3 -m venv /tmp/uivenv && "
            "/tmp/uivenv/bin/pip install playwright; run this script with /tmp/uivenv/bin/python"
        )
    if not Path(args.chromium).exists():
        sys.exit(f"no Chromium at {args.chromium}: apt-get install -y chromium (or --chromium)")

    tmp = Path(tempfile.mkdtemp(prefix="mlflow-ui-check-"))
    server = browser = None
    t_start = time.monotonic()
    try:
        if args.workdir is None:
            args.workdir = tmp / "workdir"
            run_quickstart(args.workdir)
        study = find_study(args.workdir.resolve(), args.study)
        base, server, writable = serve(study, tmp)
        exp = api(base, f"experiments/get?experiment_id={study.experiment_id}")["experiment"]
        exp_tags = kv(exp.get("tags"))
        runs = all_runs(base, study.experiment_id)
        parent = next((r for r in runs if r["info"]["run_id"] == study.parent_run_id), None)
        parent_name = parent["info"]["run_name"] if parent else None
        trials = {
            r["info"]["run_name"]: kv(r["data"].get("params"))
            for r in runs
            if kv(r["data"].get("tags")).get("mlflow.parentRunId") == study.parent_run_id
            and "trial.schedule" in kv(r["data"].get("params"))
        }
        param_keys = sorted({p["key"] for r in runs for p in r["data"].get("params", [])})
        metric_keys = sorted({m["key"] for r in runs for m in r["data"].get("metrics", [])})

        runs_url = f"{base}/#/experiments/{study.experiment_id}/runs"
        targets = [("Bare runs page (the URL prunetune prints)", runs_url, parent_name, "runs")]
        for tag, value in sorted(exp_tags.items()):
            if tag.startswith(SHARE_TAG):
                key = tag.removeprefix(SHARE_TAG)
                name = key
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    name = json.loads(value).get("name", key)
                label = f"Saved view {name!r} (in the store)"
                url = f"{runs_url}?{SHARE_PARAM}={key}"
                targets.append((label, url, parent_name, f"view-{key}"))
        # MLflow keeps the table's columns in the browser's local storage, not in the URL:
        # a query naming them changes nothing (shown, so that nobody prints such a URL).
        query = urllib.parse.urlencode({"selectedColumns": json.dumps(FIRST_COLUMNS)})
        url_only = (
            "URL query only (`?selectedColumns=…`)",
            f"{runs_url}?{query}",
            parent_name,
            "url-query",
        )
        proposed_state = proposed_view_state(trials)
        proposed_value = saved_view_tag_value(PROPOSED_VIEW_NAME, proposed_state)
        proposed = None
        if writable and not any(t.startswith(SHARE_TAG) for t in exp_tags):
            api(
                base,
                "experiments/set-experiment-tag",
                {
                    "experiment_id": study.experiment_id,
                    "key": SHARE_TAG + PROPOSED_VIEW_ID,
                    "value": proposed_value,
                },
            )
            proposed = f"{runs_url}?{PROPOSED_QUERY}"

        args.shots.mkdir(parents=True, exist_ok=True)
        for old in args.shots.glob("*.png"):
            old.unlink()
        browser = Browser(args.chromium, args.shots)
        names = frozenset(trials)
        views = [browser.table(*target, names) for target in targets]
        query_view = browser.table(*url_only, names)
        proposed_view = None
        if proposed:
            label = "Proposed saved view (written into the copy of the store)"
            proposed_view = browser.table(label, proposed, parent_name, "proposed", names)
        parent_page = {}
        if study.parent_run_id:
            parent_page = browser.run_page(
                base, study.experiment_id, study.parent_run_id, "study-run"
            )
        charts = [("Chart view, bare runs page", browser.charts(runs_url, "charts"))]
        if proposed:
            charts.append(
                ("Chart view, proposed saved view", browser.charts(proposed, "charts-proposed"))
            )
    finally:
        if browser:
            browser.close()
        if server:
            server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    # ---- the report
    ok = any(view_passes(v, trials) for v in views)
    names_ok = bool(trials) and all(readable(n, p) for n, p in trials.items())
    per_trial = sorted({len(p) for p in trials.values()})
    lines = [
        "# MLflow UI check",
        "",
        f"Study `{study.name}` (`{study.workdir}`, experiment {study.experiment_id}), served from "
        f"{'a copy of ' if writable else ''}`{study.tracking_uri}` by `mlflow server`; headless "
        f"Chromium {VIEWPORT['width']}×{VIEWPORT['height']}, a fresh profile per page (what a "
        f"first visit shows); {time.monotonic() - t_start:.0f} s in all.",
        "",
        f"- store: {len(runs)} runs, {len(trials)} trial runs under the study run "
        f"`{parent_name}`; params per trial run: {', '.join(map(str, per_trial)) or '-'}; "
        f"{len(param_keys)} param keys and {len(metric_keys)} metric keys in the experiment "
        f"(the Columns menu's choice)",
        f"- trial names readable: {'yes' if names_ok else 'NO'} "
        f"(e.g. {', '.join(list(trials)[:3])})",
        "",
    ]
    for v in views:
        lines += table_lines(v, trials)
    lines += table_lines(query_view, trials)
    if proposed_view:
        lines += table_lines(proposed_view, trials)
        lines += [
            "The proposed view is one experiment tag (MLflow's saved-view format: what "
            "*Views → Save as new view* writes, `state` uncompressed); the runs page shows it "
            f"at `#/experiments/<id>/runs?{PROPOSED_QUERY}` (`{WORKFLOW}` puts the sidebar in "
            "Model training mode; without it, GenAI mode) and lists it under *Views*:",
            "",
            "```",
            f"key:   {SHARE_TAG}{PROPOSED_VIEW_ID}",
            f"value: {proposed_value}",
            "```",
            "",
        ]
    lines += ["### Study run page", ""]
    if parent_page.get("error"):
        lines.append(f"**error:** {parent_page['error']}")
    text = parent_page.get("text", "")
    n_params = re.search(r"Parameters \((\d+)\)", text)
    desc = re.search(r"Description\s*\n+(.+?)\n", text)
    art = parent_page.get("artifacts_text", "")
    summary = [k for k in metric_keys if k.startswith("summary/")]
    lines += [
        f"- description: {desc.group(1).strip() if desc else 'NOT SHOWN'}",
        f"- parameters: {n_params.group(1) if n_params else '?'}; child runs listed: "
        f"{'yes' if 'Child runs' in text else 'no'}",
        f"- artifacts: spec.toml {'yes' if 'spec.toml' in art else 'NO'}, search_space.json "
        f"{'yes' if 'search_space.json' in art else 'NO'}",
        f"- summary metrics: {len(summary)} (e.g. `{summary[0] if summary else '-'}`)",
        shots_line(parent_page.get("shots", [])),
        "",
    ]
    for label, ch in charts:
        lines += [f"### {label}", ""]
        if ch.get("error"):
            lines.append(f"**error:** {ch['error']}")
        lines += [
            "- sections, top to bottom (charts in each): "
            + (", ".join(ch.get("sections", [])) or "-"),
            shots_line(ch.get("shots", [])),
            "",
        ]
    lines += notes(views, proposed_view, charts, metric_keys, trials)
    verdict = "PASS" if ok else "FAIL"
    lines += [
        f"**Result: {verdict}** — readable trial names and all five key columns "
        "(schedule, max LR, ratio, val acc, test acc) on a URL the store already has "
        "(the bare runs page or a saved view of the experiment; the proposed view does not count).",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.report:
        write_report(args.report, report)
    if args.docs:
        docs_shots(args.shots, args.docs)
    return 0 if ok else 1


def notes(views, proposed_view, charts, metric_keys, trials) -> list[str]:
    """What else the pages show that a reader trips over (facts measured above)."""
    out = []
    bare = views[0]
    if bare.names_cut:
        out.append(
            f"- MLflow's Run Name column (190 px) cuts {bare.names_cut} run names short on the "
            f"bare page; the proposed view sets it to {RUN_NAME_WIDTH} px "
            f"({proposed_view.names_cut if proposed_view else '?'} cut there)."
        )
    lrs = [p["trial.max_lr"] for p in trials.values() if p.get("trial.max_lr")]
    if any(len(v) > 8 for v in lrs):
        long = max(lrs, key=len)
        out.append(
            f"- `trial.max_lr` is logged unrounded (e.g. `{long}`); the table shows "
            f"`{long[:10]}…`."
        )
    secs = next((ch["sections"] for _, ch in reversed(charts) if ch.get("sections")), [])
    own = [x.rsplit(" (", 1)[0] for x in secs]
    own = [x for x in own if x not in ("Model metrics", "System metrics")]
    if own and own == sorted(own):
        out.append(
            "- chart sections are alphabetical (a section is a metric key up to its last `/`), "
            "not in logging order."
        )
    summary = [x for x in own if x.startswith("summary/")]
    if len(summary) > 1:
        out.append(
            f"- the study run's summary metrics make {len(summary)} chart sections "
            f"(`{summary[0]}` …), two charts each."
        )
    bare_keys = [k for k in metric_keys if "/" not in k]
    if bare_keys:
        out.append(
            f"- metrics without a section ({', '.join(f'`{k}`' for k in bare_keys)}) are "
            f"charted under *Model metrics*, after every other section."
        )
    if proposed_view and proposed_view.trial_page:
        mode = proposed_view.trial_page["mode"]
        if mode != proposed_view.mode:
            out.append(
                f"- following a trial's link from the proposed view drops `?{WORKFLOW}`: the "
                f"trial's page is in {mode} mode again (the toggle is kept only when the user "
                f"clicks it in the sidebar)."
            )
    if any(v.assistant_open for v in views):
        out.append(
            "- the MLflow Assistant panel opens on a first visit and takes ~350 px of the "
            "table's width until closed."
        )
    return ["### Notes", "", *out, ""] if out else []


MARKER = "<!-- hand-written below: kept when the report is rewritten -->"


def write_report(path: Path, report: str) -> None:
    """Write the report; a hand-written part below MARKER in the old file is kept."""
    tail = ""
    if path.exists() and MARKER in (old := path.read_text()):
        tail = "\n" + old[old.index(MARKER) :]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report + tail)


DOCS_SHOTS = {  # the few screenshots worth committing, under short names
    "runs-first-visit": "1-runs-page-bare",
    "proposed-table": "2-runs-page-saved-view",
    "charts-proposed": "3-charts-saved-view",
    "study-run-overview": "4-study-run",
}


def docs_shots(shots: Path, docs: Path) -> None:
    """Copy the key screenshots to `docs`, as 256-colour PNGs (PIL from the project's venv)."""
    docs.mkdir(parents=True, exist_ok=True)
    pairs = [
        (shots / f"{src}.png", docs / f"{dst}.png")
        for src, dst in DOCS_SHOTS.items()
        if (shots / f"{src}.png").exists()
    ]
    code = (
        "import sys; from PIL import Image\n"
        "for a, b in zip(sys.argv[1::2], sys.argv[2::2]):\n"
        "    Image.open(a).convert('RGB').quantize(256).save(b, optimize=True)\n"
    )
    args = [str(x) for pair in pairs for x in pair]
    try:
        subprocess.run([str(ROOT / ".venv/bin/python"), "-c", code, *args], check=True)
    except (OSError, subprocess.CalledProcessError):
        for a, b in pairs:
            shutil.copy2(a, b)
    for _, b in pairs:
        print(f"{rel(b)}: {b.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    sys.exit(main())
