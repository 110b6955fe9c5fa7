"""The worker caps glibc's malloc arenas (see `postroom.worker.limit_malloc_arenas`)."""

from __future__ import annotations

import platform

import pytest

from postroom.worker import limit_malloc_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt arenas are a glibc feature")
def test_arena_cap_is_applied_on_glibc() -> None:
    assert limit_malloc_arenas() is True
