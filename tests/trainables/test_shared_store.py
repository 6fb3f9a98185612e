"""trainables.shared_store without Ray: the local backend (atomic writes, a lock that excludes
another process) and the remote one against a moto S3 server on 127.0.0.1 (keys, locations,
reading a location back, checkpoints through bytes). Its Ray leases are tested on a multi-node
cluster in tests/cluster/test_s3_study.py."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "shared-store-test"
# moto accepts any credentials; without some, the AWS library sends unsigned chunked uploads
# that moto stores undecoded.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_root() -> Iterator[str]:
    """An s3:// root on a moto server on 127.0.0.1, its bucket created."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        import pyarrow.fs as pafs

        fs = pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
            allow_bucket_creation=True,
        )  # fmt: skip
        fs.create_dir(BUCKET)
        yield f"s3://{BUCKET}/study?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_local_write_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    """write() replaces a file whole (new inode via rename) and leaves no temporary behind."""
    from trainables.shared_store import LocalStore, open_store

    store = open_store(str(tmp_path))
    assert isinstance(store, LocalStore)
    assert not store.exists("dense/a.pt")
    store.write("dense/a.pt", b"old")
    first = os.stat(tmp_path / "dense" / "a.pt").st_ino
    store.write("dense/a.pt", b"new" * 1000)
    assert store.read("dense/a.pt") == b"new" * 1000
    assert os.stat(tmp_path / "dense" / "a.pt").st_ino != first  # renamed into place
    assert sorted(p.name for p in (tmp_path / "dense").iterdir()) == ["a.pt"]
    assert store.location("dense/a.pt") == str(tmp_path / "dense" / "a.pt")
    with pytest.raises(ValueError, match="relative path"):
        store.write("../escape.pt", b"x")


def test_local_lock_excludes_a_second_process(tmp_path: Path) -> None:
    """While this process holds lock(k), another process's lock(k) waits until it is released."""
    from trainables.shared_store import open_store

    store = open_store(str(tmp_path))
    child = textwrap.dedent(f"""
        import time
        from trainables.shared_store import open_store
        store = open_store({str(tmp_path)!r})
        print("waiting", time.time(), flush=True)
        with store.lock("dense/k"):
            print("acquired", time.time(), flush=True)
    """)
    with store.lock("dense/k"):
        proc = subprocess.Popen(
            [sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert proc.stdout is not None
        waiting = float(proc.stdout.readline().split()[1])
        time.sleep(1.0)  # the child is blocked on the lock meanwhile
        released = time.time()
    out, _ = proc.communicate(timeout=60)
    acquired = float(out.split()[1])
    assert proc.returncode == 0
    assert waiting < released <= acquired, (waiting, released, acquired)
    assert (tmp_path / "dense" / "k.lock").exists()


def test_remote_store_reads_writes_and_locates(s3_root: str) -> None:
    """On S3: exists/read/write by key, the location keeps the URI's query at the end and
    read_location reads it back, nothing is left beside the object."""
    import pyarrow.fs as pafs

    from trainables.shared_store import RemoteStore, open_store, read_location

    store = open_store(s3_root)
    assert isinstance(store, RemoteStore)
    assert not store.exists("checkpoints/s/run1.pt")
    store.write("checkpoints/s/run1.pt", b"weights")
    store.write("checkpoints/s/run1.pt", b"weights v2")
    assert store.exists("checkpoints/s/run1.pt")
    assert store.read("checkpoints/s/run1.pt") == b"weights v2"
    location = store.location("checkpoints/s/run1.pt")
    head, _, query = s3_root.partition("?")
    assert location == f"{head}/checkpoints/s/run1.pt?{query}"
    assert read_location(location) == b"weights v2"
    listed = store.fs.get_file_info(pafs.FileSelector(f"{BUCKET}/study", recursive=True))
    assert [i.path for i in listed if i.type == pafs.FileType.File] == [
        f"{BUCKET}/study/checkpoints/s/run1.pt"
    ]
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"


def test_checkpoints_round_trip_through_bytes(s3_root: str) -> None:
    """save_checkpoint/save_snapshots to bytes, a put, a get, load with weights_only=True."""
    import torch

    from pruning.checkpoint import load_checkpoint, save_checkpoint
    from pruning.models import build
    from pruning.snapshots import load_snapshots, save_snapshots, state_snapshot
    from trainables.shared_store import open_store, serialise

    torch.manual_seed(0)
    model = build("smallcnn", num_classes=10, in_channels=1, image_size=8, dims=2)
    store = open_store(s3_root)
    store.write("dense/m.pt", serialise(save_checkpoint, model=model, extra={"acc": 0.5}))
    states = {0: state_snapshot(model)}
    store.write("dense/m.snapshots.pt", serialise(save_snapshots, model=model, states=states))
    loaded = load_checkpoint(io.BytesIO(store.read("dense/m.pt")))
    assert loaded.extra == {"acc": 0.5}
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    snaps = load_snapshots(io.BytesIO(store.read("dense/m.snapshots.pt")))
    assert sorted(snaps.states) == [0]
    with pytest.raises(ValueError, match="checkpoint stream: not a prunetune checkpoint"):
        load_checkpoint(io.BytesIO(store.read("dense/m.snapshots.pt")))


SPEC = {
    "name": "s",
    "model": {"name": "smallcnn"},
    "dataset": {"name": "digits"},
    "pruning": {"ratio": [0.5]},
}


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        (
            "ray",
            "ftp://host/x",
            "unsupported storage URI 'ftp://host/x'; valid: a directory, s3://",
        ),
        ("shared", "s3:///prefix", "names no bucket"),
        ("shared", "s3://KEY:SECRET@bucket/p", "carries credentials"),
    ],
)
def test_spec_refuses_bad_storage_uris(field: str, value: str, needle: str) -> None:
    """storage.ray/shared: a directory or s3:// / gs://, with a bucket and no credentials."""
    from studies.errors import SpecError
    from studies.spec import validate

    with pytest.raises(SpecError) as caught:
        validate({**SPEC, "storage": {field: value}})
    assert f"storage.{field}: " in str(caught.value) and needle in str(caught.value)
    assert "\n" not in str(caught.value)


def test_resolve_makes_shared_the_workdir_or_keeps_the_uri(tmp_path: Path) -> None:
    """ "" → the workdir (absolute), a relative directory → absolute, a URI unchanged."""
    from studies.spec import resolve, validate

    spec = resolve(validate(SPEC), workdir=str(tmp_path / "wd"))
    assert spec.storage.shared == str(tmp_path / "wd")
    uri = "gs://bucket/prefix"
    spec = resolve(validate({**SPEC, "storage": {"shared": uri, "ray": uri}}), workdir="/w")
    assert (spec.storage.shared, spec.storage.ray) == (uri, uri)


def test_preflight_checks_a_remote_storage_creating_nothing(s3_root: str, tmp_path: Path) -> None:
    """A bucket that answers passes (nothing created in it); a missing bucket and a dead
    endpoint fail in seconds with one line naming the field."""
    import pyarrow.fs as pafs

    from studies.errors import UsageError
    from studies.session.preflight import check_storage_root, preflight
    from studies.spec import resolve, validate
    from trainables.shared_store import open_filesystem

    check_storage_root("storage.ray", s3_root.replace("/study?", "/fresh/prefix?"))
    fs, _ = open_filesystem(s3_root)
    assert not fs.get_file_info(pafs.FileSelector(f"{BUCKET}/fresh", allow_not_found=True))
    with pytest.raises(UsageError, match=r"^storage\.shared: bucket 'nope' .* does not exist"):
        check_storage_root("storage.shared", s3_root.replace(BUCKET, "nope"))
    dead = f"s3://{BUCKET}/p?endpoint_override=127.0.0.1:{_free_port()}&scheme=http"
    spec = resolve(validate({**SPEC, "storage": {"ray": dead}}), workdir=str(tmp_path / "wd"))
    began = time.monotonic()
    with pytest.raises(UsageError) as caught:
        preflight(spec)
    assert str(caught.value).startswith("storage.ray: ") and "\n" not in str(caught.value)
    assert time.monotonic() - began < 20
    assert not (tmp_path / "wd").exists()
