"""Fixtures of the dashboard tests: the synthetic study (see synthetic.py), made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nas.views.dashboard.synthetic import make_study


@pytest.fixture(scope="session")
def synthetic_db(tmp_path_factory) -> str:
    """Storage argument (an SQLite path) of the synthetic study 'synthetic'."""
    return make_study(Path(tmp_path_factory.mktemp("dash-study")) / "study.db")


@pytest.fixture(scope="session")
def synthetic_data(synthetic_db):
    from nas.views.dashboard.data import load_study_data

    return load_study_data(synthetic_db, "synthetic")


@pytest.fixture(scope="session")
def script_db(tmp_path_factory) -> str:
    """A study whose name is an HTML injection attempt."""
    return make_study(Path(tmp_path_factory.mktemp("dash-xss")) / "xss.db", study_name=SCRIPT_NAME)


SCRIPT_NAME = '<script>alert("x")</script><img src=x onerror=alert(1)>'
