"""The study file: malformed files and overrides give one line naming the field and the valid
choices; good files (the quickstart preset) validate, resolve and hash stably."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from studies.cli.args import parse_assignments
from studies.errors import UsageError
from studies.spec import (
    SpecError,
    StudySpec,
    list_presets,
    load_spec,
    resolve,
    spec_hash,
    validate,
)

BASE = """\
name = "unit"
[model]
name = "resnet20"
[dataset]
name = "mnist1d"
[pretrain]
epochs = 10
[pruning]
methods = ["l1"]
ratio = [0.5]
[retrain]
schedules = ["ft", "lrw", "clr"]
epochs = [4]
max_lr = { low = 0.01, high = 0.3 }
[search]
sampler = "tpe"
trials = 6
"""


def _edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def _add(section: str, line: str) -> str:
    return _edit(f"[{section}]\n", f"[{section}]\n{line}\n")


# (id, study text, --set overrides, the field path the line names, text the line contains)
BAD = [
    ("missing-section", _edit('[model]\nname = "resnet20"\n', ""), {}, "model", "required"),
    ("missing-field", _edit('name = "resnet20"\n', ""), {}, "model.name", "resnet20"),
    ("missing-name", _edit('name = "unit"\n', ""), {}, "name", "letters"),
    ("trials-string", _edit("trials = 6", 'trials = "many"'), {}, "search.trials", "integer"),
    ("batch-float", _add("retrain", "batch_size = 6.4"), {}, "retrain.batch_size", "integer"),
    ("download-string", _add("dataset", 'download = "yes"'), {}, "dataset.download", "true"),
    ("unknown-model", _edit('"resnet20"', '"resnet9000"'), {}, "model.name", "resnet56"),
    ("unknown-dataset", _edit('"mnist1d"', '"mnist3d"'), {}, "dataset.name", "mnist1d"),
    ("unknown-method", _edit('["l1"]', '["l1", "l7"]'), {}, "pruning.methods[1]", "slimming"),
    ("unknown-schedule", _edit('"clr"]', '"clrr"]'), {}, "retrain.schedules[2]", "cosine"),
    ("ratio-above-1", _edit("[0.5]", "[0.5, 1.2]"), {}, "pruning.ratio[1]", "[0, 1)"),
    ("ratio-nan", _edit("[0.5]", "[nan]"), {}, "pruning.ratio[0]", "[0, 1)"),
    ("ratio-flipped", _edit("[0.5]", "{ low = 0.8, high = 0.2 }"), {}, "pruning.ratio", "low"),
    ("ratio-string", _edit("[0.5]", '"half"'), {}, "pruning.ratio[0]", "number"),
    ("max-lr-zero", _edit("low = 0.01", "low = 0.0"), {}, "retrain.max_lr.low", "> 0"),
    ("max-lr-flipped", _edit("high = 0.3", "high = 0.001"), {}, "retrain.max_lr", "low < high"),
    ("empty-schedules", _edit('["ft", "lrw", "clr"]', "[]"), {}, "retrain.schedules", "empty"),
    (
        "dup-schedules",
        _edit('["ft", "lrw", "clr"]', '["ft", "ft"]'),
        {},
        "retrain.schedules",
        "ft",
    ),
    ("epochs-zero", _edit("epochs = [4]", "epochs = [0]"), {}, "retrain.epochs[0]", ">= 1"),
    ("typo-field", _edit("sampler", "samplr"), {}, "search.samplr", "did you mean 'sampler'"),
    ("typo-section", _edit("[search]", "[serach]"), {}, "serach", "search"),
    ("typo-range", _edit("high = 0.3", "hi = 0.3"), {}, "retrain.max_lr.hi", "high"),
    ("bad-sampler", _edit('"tpe"', '"bayes"'), {}, "search.sampler", "tpe, random, grid"),
    ("bad-kind", _edit('name = "unit"', 'name = "unit"\nkind = "oracl"'), {}, "kind", "oracle"),
    ("bad-name", _edit('name = "unit"', 'name = "my study"'), {}, "name", "letters"),
    ("config-and-ratio", _add("pruning", 'configs = ["A"]'), {}, "pruning.configs", "not both"),
    (
        "config-misfit",
        _edit('"resnet20"', '"resnet56"').replace("ratio = [0.5]", 'configs = ["vgg16-A"]'),
        {},
        "pruning.configs[0]",
        "resnet56-B",
    ),
    ("config-no-fit", _edit("ratio = [0.5]", 'configs = ["B"]'), {}, "pruning.configs[0]", "use"),
    (
        "config-slimming",
        _edit('"resnet20"', '"resnet56"').replace("ratio = [0.5]", 'configs = ["B"]'),
        {"pruning.methods": ["slimming"]},
        "pruning.methods[0]",
        "l1",
    ),
    ("no-amount", _edit("ratio = [0.5]\n", ""), {}, "pruning.ratio", "configs"),
    ("cifar-no-root", _edit('"mnist1d"', '"cifar10"'), {}, "dataset.root", "directory"),
    ("dims-mismatch", _edit('"resnet20"', '"resnet18"'), {}, "model.name", "resnet20"),
    ("grid-with-range", _edit('"tpe"', '"grid"'), {}, "retrain.max_lr", "list"),
    (
        "grid-multi-objective",
        _edit('"tpe"', '"grid"\nobjective = ["val_acc", "macs"]'),
        {"retrain.max_lr": [0.1]},
        "search.sampler",
        "tpe, random",
    ),
    (
        "asha-multi",
        _add("search", 'scheduler = "asha"\nobjective = ["val_acc", "macs"]'),
        {},
        "search.scheduler",
        "fifo",
    ),
    ("unknown-metric", _add("search", 'objective = "test_acc"'), {}, "search.objective", "macs"),
    ("cpu-negative", BASE + "[resources]\ncpu = -1\n", {}, "resources.cpu", "> 0"),
    ("gpu-negative", BASE + "[resources]\ngpu = -0.5\n", {}, "resources.gpu", ">= 0"),
    ("failures-negative", _add("search", "max_failures = -1"), {}, "search.max_failures", ">= 0"),
    ("trials-zero-tpe", _edit("trials = 6", "trials = 0"), {}, "search.trials", ">= 1"),
    ("no-val-split", _add("dataset", "val_fraction = 0.0"), {}, "dataset.val_fraction", "(0, 1)"),
    ("iterative-1-round", _add("pruning", 'schedule = "iterative"'), {}, "pruning.rounds", ">= 2"),
    ("one-shot-rounds", _add("pruning", "rounds = 3"), {}, "pruning.rounds", "iterative"),
    (
        "include-fc-structured",
        _add("pruning", "include_fc = true"),
        {},
        "pruning.include_fc",
        "magnitude",
    ),
    ("pretrain-scyc", _add("pretrain", 'schedule = "scyc"'), {}, "pretrain.schedule", "step"),
    (
        "nesterov-no-momentum",
        _add("retrain", "nesterov = true\nmomentum = 0.0"),
        {},
        "retrain.nesterov",
        "momentum",
    ),
    (
        "lrw-not-replaying",
        BASE + "[retrain.schedule_params.lrw]\noriginal_epochs = 160\n",
        {},
        "retrain.schedule_params.lrw.original_epochs",
        "10",
    ),
    ("lrw-too-long", _edit("epochs = [4]", "epochs = [4, 20]"), {}, "retrain.epochs", "(10)"),
    (
        "schedule-param-typo",
        BASE + "[retrain.schedule_params.clr]\nmaxlr = 0.1\n",
        {},
        "retrain.schedule_params.clr.maxlr",
        "pct_start",
    ),
    (
        "schedule-param-value",
        BASE + "[retrain.schedule_params.clr]\npct_start = 2.0\n",
        {},
        "retrain.schedule_params.clr",
        "pct_start",
    ),
    (
        "schedule-params-unknown",
        BASE + "[retrain.schedule_params.clrr]\npct_start = 0.2\n",
        {},
        "retrain.schedule_params.clrr",
        "clr",
    ),
    ("max-lr-only-ft", BASE, {"retrain.schedules": ["ft"]}, "retrain.max_lr", "clr"),
    ("scyc-one-shot", BASE, {"retrain.schedules": ["scyc"]}, "retrain.schedules[0]", "iterative"),
    ("tracking-scheme", BASE + '[tracking]\nuri = "ftp://x/y"\n', {}, "tracking.uri", "sqlite"),
    (
        "storage-scheme",
        BASE + '[storage]\noptuna = "mongodb://x"\n',
        {},
        "storage.optuna",
        "journal",
    ),
    ("ray-address", BASE + '[ray]\naddress = "not an address"\n', {}, "ray.address", "auto"),
    ("widths-bad", _add("model", 'widths = [16, "X", 64]'), {}, "model.widths", '"M"'),
    ("override-unknown", BASE, {"search.nope": 1}, "--set search.nope", "sampler"),
    ("override-unknown-section", BASE, {"serach.trials": 1}, "--set serach.trials", "search"),
    ("override-type", BASE, {"search.trials": "many"}, "search.trials", "integer"),
    ("override-into-value", BASE, {"name.x": 1}, "--set name.x", "name"),
]


@pytest.mark.parametrize(
    ("text", "overrides", "path", "needle"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_malformed_study_is_one_line_naming_the_field(text, overrides, path, needle, tmp_path):
    """Every malformed file/override → one SpecError line: file, field path, valid choices."""
    study = tmp_path / "study.toml"
    study.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(str(study), overrides)
    line = str(caught.value)
    assert "\n" not in line, line
    assert line.startswith(f"{study}: {path}: ") or line.startswith(f"{study}: {path}:"), line
    assert needle in line, f"{needle!r} not in {line!r}"
    assert isinstance(caught.value, UsageError)


def test_valid_choices_are_listed_for_names_and_enums(tmp_path):
    """Unknown registry names and enum values end with '; valid: <every choice>'."""
    study = tmp_path / "study.toml"
    study.write_text(_edit('"clr"]', '"clrr"]'))
    with pytest.raises(SpecError, match=r"retrain\.schedules\[2\]: unknown schedule 'clrr'") as e:
        load_spec(str(study))
    assert "; valid: clr, constant, cosine, ft, lrw, scyc, slr, step" in str(e.value)
    study.write_text(BASE + "[resources]\ncpu = 0\n")
    with pytest.raises(SpecError, match=r"resources\.cpu: 0\.0 is out of range; valid: > 0$"):
        load_spec(str(study))


def test_bad_toml_names_file_line_and_column(tmp_path):
    """A TOML syntax error is one line with file:line:column and the parser's message."""
    study = tmp_path / "broken.toml"
    study.write_text(_edit("[search]", "[search"))
    with pytest.raises(SpecError) as caught:
        load_spec(str(study))
    line = str(caught.value)
    assert line.startswith(f"{study}:15:8: invalid TOML: Expected ']'"), line
    assert "\n" not in line


def test_missing_file_and_unknown_preset():
    """A path that does not exist, or a preset name that is not shipped, lists the presets."""
    with pytest.raises(SpecError, match=r"^/nonexistent/study\.toml: no such study file; valid"):
        load_spec("/nonexistent/study.toml")
    with pytest.raises(SpecError, match=r"^quikstart: no such study file or preset; .*quickstart"):
        load_spec("quikstart")


def test_quickstart_preset_validates_and_is_listed():
    """The quickstart preset validates; list_presets() shows it with its description."""
    spec = load_spec("quickstart")
    assert spec.name == "quickstart" and spec.dataset.name == "mnist1d"
    assert set(spec.retrain.schedules) == {"ft", "lrw", "slr", "clr"}
    lrw = spec.retrain.schedule_params["lrw"]
    assert lrw["original_epochs"] == spec.pretrain.epochs and lrw["base_lr"] == spec.pretrain.lr
    names = dict(list_presets())
    assert "quickstart" in names and "MNIST-1D" in names["quickstart"]


def test_lrw_params_are_filled_from_pretraining():
    """Left out, lrw's original run is the pretraining run (epochs, lr, drops in epochs)."""
    spec = validate(_toml(BASE))
    assert spec.retrain.schedule_params["lrw"] == {
        "original_epochs": 10,
        "base_lr": 0.1,
        "milestones": [5, 8],
    }


def test_overrides_apply_dotted_paths_before_validation():
    """--set values (as parse_assignments gives them) land on the raw file before validation."""
    overrides = parse_assignments(
        [
            "search.sampler=tpe",
            "search.trials=4",
            "retrain.epochs=[2]",
            'retrain.schedules=["ft","clr"]',
            "pruning.ratio={low = 0.2, high = 0.6}",
            "retrain.schedule_params.clr.pct_start=0.2",
            "name=renamed",
        ]
    )
    spec = load_spec("quickstart", overrides)
    assert (spec.search.trials, spec.retrain.epochs, spec.name) == (4, [2], "renamed")
    assert spec.retrain.schedules == ["ft", "clr"]
    assert (spec.pruning.ratio.low, spec.pruning.ratio.high) == (0.2, 0.6)
    assert spec.retrain.schedule_params["clr"]["pct_start"] == 0.2


def test_scalars_become_one_element_lists():
    """`ratio = 0.5`, `epochs = 4` and `--set retrain.epochs=4` mean one-element lists."""
    spec = validate(_toml(_edit("ratio = [0.5]", "ratio = 0.5").replace("[4]", "4")))
    assert spec.pruning.ratio == [0.5] and spec.retrain.epochs == [4]


def test_resolved_fills_defaults_with_absolute_paths(tmp_path, monkeypatch):
    """resolved(): workdir-based sqlite/ray defaults, absolute, arguments win; idempotent."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRUNETUNE_WORKDIR", raising=False)
    spec = resolve(load_spec("quickstart"))
    wd = tmp_path / "prunetune-runs"
    assert spec.storage.workdir == str(wd)
    assert spec.storage.optuna == f"sqlite:///{wd}/optuna.db"
    assert spec.storage.ray == str(wd / "ray")
    assert spec.tracking.uri == f"sqlite:///{wd}/mlflow.db"
    assert spec.tracking.experiment == "quickstart"
    assert resolve(spec) == spec
    other = resolve(
        load_spec("quickstart"),
        workdir="elsewhere",
        tracking_uri="http://127.0.0.1:5000",
        storage_url="sqlite:///rel/optuna.db",
        address="127.0.0.1:6379",
    )
    assert other.storage.workdir == str(tmp_path / "elsewhere")
    assert other.tracking.uri == "http://127.0.0.1:5000"
    assert other.storage.optuna == f"sqlite:///{tmp_path}/rel/optuna.db"
    assert other.ray.address == "127.0.0.1:6379"


def test_resolved_rejects_bad_arguments():
    """A bad --tracking-uri / --storage / --address is the same one-line error."""
    spec = load_spec("quickstart")
    with pytest.raises(SpecError, match=r"tracking\.uri: unsupported tracking URI 'ftp://x'"):
        resolve(spec, tracking_uri="ftp://x")
    with pytest.raises(SpecError, match=r"storage\.optuna: unsupported storage"):
        resolve(spec, storage_url="mongodb://127.0.0.1/x")


def test_dump_round_trips():
    """The resolved spec, dumped to JSON (trial config, study record), validates back equal."""
    spec = resolve(load_spec("quickstart"), workdir="/tmp/prunetune-test")
    assert StudySpec.model_validate(spec.model_dump(mode="json")) == spec


def test_spec_hash_is_stable_and_ignores_paths():
    """spec_hash: same for the same science, blind to workdir/tracking/storage/concurrency."""
    a = load_spec("quickstart")
    b = load_spec("quickstart", {"search.concurrency": 1, "dataset.root": "/data"})
    h = spec_hash(a)
    assert len(h) == 16 and h == spec_hash(load_spec("quickstart")) == spec_hash(b)
    assert spec_hash(resolve(a, workdir="/tmp/x", tracking_uri="http://127.0.0.1:1")) == h
    assert spec_hash(resolve(a, workdir="/tmp/y", storage_url="journal:/tmp/j.log")) == h
    assert spec_hash(load_spec("quickstart", {"retrain.epochs": [9]})) != h
    assert spec_hash(load_spec("quickstart", {"search.seeds": [0, 1]})) != h


def test_importing_spec_stays_cheap():
    """`import studies.spec` (and the CLI's parser) pulls in neither torch, optuna, ray nor
    mlflow: --help, presets and every spec error stay fast."""
    code = (
        "import sys, studies.spec, studies.spec.derived, studies.cli; "
        "print(sorted(m for m in ('torch', 'optuna', 'ray', 'mlflow') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def _toml(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)


@pytest.mark.parametrize("preset", [name for name, _ in list_presets()])
def test_every_preset_validates(preset: str, tmp_path: Path) -> None:
    """Every shipped preset is a valid study (CIFAR ones once told where the data is) with a
    description; iterative ones reach the sparsity their comments promise (rounds ≥ 2)."""
    spec = (
        load_spec(preset)
        if not _needs_root(preset)
        else load_spec(preset, {"dataset.root": str(tmp_path)})
    )
    assert spec.name == preset and spec.description
    if spec.pruning.schedule == "iterative":
        assert spec.pruning.rounds >= 2


def _needs_root(preset: str) -> bool:
    import tomllib
    from importlib import resources

    text = (resources.files("studies.presets") / f"{preset}.toml").read_text()
    return tomllib.loads(text)["dataset"]["name"] in ("cifar10", "cifar100", "imagefolder")


@pytest.mark.parametrize("preset", [name for name, _ in list_presets()])
def test_spec_written_as_toml_reads_back_the_same(preset: str) -> None:
    """spec_to_toml (the study file logged with every study) loads back to the same spec."""
    import tomllib

    from studies.spec.dump import spec_to_toml

    spec = load_spec(preset, {"dataset.root": "/data"} if _needs_root(preset) else None)
    assert validate(tomllib.loads(spec_to_toml(spec))) == spec
