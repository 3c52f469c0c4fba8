"""nas.search.storage: read-only opening after a writer was killed mid-transaction."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import optuna
import pytest

from nas.search.storage import open_read_only

WRITER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=1")  # spill to the file mid-transaction: the journal becomes hot when killed
con.execute("BEGIN")
for i in range(3000):
    con.execute("INSERT INTO pad VALUES (?, ?)", (i, "x" * 200))
print("ready", flush=True)
time.sleep(120)
"""


def test_a_reader_recovers_a_journal_left_by_a_killed_writer(tmp_path):
    db = tmp_path / "studies.db"
    study = optuna.create_study(storage=f"sqlite:///{db}", study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE pad (a, b)")
    con.commit()
    con.close()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
    finally:
        writer.kill()
        writer.wait()
    journal = db.with_name(db.name + "-journal")
    assert journal.stat().st_size > 0
    plain = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError):  # what a read-only reader meets without the recovery
        plain.execute("SELECT count(*) FROM trials").fetchall()
    plain.close()

    loaded = optuna.load_study(study_name="s", storage=open_read_only(str(db)))
    assert [t.params["x"] for t in loaded.trials] == [t.params["x"] for t in study.trials]
    assert not journal.exists() or journal.stat().st_size == 0
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM pad").fetchone() == (0,)  # the killed transaction rolled back
    con.close()
