"""Shared fixtures of the care use-case tests."""

from __future__ import annotations

import pytest

from ketamine_ptsd.store import Records


@pytest.fixture
def records(tmp_path, request):
    """An empty SQLite records database; its clock is the test module's ``NOW`` where the
    module defines one (the use cases read dates relative to it), else the real clock."""
    service = Records.open(f"sqlite:///{tmp_path / 'records.sqlite'}", actor="tester")
    now = getattr(request.module, "NOW", None)
    if now is not None:
        service.now = lambda: now
    yield service
    service.close()
