"""SQLite store of sweep results: one row per finished point, committed as soon as it finishes.

A store belongs to one sweep spec (its digest is kept in ``meta``); running the same spec again skips the points
already stored, so a sweep killed at any moment resumes without losing or repeating a finished point.
"""

import json
import sqlite3
from pathlib import Path

from ..errors import EmpfError

SCHEMA = ("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
          "CREATE TABLE points (key TEXT PRIMARY KEY, idx INTEGER NOT NULL, params TEXT NOT NULL, "
          "result TEXT NOT NULL, elapsed_s REAL NOT NULL)")


class Store:
    """An empf-hw sweep store. Without ``spec`` it is opened read-only; with one it is created, or an existing
    store of the same spec is reopened. A file that is not an empf-hw store is refused and never modified."""

    def __init__(self, path: str | Path, spec=None):
        self.path = Path(path)
        if self.path.exists() or spec is None:
            stored = self._check_existing()
            if spec is None:
                self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
                return
            mine = json.dumps(spec.source, sort_keys=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            if stored != mine:
                if self.db.execute("SELECT COUNT(*) FROM points").fetchone()[0]:
                    self.db.close()
                    raise EmpfError(f"store {self.path} holds results of another sweep spec "
                                    f"({json.loads(stored).get('name')!r}); use another --store")
                self.db.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (mine,))  # an empty store is reused
            return
        parent = self.path.parent
        if not parent.is_dir():
            raise EmpfError(f"store {self.path}: {parent} is not a directory")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("BEGIN")  # schema and spec in one transaction: a killed start leaves no half store
            for stmt in SCHEMA:
                self.db.execute(stmt)
            self.db.execute("INSERT INTO meta VALUES ('spec', ?)", (json.dumps(spec.source, sort_keys=True),))
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            raise EmpfError(f"store {self.path}: cannot create ({e})") from None

    def _check_existing(self) -> str:
        """The stored spec of an existing empf-hw store (read-only look); EmpfError for anything else."""
        if not self.path.is_file():
            raise EmpfError(f"store {self.path}: no such file")
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                row = db.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone() if "meta" in tables else None
            finally:
                db.close()
        except sqlite3.Error as e:
            raise EmpfError(f"store {self.path}: not an empf-hw sweep store ({e})") from None
        try:
            ok = row is not None and "points" in tables and isinstance(json.loads(row[0]), dict)
        except json.JSONDecodeError:
            ok = False
        if not ok:
            raise EmpfError(f"store {self.path}: not an empf-hw sweep store (no meta/points tables written by "
                            "empf-hw sweep); allowed: a store written by empf-hw sweep, or a new file")
        return row[0]

    def done(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM points")}

    def add(self, key: str, idx: int, params: dict, result: dict, elapsed_s: float) -> None:
        self.db.execute("INSERT INTO points VALUES (?, ?, ?, ?, ?)",
                        (key, idx, json.dumps(params, sort_keys=True), json.dumps(result, sort_keys=True),
                         elapsed_s))

    def rows(self) -> list[dict]:
        """Finished points in spec order: parameters and results merged."""
        try:
            return [{**json.loads(p), **json.loads(r)}
                    for p, r in self.db.execute("SELECT params, result FROM points ORDER BY idx")]
        except (sqlite3.Error, json.JSONDecodeError, TypeError) as e:
            raise EmpfError(f"store {self.path}: unreadable points table ({e})") from None

    def spec_source(self) -> dict:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
        return json.loads(row[0]) if row else {}

    def close(self) -> None:
        self.db.close()
