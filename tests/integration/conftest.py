"""Fixtures for tests through real components: a local Ray on loopback and tiny study files."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.study_helpers import TINY_STUDY


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real local Ray (2 CPUs) bound to 127.0.0.1; yields its GCS address for drivers."""
    from studies.session.ray_session import set_loopback_env

    set_loopback_env()
    import ray

    if ray.is_initialized():  # an in-process study (studies.run) started it already
        yield ray.get_runtime_context().gcs_address
        return
    temp = Path("/tmp") / f"pt-ray-{os.getpid()}"
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=str(temp),
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny study file; keyword arguments fill the template."""

    def write(**kw: object) -> Path:
        values = {
            "name": "tiny",
            "methods": '["l1"]',
            "ratio": "[0.5]",
            "schedules": '["ft", "clr"]',
            "epochs": 2,
            "sampler": "random",
            "trials": 4,
        }
        values.update(kw)
        path = tmp_path / f"{values['name']}.toml"
        path.write_text(textwrap.dedent(TINY_STUDY.format(**values)))
        return path

    return write
