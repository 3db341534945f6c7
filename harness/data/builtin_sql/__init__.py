"""The built-in text-to-SQL dataset: generated SQLite databases plus question/SQL pairs.

Everything is generated here from a seed (no downloads, no copied data), so a run can check
predictions by *executing* them against the same databases the gold SQL was run on.

    pairs = load(seed=0)            # generates into the cache on first use, then reuses it
    build(seed=0, out_dir=path)     # the deterministic generator behind it

Each pair has exactly the keys in `FIELDS`. `group` is shared by all paraphrases of one gold SQL
on one database; the data stage splits by it so a test question never has a train paraphrase.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from harness.data.builtin_sql import naming, questions, schemas

VERSION = "v2"  # bump when generation changes, so old caches are not reused
# Every database, domain or renamed variant, gets this share of each shape's gold queries: the set
# stays near 20k pairs, and no naming convention outweighs the others in a random sample.
SHARE = 0.4
FIELDS = ("id", "db_id", "db_path", "schema", "schema_brief", "question", "sql", "category",
          "difficulty", "group", "result")
CATEGORIES = ("select_where", "date_filter", "like", "in_list", "between", "order_limit",
              "aggregate", "group_by_having", "distinct", "join", "multi_join", "nested")
DIFFICULTIES = ("easy", "medium", "hard")
PAIRS_FILE = "pairs.jsonl"


def build(seed: int, out_dir: Path) -> None:
    """Write `<db_id>.sqlite` for every domain and `pairs.jsonl` into `out_dir`.

    Same seed => byte-identical files (same SQLite library assumed). `db_path` is stored relative
    to `out_dir` so the bytes do not depend on where the dataset lives; `load` makes it absolute.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for db in naming.DATABASES:
        rows = schemas.generate_rows(db, random.Random(f"{seed}:{db.db_id}:rows"))
        path = out_dir / f"{db.db_id}.sqlite"
        schemas.write_sqlite(db, rows, path)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # read-only: bytes stay put
        try:
            pairs = questions.generate(db, rows, conn, random.Random(f"{seed}:{db.db_id}:pairs"), SHARE)
        finally:
            conn.close()
        for i, pair in enumerate(pairs):
            records.append({"id": f"{db.db_id}-{i:04d}", "db_id": db.db_id, "db_path": path.name,
                            "schema": db.ddl(), "schema_brief": db.brief(), **pair})
    with open(out_dir / PAIRS_FILE, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(json.dumps({k: record[k] for k in FIELDS}) + "\n" for record in records)


def default_cache_root() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", "~/.cache/harness")).expanduser() / "builtin_sql"


def load(seed: int = 0, cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """All pairs for `seed`, generated on first use into `<cache_dir>/v2-seed<seed>`.

    `cache_dir` defaults to `$HARNESS_CACHE/builtin_sql` (HARNESS_CACHE: `~/.cache/harness`). The
    dataset is built in a temporary sibling directory and renamed into place, so a crash or two
    processes racing never leave a half-written cache behind.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_root()
    final = root / f"{VERSION}-seed{seed}"
    if not (final / PAIRS_FILE).is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
        try:
            build(seed, tmp)
            try:
                os.replace(tmp, final)
            except OSError:  # another process finished first: keep its copy
                if not (final / PAIRS_FILE).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    with open(final / PAIRS_FILE, encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f]
    folder = final.resolve()
    for pair in pairs:
        pair["db_path"] = str(folder / pair["db_path"])
    return pairs
