"""Bad input → one line on stderr naming the field/argument, exit code 2, nothing started or left.

Runs `studies.cli.main` in-process (fast); tests/integration covers the real subprocess CLI.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from studies.cli import main

GOOD = """
name = "bad-input"
[model]
name = "smallcnn"
[dataset]
name = "digits"
[pretrain]
epochs = 2
[pruning]
methods = ["l1"]
ratio = [0.5]
[retrain]
schedules = ["ft", "clr"]
epochs = [1]
[search]
sampler = "random"
trials = 2
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


# (id, study text or None, extra CLI args, substring the one-line message must contain)
STUDY_CASES = [
    ("unknown-model", _edit('name = "smallcnn"', 'name = "resnet9000"'), [], "model.name"),
    ("unknown-dataset", _edit('name = "digits"', 'name = "mnist3d"'), [], "dataset.name"),
    ("unknown-method", _edit('methods = ["l1"]', 'methods = ["l7"]'), [], "pruning.methods"),
    ("unknown-schedule", _edit('["ft", "clr"]', '["ft", "clrr"]'), [], "retrain.schedules"),
    ("ratio-too-big", _edit("ratio = [0.5]", "ratio = [1.2]"), [], "pruning.ratio"),
    ("ratio-negative", _edit("ratio = [0.5]", "ratio = [-0.1]"), [], "pruning.ratio"),
    (
        "ratio-range-flipped",
        _edit("ratio = [0.5]", "ratio = {low = 0.8, high = 0.2}"),
        [],
        "pruning.ratio",
    ),
    ("empty-schedules", _edit('["ft", "clr"]', "[]"), [], "retrain.schedules"),
    ("typo-field", _edit('sampler = "random"', 'samplr = "random"'), [], "samplr"),
    ("wrong-type", _edit("trials = 2", 'trials = "many"'), [], "search.trials"),
    ("unknown-sampler", _edit('sampler = "random"', 'sampler = "bayes"'), [], "search.sampler"),
    ("missing-model", _edit('[model]\nname = "smallcnn"\n', ""), [], "model"),
    ("bad-toml", GOOD + "\n[search\n", [], "bad-input.toml"),
    ("cpu-zero", GOOD + "[resources]\ncpu = 0\n", [], "resources.cpu"),
    ("epochs-zero", _edit("epochs = [1]", "epochs = [0]"), [], "retrain.epochs"),
    (
        "max-lr-flipped",
        GOOD.replace("epochs = [1]\n", "epochs = [1]\nmax_lr = {low = 0.5, high = 0.1}\n", 1),
        [],
        "retrain.max_lr",
    ),
    (
        "cifar-missing-data",
        _edit('name = "digits"', 'name = "cifar10"\nroot = "/nonexistent/cifar"'),
        [],
        "dataset.root",
    ),
    ("unknown-override", GOOD, ["--set", "search.nope=1"], "search.nope"),
    # Schedule params that would turn a schedule into another one (docs/science.md §2): refused
    # from the file and from --set alike, before anything starts.
    (
        "decay-above-1",
        GOOD
        + '[retrain.schedule_params.clr]\nshape = "silo"\ndrop_epochs = []\ndrop_factors = []\n',
        [
            "--set",
            "retrain.epochs=[4]",
            "retrain.schedule_params.clr.drop_epochs=[2]",
            "retrain.schedule_params.clr.drop_factors=[2.0]",
        ],
        "drop_factors",
    ),
    (
        "warmup-divisor-below-1",
        GOOD + "[retrain.schedule_params.clr]\ndiv_factor = 0.5\n",
        [],
        "div_factor",
    ),
    (
        "initial-lr-above-peak",
        GOOD,
        ["--set", "retrain.schedule_params.clr.shape=silo", "retrain.schedule_params.clr.lr0=5.0"],
        "lr0",
    ),
    (
        "drops-collapse-in-a-short-round",
        GOOD + '[retrain.schedule_params.clr]\nshape = "silo"\n',
        [],
        "ramp is empty",
    ),
    ("scyc-one-shot", GOOD, ["--set", "retrain.schedules=[scyc]"], "iterative"),
    (
        "lottery-ticket-compressed-away",
        GOOD,
        ["--set", "retrain.schedules=[lrw]", "retrain.start=[init]"],
        "lrw: its replay",
    ),
    ("override-no-equals", GOOD, ["--set", "search.trials"], "key=value"),
    (
        "unreachable-tracking",
        GOOD,
        ["--tracking-uri", f"http://127.0.0.1:{_closed_port()}"],
        "tracking",
    ),
    ("unsupported-tracking", GOOD, ["--tracking-uri", "ftp://example/x"], "tracking"),
    ("unsupported-storage", GOOD, ["--storage", "mongodb://127.0.0.1/x"], "storage"),
    ("workdir-is-a-file", GOOD, ["--workdir", "__FILE__"], "workdir"),
    ("name-dots", GOOD, ["--set", "name=.."], "name"),
    ("name-too-long", GOOD, ["--set", "name=" + "x" * 101], "too long"),
    ("password-in-storage", GOOD, ["--storage", "postgresql://u:hunter2@127.0.0.1/x"], "password"),
    ("password-in-tracking", GOOD, ["--tracking-uri", "http://u:pw@127.0.0.1:1"], "password"),
    ("optuna-in-memory", GOOD, ["--storage", "sqlite:///:memory:"], "in-memory"),
    ("optuna-is-a-directory", GOOD, ["--storage", "sqlite:///__DIR__"], "not a file"),
    ("journal-empty", GOOD, ["--storage", "journal:"], "storage.optuna"),
    ("journal-under-proc", GOOD, ["--storage", "journal:/proc/x.log"], "kernel filesystem"),
    ("tracking-in-memory", GOOD, ["--tracking-uri", "sqlite:///:memory:"], "tracking.uri"),
    (
        "one-sqlite-for-both",
        GOOD,
        ["--storage", "sqlite:///__DIR__/one.db", "--tracking-uri", "sqlite:///__DIR__/one.db"],
        "its own file",
    ),
    (
        "multi-objective-grid",
        _edit('sampler = "random"', 'sampler = "grid"\nobjective = ["val_acc", "macs"]'),
        [],
        "search",
    ),
]

COMMAND_CASES = [
    ("no-such-study-file", ["run", "/nonexistent/study.toml"], "study.toml"),
    ("undecodable-study-file", ["run", "__BINARY__"], "UTF-8"),
    ("schedule-unknown", ["schedule", "clrr", "--epochs", "10"], "clrr"),
    ("schedule-epochs-zero", ["schedule", "clr", "--epochs", "0"], "--epochs"),
    ("schedule-no-epochs", ["schedule", "clr"], "--epochs"),
    ("schedule-bad-param", ["schedule", "clr", "--epochs", "5", "--set", "maxlr=0.1"], "maxlr"),
    (
        "scyc-ratio-range",
        ["schedule", "scyc", "--rounds", "3", "--round-ratio", "1.5"],
        "--round-ratio",
    ),
    (
        "report-unknown-model",
        ["prune-report", "resnet9000", "--method", "l1", "--ratio", "0.5"],
        "resnet9000",
    ),
    (
        "report-ratio-one",
        ["prune-report", "resnet20", "--method", "l1", "--ratio", "1.0"],
        "--ratio",
    ),
    (
        "report-unknown-method",
        ["prune-report", "resnet20", "--method", "l7", "--ratio", "0.5"],
        "l7",
    ),
    ("report-unknown-config", ["prune-report", "resnet56", "--config", "Z"], "Z"),
    ("report-config-misfit", ["prune-report", "vgg16", "--config", "resnet56-B"], "resnet56-B"),
    (
        "report-bad-format",
        ["prune-report", "resnet20", "--config", "A", "--format", "xml"],
        "format",
    ),
    ("unknown-command", ["frobnicate"], "frobnicate"),
    ("resume-unknown", ["resume", "no-such-study", "--workdir", "__WORKDIR__"], "no-such-study"),
]


def _assert_one_line_exit_2(code: int, err: str, needle: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("prunetune: error:"), lines[0]
    assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@pytest.mark.parametrize(
    ("text", "extra", "needle"), [c[1:] for c in STUDY_CASES], ids=[c[0] for c in STUDY_CASES]
)
def test_bad_study_is_one_line_exit_2(
    text, extra, needle, tmp_path: Path, capsys, monkeypatch
) -> None:
    """A malformed study file or flag: one line naming the field, exit 2, nothing created."""
    # A spy, not a mock: the real ensure_ray runs if called; the test fails if it ever is. (Ray
    # may already be up in this process from the integration fixtures, so ask the launcher.)
    import studies.session.launch

    ray_starts: list[str] = []
    real = studies.session.launch.ensure_ray
    monkeypatch.setattr(
        studies.session.launch,
        "ensure_ray",
        lambda *a, **k: ray_starts.append("called") or real(*a, **k),
    )
    study = tmp_path / "bad-input.toml"
    study.write_text(text)
    workdir = tmp_path / "runs"
    if "__FILE__" in extra:
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        extra = [str(blocker / "sub") if a == "__FILE__" else a for a in extra]
        workdir = None
    extra = [a.replace("__DIR__", str(tmp_path)) for a in extra]
    args = ["run", str(study), *extra]
    if workdir is not None:
        args += ["--workdir", str(workdir)]
    code = main(args)
    _assert_one_line_exit_2(code, capsys.readouterr().err, needle)
    if workdir is not None:
        assert not workdir.exists(), "a failed preflight must leave nothing behind"
    assert ray_starts == [], "Ray must not be started for a study that fails validation"


@pytest.mark.parametrize(
    ("args", "needle"), [c[1:] for c in COMMAND_CASES], ids=[c[0] for c in COMMAND_CASES]
)
def test_bad_command_is_one_line_exit_2(args, needle, tmp_path: Path, capsys) -> None:
    """A bad command line: one line naming the argument and the choices, exit 2."""
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'name = "x"\n\xff\xfe\x00garbage')
    swap = {"__WORKDIR__": str(tmp_path), "__BINARY__": str(binary)}
    args = [swap.get(a, a) for a in args]
    code = main(args)
    _assert_one_line_exit_2(code, capsys.readouterr().err, needle)
