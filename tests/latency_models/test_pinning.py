"""Thread pinning: single-thread timing runs on one core and the affinity is restored afterwards."""

import os

import pytest

from latency_models.pinning import pin_core, pinned, pinning_supported


@pytest.mark.skipif(not pinning_supported(), reason="os.sched_setaffinity is not available on this OS")
def test_single_thread_is_pinned_and_restored():
    before = os.sched_getaffinity(0)
    with pinned(1) as core:
        assert core == pin_core(before)
        assert os.sched_getaffinity(0) == {core}
    assert os.sched_getaffinity(0) == before


@pytest.mark.skipif(not pinning_supported(), reason="os.sched_setaffinity is not available on this OS")
def test_restored_after_an_exception():
    before = os.sched_getaffinity(0)
    with pytest.raises(RuntimeError):
        with pinned(1):
            raise RuntimeError("boom")
    assert os.sched_getaffinity(0) == before


def test_multi_thread_is_not_pinned():
    before = os.sched_getaffinity(0) if pinning_supported() else None
    with pinned(4) as core:
        assert core is None
        if before is not None:
            assert os.sched_getaffinity(0) == before


def test_without_os_support_does_nothing(monkeypatch):
    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    with pinned(1) as core:
        assert core is None


def test_not_permitted_measures_unpinned(monkeypatch):
    if not pinning_supported():
        pytest.skip("no affinity API")

    def deny(*a):
        raise PermissionError("not permitted")
    monkeypatch.setattr(os, "sched_setaffinity", deny)
    with pinned(1) as core:
        assert core is None
