"""Pytest fixtures and guards for the distributed-set-up infrastructure (imported by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.infra._proc import in_ci
from tests.infra.postgres import PostgresServer, postgres_available


def require(check: Callable[[], tuple[bool, str]]) -> None:
    """Skip the test when check() says the infrastructure is missing; in CI (env CI=true) fail instead."""
    ok, reason = check()
    if ok:
        return
    if in_ci():
        pytest.fail(f"required test infrastructure missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (skipped where unavailable, a failure in CI).

    Tests that share it should use their own study names (or their own database) to stay independent.
    """
    require(postgres_available)
    with PostgresServer() as server:
        yield server
