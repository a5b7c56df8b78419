"""SQLite store of sweep results: one row per finished point, committed as soon as it finishes.

A store belongs to one sweep spec (its digest is kept in ``meta``); running the same spec again skips the points
already stored, so a sweep killed at any moment resumes without losing or repeating a finished point.
"""

import json
import sqlite3
from pathlib import Path

from ..errors import EmpfError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
  key TEXT PRIMARY KEY, idx INTEGER NOT NULL, params TEXT NOT NULL, result TEXT NOT NULL, elapsed_s REAL NOT NULL
);
"""


class Store:
    def __init__(self, path: str | Path, spec=None):
        self.path = Path(path)
        if spec is None and not self.path.exists():
            raise EmpfError(f"store {self.path}: no such file")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise EmpfError(f"store {self.path}: not a sweep store ({e})") from None
        if spec is not None:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
            mine = json.dumps(spec.source, sort_keys=True)
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('spec', ?)", (mine,))
            elif row[0] != mine:
                raise EmpfError(f"store {self.path} holds results of another sweep spec "
                                f"({json.loads(row[0]).get('name')!r}); use another --store")

    def done(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM points")}

    def add(self, key: str, idx: int, params: dict, result: dict, elapsed_s: float) -> None:
        self.db.execute("INSERT INTO points VALUES (?, ?, ?, ?, ?)",
                        (key, idx, json.dumps(params, sort_keys=True), json.dumps(result, sort_keys=True),
                         elapsed_s))

    def rows(self) -> list[dict]:
        """Finished points in spec order: parameters and results merged."""
        return [{**json.loads(p), **json.loads(r)}
                for p, r in self.db.execute("SELECT params, result FROM points ORDER BY idx")]

    def spec_source(self) -> dict:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
        return json.loads(row[0]) if row else {}

    def close(self) -> None:
        self.db.close()
