"""What a user sees of a prunetune study in the MLflow UI, checked in headless Chromium.

Given a workdir with a finished study (or, without --workdir, after running the quickstart into a
temporary one), the script serves the study's MLflow store on 127.0.0.1 (a free port,
``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``), opens its pages in a fresh browser profile each (a
first visit: nothing saved in the browser) and reports:

- prunetune's saved view of the runs table: the script builds none. It asks the project's Python
  what ``studies/results/view.py`` (the one builder, the one a study writes its view with) builds
  for the study's spec and which URL prunetune prints, and says whether the store holds that
  view. Where the store lacks it or holds another (an older prunetune, a user's change), the
  built one is written into a *copy* of the store (the study's own store is never written: a
  SQLite store is served from a copy; an http:// tracking URI is only read);
- for the URL prunetune prints, the bare runs page (``#/experiments/<id>/runs``), every other
  saved view the experiment has (experiment tags ``mlflow.sharedViewState.<id>``) and a URL that
  names the columns in its query (MLflow ignores it): the columns the runs table shows (param /
  metric / attribute headers), which of schedule, max LR, ratio, val acc and test acc are among
  them and on screen without scrolling, the run names shown (and whether the Run Name column
  cuts them), whether the trial runs appear nested under the study run (and after one click on
  its expander), and a trial's run page;
- the study run's page (description, params, artifacts) and the chart view (its sections, top
  to bottom), for the bare page and the URL prunetune prints.

Screenshots (1400x900) go to --shots (default bench/results/mlflow_ui/, git-ignored); --docs DIR
copies four of them, as small 256-colour PNGs, where they can be committed (docs/mlflow-ui/).
The report goes to stdout and to --report (Markdown; a hand-written part of an existing report
below its marker line is kept). Exit status 1 unless the URL prunetune prints opens the view
prunetune builds with readable trial names and every key column a trial logged (MLflow shows no
column for a param no run has: no max LR where every schedule takes the recipe's LR).

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
# Model training mode: the sidebar's Runs/Models instead of GenAI's Traces/Evaluation runs.
WORKFLOW = "workflowType=machine_learning"

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


# The study's saved view is prunetune's own (studies/results/view.py builds it, the study writes
# it): this script builds none. It asks the project's Python what that module builds for the
# study's spec and which URL prunetune prints, then opens that URL on the store's view.
VIEW_BUILDER = (
    "import json, sys\n"
    "from studies.results.view import record_view\n"
    "print(json.dumps(record_view(*sys.argv[1:4])))\n"
)


@dataclass
class ProductView:
    """prunetune's view of the study: what it builds, what the store holds, what was checked."""

    tag: str  # the experiment tag's key, mlflow.sharedViewState.<key>
    value: str  # the tag's value as studies.results.view builds it for the study's spec
    page: str  # the URL prunetune prints for this server
    stored: dict[str, Any] | None  # the state the store holds under `tag` (None: absent)
    written: bool = False  # the built view was written into the copy of the store

    @property
    def state(self) -> dict[str, Any]:
        return json.loads(json.loads(self.value)["state"])

    def differs(self) -> list[str]:
        """The state keys where the store's view is not what prunetune builds now."""
        if self.stored is None:
            return []
        keys = sorted(set(self.state) | set(self.stored))
        return [k for k in keys if self.state.get(k) != self.stored.get(k)]

    def checked_is_built(self) -> bool:
        """The view opened in the browser is the one prunetune builds now."""
        return self.written or (self.stored is not None and not self.differs())


def product_view(study: Study, base: str, exp_tags: dict[str, str]) -> ProductView:
    """studies.results.view's tag for the study (run with the project's Python, which has
    prunetune's dependencies) and the state the store holds under its key."""
    cmd = [str(ROOT / ".venv/bin/python"), "-c", VIEW_BUILDER]
    cmd += [str(study.workdir.resolve()), study.name, base]
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    built = json.loads(out.stdout.strip().splitlines()[-1])
    stored = None
    if built["tag"] in exp_tags:
        stored = {}  # unreadable: differs everywhere
        with contextlib.suppress(ValueError, TypeError, KeyError):
            stored = json.loads(json.loads(exp_tags[built["tag"]])["state"])
    return ProductView(built["tag"], built["value"], built["page"], stored)


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
            ("missing" if has_data(key, trials) else "missing (no trial logged it)")
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


def has_data(key: str, trials: dict[str, dict[str, str]]) -> bool:
    """Whether a trial logged what key column `key` shows: MLflow has no column for a param
    that no run has (a study whose schedules all take their LR from the recipe logs no max LR;
    one pruned by configs logs no ratio)."""
    params = [c[len("params.`") : -1] for c in KEY_COLUMNS[key] if c.startswith("params.")]
    return not params or any(p in t for t in trials.values() for p in params)


def view_passes(view: TableView, trials: dict[str, dict[str, str]]) -> bool:
    names = [n for n in (view.names_first + view.names_expanded) if n in trials]
    return (
        not view.error
        and all(col for key, col in view.key_found().items() if has_data(key, trials))
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


def parse_args() -> argparse.Namespace:
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
    return ap.parse_args()


def check_tools(chromium: str) -> None:
    try:
        import playwright.sync_api  # noqa: F401  (only to say what is missing, before any work)
    except ImportError:
        sys.exit(
            "needs Playwright (not a project dependency): python3 -m venv /tmp/uivenv && "
            "/tmp/uivenv/bin/pip install playwright; run this script with /tmp/uivenv/bin/python"
        )
    if not Path(chromium).exists():
        sys.exit(f"no Chromium at {chromium}: apt-get install -y chromium (or --chromium)")


@dataclass
class Store:
    """What the served store holds for the study."""

    base: str  # the tracking server's base URL
    writable: bool  # a copy of a SQLite store (the check may add to it)
    exp_tags: dict[str, str]
    runs: list[dict]
    parent_name: str | None
    trials: dict[str, dict[str, str]]  # trial run name -> its params

    @property
    def param_keys(self) -> list[str]:
        return sorted({p["key"] for r in self.runs for p in r["data"].get("params", [])})

    @property
    def metric_keys(self) -> list[str]:
        return sorted({m["key"] for r in self.runs for m in r["data"].get("metrics", [])})


def read_store(base: str, writable: bool, study: Study) -> Store:
    exp = api(base, f"experiments/get?experiment_id={study.experiment_id}")["experiment"]
    runs = all_runs(base, study.experiment_id)
    parent = next((r for r in runs if r["info"]["run_id"] == study.parent_run_id), None)
    trials = {
        r["info"]["run_name"]: kv(r["data"].get("params"))
        for r in runs
        if kv(r["data"].get("tags")).get("mlflow.parentRunId") == study.parent_run_id
        and "trial.schedule" in kv(r["data"].get("params"))
    }
    name = parent["info"]["run_name"] if parent else None
    return Store(base, writable, kv(exp.get("tags")), runs, name, trials)


def write_built_view(store: Store, study: Study, view: ProductView) -> None:
    """Where the store lacks prunetune's view or holds another (an older prunetune, or a user's
    change), put the built one into the copy, so that the browser checks what prunetune builds."""
    if not store.writable or view.checked_is_built():
        return
    body = {"experiment_id": study.experiment_id, "key": view.tag, "value": view.value}
    api(store.base, "experiments/set-experiment-tag", body)
    view.written = True


@dataclass
class Pages:
    """What the browser saw."""

    views: list[TableView]  # [bare runs page, the URL prunetune prints, other saved views]
    query_view: TableView
    parent_page: dict[str, Any]
    charts: list[tuple[str, dict[str, Any]]]

    @property
    def product(self) -> TableView:
        return self.views[1]


def browse(args: argparse.Namespace, study: Study, store: Store, view: ProductView) -> Pages:
    runs_url = f"{store.base}/#/experiments/{study.experiment_id}/runs"
    how = "as the study wrote it" if not view.written else "built now, written into the copy"
    targets = [
        ("Bare runs page", runs_url, "runs"),
        (f"The URL prunetune prints (its saved view, {how})", view.page, "product"),
    ]
    for tag, value in sorted(store.exp_tags.items()):
        if tag.startswith(SHARE_TAG) and tag != view.tag:  # a user's own views
            key = name = tag.removeprefix(SHARE_TAG)
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                name = json.loads(value).get("name", key)
            url = f"{runs_url}?{SHARE_PARAM}={key}"
            targets.append((f"Saved view {name!r} (in the store)", url, f"view-{key}"))
    # MLflow keeps the table's columns in the browser's local storage, not in the URL:
    # a query naming them changes nothing (shown, so that nobody prints such a URL).
    query = urllib.parse.urlencode({"selectedColumns": json.dumps(view.state["selectedColumns"])})
    args.shots.mkdir(parents=True, exist_ok=True)
    for old in args.shots.glob("*.png"):
        old.unlink()
    browser = Browser(args.chromium, args.shots)
    names, parent = frozenset(store.trials), store.parent_name
    try:
        views = [browser.table(label, url, parent, shot, names) for label, url, shot in targets]
        query_view = browser.table(
            "URL query only (`?selectedColumns=…`)", f"{runs_url}?{query}", parent, "url-query"
        )
        parent_page = {}
        if study.parent_run_id:
            parent_page = browser.run_page(
                store.base, study.experiment_id, study.parent_run_id, "study-run"
            )
        charts = [
            ("Chart view, bare runs page", browser.charts(runs_url, "charts")),
            ("Chart view, the URL prunetune prints", browser.charts(view.page, "charts-product")),
        ]
    finally:
        browser.close()
    return Pages(views, query_view, parent_page, charts)


def main() -> int:
    args = parse_args()
    check_tools(args.chromium)
    tmp = Path(tempfile.mkdtemp(prefix="mlflow-ui-check-"))
    server = None
    t_start = time.monotonic()
    try:
        if args.workdir is None:
            args.workdir = tmp / "workdir"
            run_quickstart(args.workdir)
        study = find_study(args.workdir.resolve(), args.study)
        base, server, writable = serve(study, tmp)
        store = read_store(base, writable, study)
        view = product_view(study, base, store.exp_tags)
        write_built_view(store, study, view)
        pages = browse(args, study, store, view)
    finally:
        if server:
            server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    ok = view_passes(pages.product, store.trials) and view.checked_is_built()
    report = "\n".join(report_lines(study, store, view, pages, time.monotonic() - t_start, ok))
    print(report)
    if args.report:
        write_report(args.report, report)
    if args.docs:
        docs_shots(args.shots, args.docs)
    return 0 if ok else 1


def report_lines(
    study: Study, store: Store, view: ProductView, pages: Pages, seconds: float, ok: bool
) -> list[str]:
    trials = store.trials
    names_ok = bool(trials) and all(readable(n, p) for n, p in trials.items())
    per_trial = sorted({len(p) for p in trials.values()})
    lines = [
        "# MLflow UI check",
        "",
        f"Study `{study.name}` (`{study.workdir}`, experiment {study.experiment_id}), served from "
        f"{'a copy of ' if store.writable else ''}`{study.tracking_uri}` by `mlflow server`; "
        f"headless Chromium {VIEWPORT['width']}×{VIEWPORT['height']}, a fresh profile per page "
        f"(what a first visit shows); {seconds:.0f} s in all.",
        "",
        f"- store: {len(store.runs)} runs, {len(trials)} trial runs under the study run "
        f"`{store.parent_name}`; params per trial run: {', '.join(map(str, per_trial)) or '-'}; "
        f"{len(store.param_keys)} param keys and {len(store.metric_keys)} metric keys in the "
        "experiment (the Columns menu's choice)",
        f"- trial names readable: {'yes' if names_ok else 'NO'} "
        f"(e.g. {', '.join(list(trials)[:3])})",
        *view_lines(view),
        "",
    ]
    for v in [*pages.views, pages.query_view]:
        lines += table_lines(v, trials)
    lines += parent_lines(pages.parent_page, store.metric_keys)
    for label, ch in pages.charts:
        lines += [f"### {label}", ""]
        if ch.get("error"):
            lines.append(f"**error:** {ch['error']}")
        lines += [
            "- sections, top to bottom (charts in each): "
            + (", ".join(ch.get("sections", [])) or "-"),
            shots_line(ch.get("shots", [])),
            "",
        ]
    lines += notes(pages, view, store.metric_keys, trials)
    lines += [
        f"**Result: {'PASS' if ok else 'FAIL'}** — the URL prunetune prints opens the saved view "
        "prunetune builds (`studies/results/view.py`) with readable trial names and every key "
        "column (schedule, max LR, ratio, val acc, test acc) that a trial logged.",
        "",
    ]
    return lines


def view_lines(view: ProductView) -> list[str]:
    """Whether the store holds the view prunetune builds, and that view as its tag."""
    if view.stored is None:
        held = "absent from the store (a study from before prunetune wrote it)"
    elif view.differs():
        held = "in the store, but not what prunetune builds now (state keys that differ: "
        held += ", ".join(f"`{k}`" for k in view.differs()) + ")"
    else:
        held = "in the store, as prunetune builds it now (timestamps aside)"
    if view.written:
        held += "; the built view was written into the copy of the store and checked"
    elif not view.checked_is_built():
        held += "; the store is read-only here: the store's view was checked, not the built one"
    return [
        f"- prunetune's saved view (`studies/results/view.py`): {held}",
        f"- the URL prunetune prints: `{view.page}` (`{WORKFLOW}` puts the sidebar in Model "
        "training mode; without it, GenAI mode)",
        "",
        "```",
        f"key:   {view.tag}",
        f"value: {view.value}",
        "```",
    ]


def parent_lines(parent_page: dict[str, Any], metric_keys: list[str]) -> list[str]:
    lines = ["### Study run page", ""]
    if parent_page.get("error"):
        lines.append(f"**error:** {parent_page['error']}")
    text = parent_page.get("text", "")
    n_params = re.search(r"Parameters \((\d+)\)", text)
    desc = re.search(r"Description\s*\n+(.+?)\n", text)
    art = parent_page.get("artifacts_text", "")
    summary = [k for k in metric_keys if k.startswith("summary/")]
    return [
        *lines,
        f"- description: {desc.group(1).strip() if desc else 'NOT SHOWN'}",
        f"- parameters: {n_params.group(1) if n_params else '?'}; child runs listed: "
        f"{'yes' if 'Child runs' in text else 'no'}",
        f"- artifacts: spec.toml {'yes' if 'spec.toml' in art else 'NO'}, search_space.json "
        f"{'yes' if 'search_space.json' in art else 'NO'}",
        f"- summary metrics: {len(summary)} (e.g. `{summary[0] if summary else '-'}`)",
        shots_line(parent_page.get("shots", [])),
        "",
    ]


def notes(
    pages: Pages, view: ProductView, metric_keys: list[str], trials: dict[str, dict[str, str]]
) -> list[str]:
    """What else the pages show that a reader trips over (facts measured above)."""
    out = []
    bare, product = pages.views[0], pages.product
    if bare.names_cut:
        width = view.state.get("columnWidths", {}).get(RUN_NAME_COL, "?")
        out.append(
            f"- MLflow's Run Name column (190 px) cuts {bare.names_cut} run names short on the "
            f"bare page; prunetune's view sets it to {width} px ({product.names_cut} cut there)."
        )
    lrs = [p["trial.max_lr"] for p in trials.values() if p.get("trial.max_lr")]
    if any(len(v) > 8 for v in lrs):
        long = max(lrs, key=len)
        out.append(
            f"- `trial.max_lr` is logged unrounded (e.g. `{long}`); the table shows "
            f"`{long[:10]}…`."
        )
    secs = next((ch["sections"] for _, ch in reversed(pages.charts) if ch.get("sections")), [])
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
    if product.trial_page:
        mode = product.trial_page["mode"]
        if mode != product.mode:
            out.append(
                f"- following a trial's link from prunetune's view drops `?{WORKFLOW}`: the "
                f"trial's page is in {mode} mode again (the toggle is kept only when the user "
                f"clicks it in the sidebar)."
            )
    if any(v.assistant_open for v in pages.views):
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
    "product-table": "2-runs-page-saved-view",
    "charts-product": "3-charts-saved-view",
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
