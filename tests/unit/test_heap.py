"""The collector pause around bulk work: off inside, restored after, nested and failing uses included."""

from __future__ import annotations

import gc

import pytest

from crosswalk.heap import collector_paused


def test_collector_off_inside_and_back_on_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner use leaves the outer one's pause alone
    assert gc.isenabled()


def test_collector_back_on_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
