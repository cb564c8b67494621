"""Experiments, their runs and every recorded session, in one SQLite file.

The console can stop at any moment (Ctrl-C, a crash, a reboot), so everything an
experiment needs to go on is written as it happens: the design and plan at creation,
each run of the platform when it starts, finished sessions in batches as the platform
hands them over. The token itself is never stored, only its digest (experiment/tokens.py).
Each call opens its own connection, so the web threads and the runner thread never share
one; WAL lets the live view read while the runner writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator, Optional

import pandas as pd

from console.forms import Settings
from experiment.planner import Plan

CREATED, WAITING, RUNNING, INTERRUPTED, FAILED, ANALYSING, DONE = (
    "created",
    "waiting",
    "running",
    "interrupted",
    "failed",
    "analysing",
    "done",
)
ACTIVE = (WAITING, RUNNING, ANALYSING)  # states only a live runner thread can be in
STARTABLE = (CREATED, INTERRUPTED, FAILED)

SESSION_COLUMNS = (
    "uuid",
    "arm",
    "started_at",
    "decided_at",
    "decision",
    "source",
    "model",
    "missing_side",
    "buys_if_shown",
    "pre_revenue",
    "revenue",
    "offline_decision",
    "baseline_decision",
)

# Columns added after the first release: a database created before them gets them at start.
ADDED_COLUMNS = {"settings": "TEXT NOT NULL DEFAULT '{}'", "archived": "INTEGER NOT NULL DEFAULT 0"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    plan TEXT NOT NULL,            -- the resolved design (experiment.planner.Plan) as JSON
    salt TEXT NOT NULL,            -- the assignment hash's salt, new for every experiment
    token_sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    verdict TEXT,
    settings TEXT NOT NULL DEFAULT '{}',  -- console.forms.Settings as JSON
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    seed INTEGER NOT NULL,
    sessions INTEGER NOT NULL,     -- sessions this run was to add
    started_at REAL NOT NULL,
    ended_at REAL,
    tally TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS sessions (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    run_id INTEGER NOT NULL REFERENCES runs(id),
    uuid INTEGER NOT NULL, arm TEXT NOT NULL, started_at REAL NOT NULL, decided_at REAL NOT NULL,
    decision INTEGER NOT NULL, source TEXT NOT NULL, model TEXT NOT NULL, missing_side TEXT NOT NULL,
    buys_if_shown INTEGER NOT NULL, pre_revenue REAL NOT NULL, revenue REAL NOT NULL,
    offline_decision INTEGER NOT NULL, baseline_decision INTEGER NOT NULL,
    PRIMARY KEY (experiment_id, uuid)
);
"""


@dataclass(frozen=True)
class Experiment:
    id: int
    created_at: float
    plan: Plan
    salt: str
    token_sha256: str
    state: str
    message: str
    verdict: Optional[str]
    settings: Settings
    archived: bool


class Store:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            have = {row["name"] for row in db.execute("PRAGMA table_info(experiments)")}
            for column, declaration in ADDED_COLUMNS.items():
                if column not in have:
                    db.execute(f"ALTER TABLE experiments ADD COLUMN {column} {declaration}")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            with db:  # one transaction: committed on success, rolled back on error
                yield db

    def create(self, plan: Plan, settings: Settings, salt: str, token_sha256: str) -> int:
        design = {f.name: getattr(plan, f.name) for f in fields(plan)}
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO experiments (created_at, plan, settings, salt, token_sha256, state) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), json.dumps(design), json.dumps(settings.as_dict()), salt, token_sha256, CREATED),
            )
            return int(cursor.lastrowid)

    def archive(self, experiment_id: int, archived: bool) -> None:
        with self._db() as db:
            db.execute("UPDATE experiments SET archived = ? WHERE id = ?", (int(archived), experiment_id))

    def delete(self, experiment_id: int) -> None:
        """The experiment with its runs and sessions (the caller makes sure none is running)."""
        with self._db() as db:
            for table, key in (("sessions", "experiment_id"), ("runs", "experiment_id"), ("experiments", "id")):
                db.execute(f"DELETE FROM {table} WHERE {key} = ?", (experiment_id,))

    def get(self, experiment_id: int) -> Optional[Experiment]:
        with self._db() as db:
            row = db.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        return None if row is None else _experiment(row)

    def all(self) -> list[Experiment]:
        with self._db() as db:
            return [_experiment(row) for row in db.execute("SELECT * FROM experiments ORDER BY id DESC")]

    def set_state(self, experiment_id: int, state: str, message: str = "", verdict: Optional[str] = None) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE experiments SET state = ?, message = ?, verdict = ? WHERE id = ?",
                (state, message, verdict, experiment_id),
            )

    def interrupt_unfinished(self) -> list[int]:
        """At start-up: experiments left in an active state lost their runner with the
        previous console; they keep what was recorded and can be resumed."""
        with self._db() as db:
            ids = [
                row["id"]
                for row in db.execute(
                    f"SELECT id FROM experiments WHERE state IN ({','.join('?' * len(ACTIVE))})", ACTIVE
                )
            ]
            for experiment_id in ids:
                db.execute(
                    "UPDATE experiments SET state = ?, message = ? WHERE id = ?",
                    (INTERRUPTED, "the console stopped during the run; what was recorded is kept", experiment_id),
                )
            db.execute("UPDATE runs SET ended_at = ? WHERE ended_at IS NULL", (time.time(),))
        return ids

    def add_run(self, experiment_id: int, seed: int, sessions: int) -> int:
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO runs (experiment_id, seed, sessions, started_at) VALUES (?, ?, ?, ?)",
                (experiment_id, seed, sessions, time.time()),
            )
            return int(cursor.lastrowid)

    def update_run(self, run_id: int, tally: dict, ended: bool = False) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE runs SET tally = ?, ended_at = ? WHERE id = ?",
                (json.dumps(tally), time.time() if ended else None, run_id),
            )

    def runs(self, experiment_id: int) -> list[dict]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM runs WHERE experiment_id = ? ORDER BY id", (experiment_id,)).fetchall()
        return [{**dict(row), "tally": json.loads(row["tally"])} for row in rows]

    def add_sessions(self, experiment_id: int, run_id: int, frame: pd.DataFrame) -> None:
        rows = frame[list(SESSION_COLUMNS)].astype(object).itertuples(index=False)
        with self._db() as db:
            db.executemany(
                f"INSERT INTO sessions (experiment_id, run_id, {', '.join(SESSION_COLUMNS)}) "
                f"VALUES (?, ?, {', '.join('?' * len(SESSION_COLUMNS))})",
                ((experiment_id, run_id, *row) for row in rows),
            )

    def count(self, experiment_id: int) -> int:
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM sessions WHERE experiment_id = ?", (experiment_id,)).fetchone()[0]

    def sessions(self, experiment_id: int) -> pd.DataFrame:
        """The recorded sessions in start order, with the analysis' column types."""
        with self._db() as db:
            frame = pd.read_sql_query(
                f"SELECT run_id, {', '.join(SESSION_COLUMNS)} FROM sessions "
                "WHERE experiment_id = ? ORDER BY started_at, uuid",
                db,
                params=(experiment_id,),
            )
        return frame.astype(
            {"buys_if_shown": bool, "decision": "int8", "offline_decision": "int8", "baseline_decision": "int8"}
        )


def _experiment(row: sqlite3.Row) -> Experiment:
    settings = json.loads(row["settings"])
    return Experiment(
        row["id"],
        row["created_at"],
        Plan(**json.loads(row["plan"])),
        row["salt"],
        row["token_sha256"],
        row["state"],
        row["message"],
        row["verdict"],
        Settings(**{"name": f"experiment {row['id']}", **settings}),
        bool(row["archived"]),
    )
