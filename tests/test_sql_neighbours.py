"""Neighbour databases of a real file (harness.evaluate.sql.neighbours)."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

import pytest

from harness.evaluate.sql.execute import Databases, execute
from harness.evaluate.sql.neighbours import build_neighbours, plan_rows, run_planted
from harness.evaluate.sql.parse import parse_with_values


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Customers and their orders, linked by a declared foreign key."""
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                             total REAL NOT NULL, day TEXT NOT NULL);
        """
    )
    rng = random.Random(5)
    cities = ["Lyon", "Porto", "Oslo", "Riga"]
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", [(i, f"C{i}", rng.choice(cities)) for i in range(1, 31)])
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [(i, rng.randint(1, 30), rng.randint(10, 400), f"2024-01-{rng.randint(1, 28):02d}") for i in range(1, 121)],
    )
    conn.commit()
    conn.close()
    return path


def dump(conn: sqlite3.Connection) -> list:
    return [conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in ("customers", "orders")]


def test_neighbours_are_deterministic_perturbed_and_keep_foreign_keys(shop_db: Path) -> None:
    first, again, other = build_neighbours(shop_db, seed=0), build_neighbours(shop_db, seed=0), build_neighbours(shop_db, seed=1)
    assert [dump(n.conn) for n in first] == [dump(n.conn) for n in again]
    assert [dump(n.conn) for n in first] != [dump(n.conn) for n in other]
    real = sqlite3.connect(shop_db)
    assert dump(first[0].conn) == dump(real)  # neighbour 0 is the real data (plus planted rows per query)
    sizes = {len(dump(n.conn)[1]) for n in first[1:]}
    assert len(sizes | {len(dump(real)[1])}) > 1  # the others drop and duplicate rows
    for neighbour in first:
        assert neighbour.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_planted_rows_exist_only_during_the_query_and_the_file_is_untouched(shop_db: Path) -> None:
    before = hashlib.sha256(shop_db.read_bytes()).hexdigest()
    neighbour = build_neighbours(shop_db, n=1)[0]
    gold = parse_with_values("SELECT id FROM orders WHERE total >= 300 AND day = '2024-01-05'")
    planted = plan_rows(neighbour, [gold], random.Random(0))
    assert plan_rows(neighbour, [gold], random.Random(0)) == planted  # fixed by (database, gold, seed)
    count = "SELECT count(*) FROM orders WHERE total = 300 AND day = '2024-01-05'"
    during = run_planted(neighbour, planted, count, timeout_s=2, max_rows=10)
    assert during.rows[0][0] >= 1  # a row carrying both constants, so `>` vs `>=` shows
    assert neighbour.conn.execute(count).fetchone()[0] == 0
    assert run_planted(neighbour, planted, "DELETE FROM orders", timeout_s=2, max_rows=10).error
    assert neighbour.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 120
    assert hashlib.sha256(shop_db.read_bytes()).hexdigest() == before


def suite(db: Path, gold: str) -> Databases:
    return Databases.with_neighbours(db, gold, build_neighbours(db), seed=0, timeout_s=2, max_rows=1000)


@pytest.mark.parametrize(
    "gold, wrong",
    [
        ("SELECT id FROM orders WHERE total >= 300", "SELECT id FROM orders WHERE total > 300"),
        ("SELECT name FROM customers WHERE city = 'Lyon'", "SELECT name FROM customers WHERE city LIKE '%Lyon'"),
        ("SELECT name FROM customers WHERE city = 'Lyon'", "SELECT name FROM customers WHERE city LIKE 'lyon'"),
        ("SELECT name FROM customers WHERE name LIKE 'C1%'", "SELECT name FROM customers WHERE name LIKE '%C1%'"),
        ("SELECT id FROM orders WHERE day > '2024-01-27'", "SELECT id FROM orders WHERE day >= '2024-01-28'"),
        (  # only a customer that has no other order tells IN (subquery) with >= from >
            "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE total > 399)",
            "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE total >= 399)",
        ),
        ("SELECT city FROM customers GROUP BY city HAVING MAX(id) < 31", "SELECT city FROM customers GROUP BY city"),
        ("SELECT DISTINCT c.name FROM customers AS c JOIN orders AS o ON o.customer_id = c.id",
         "SELECT c.name FROM customers AS c JOIN orders AS o ON o.customer_id = c.id GROUP BY c.id"),
    ],
)
def test_suite_rejects_what_the_real_database_cannot_tell_apart(shop_db: Path, gold: str, wrong: str) -> None:
    dbs = suite(shop_db, gold)
    verdict = execute(wrong, gold, dbs)
    assert verdict.match is True  # the single real database is fooled ...
    assert verdict.suite is False  # ... the neighbours are not


def test_suite_accepts_rewrites_and_never_accepts_what_the_real_database_rejects(shop_db: Path) -> None:
    gold = "SELECT name, city FROM customers WHERE city = 'Lyon' AND id > 3"
    dbs = suite(shop_db, gold)
    for same in (
        "SELECT city, name FROM customers WHERE 3 < id AND city IN ('Lyon')",
        "SELECT c.name AS who, c.city FROM customers AS c WHERE NOT c.id <= 3 AND c.city = 'Lyon'",
    ):
        assert execute(same, gold, dbs).suite is True
    assert execute("SELECT name, city FROM customers WHERE city = 'Lyon'", gold, dbs).suite is False


def test_gold_left_open_by_row_order_is_judged_only_where_its_result_is_fixed(shop_db: Path) -> None:
    unordered_limit = "SELECT name FROM customers LIMIT 3"
    assert suite(shop_db, unordered_limit).determined(unordered_limit) == [False] * 4
    tie = "SELECT name FROM customers ORDER BY city LIMIT 1"  # several customers share the first city
    assert suite(shop_db, tie).determined(tie) == [False] * 4
    fixed = "SELECT name FROM customers ORDER BY name LIMIT 3"
    assert suite(shop_db, fixed).determined(fixed) == [True] * 4


def test_unusual_databases_still_get_a_suite(tmp_path: Path) -> None:
    """WITHOUT ROWID tables, views and a self-referencing key: copied, perturbed, planted, judged."""
    path = tmp_path / "odd.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE tag (code TEXT PRIMARY KEY, label TEXT) WITHOUT ROWID;
        CREATE TABLE staff (id INTEGER PRIMARY KEY, name TEXT, boss INTEGER REFERENCES staff(id), tag TEXT REFERENCES tag(code));
        CREATE TABLE duty (staff_id INTEGER REFERENCES staff(id), day TEXT, hours INTEGER,
                           PRIMARY KEY (staff_id, day)) WITHOUT ROWID;
        CREATE VIEW bosses AS SELECT DISTINCT boss FROM staff;
        INSERT INTO tag VALUES ('a', 'alpha'), ('b', 'beta'), ('c', 'gamma');
        """
    )
    conn.executemany("INSERT INTO staff VALUES (?, ?, ?, ?)", [(i, f"s{i}", (i // 3) or None, "abc"[i % 3]) for i in range(1, 25)])
    conn.executemany("INSERT INTO duty VALUES (?, ?, ?)", [(i % 24 + 1, f"d{i}", i % 9) for i in range(60)])
    conn.commit()
    conn.close()
    gold = "SELECT name FROM staff WHERE tag = 'b' AND boss >= 4"
    dbs = suite(path, gold)
    assert execute("SELECT name FROM staff WHERE boss >= 4 AND tag IN ('b')", gold, dbs).suite is True
    assert execute("SELECT name FROM staff WHERE tag = 'b' AND boss > 4", gold, dbs).suite is False
    duty = "SELECT staff_id, day FROM duty WHERE hours >= 8"
    assert execute("SELECT staff_id, day FROM duty WHERE 8 <= hours", duty, suite(path, duty)).suite is True
    for neighbour in build_neighbours(path):
        assert neighbour.conn.execute("PRAGMA foreign_key_check").fetchall() == []
