"""Generated MNIST-1D is kept on disk once per setting: a second process (cache in memory gone)
reads the same arrays without generating them again; a broken file is regenerated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pruning.data import embedded


def _fresh(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv(embedded.CACHE_ENV, str(cache))
    embedded._mnist1d_arrays.cache_clear()


def test_second_load_reads_the_file_not_the_generator(tmp_path, monkeypatch) -> None:
    """Same arrays, bit for bit, and make_dataset is not called the second time."""
    _fresh(monkeypatch, tmp_path)
    first = [a.copy() for a in embedded._mnist1d_arrays(embedded.MNIST1D_DEFAULTS)]
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 1
    _fresh(monkeypatch, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("generated again although the file is there")

    monkeypatch.setattr("mnist1d.data.make_dataset", refuse)
    again = embedded._mnist1d_arrays(embedded.MNIST1D_DEFAULTS)
    assert all(
        np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(first, again, strict=True)
    )
    assert not again[0].flags.writeable
    embedded._mnist1d_arrays.cache_clear()


def test_a_broken_file_is_regenerated(tmp_path, monkeypatch) -> None:
    """A truncated cache file (a crash mid-write elsewhere) is replaced, not trusted."""
    _fresh(monkeypatch, tmp_path)
    good = [a.copy() for a in embedded._mnist1d_arrays(embedded.MNIST1D_DEFAULTS)]
    (path,) = tmp_path.glob("mnist1d-*.npz")
    path.write_bytes(path.read_bytes()[:100])
    _fresh(monkeypatch, tmp_path)
    again = embedded._mnist1d_arrays(embedded.MNIST1D_DEFAULTS)
    assert all(np.array_equal(a, b) for a, b in zip(good, again, strict=True))
    embedded._mnist1d_arrays.cache_clear()
