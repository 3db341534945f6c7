"""Self-consistency keeps the answer most candidates agree with, as the answer family judges agreement.

For SQL that is the rows an answer returns, so the vote must pick the answer most candidates
compute even when a wrong answer is written, word for word, more often than any right spelling.
"""

from __future__ import annotations

from functools import partial

from harness.data.records import Example
from harness.evaluate.decoding import MODES
from harness.evaluate.decoding.self_consistency import vote
from harness.evaluate.exact_text import ExactText
from harness.evaluate.scorer import answer_key
from harness.evaluate.sql import SqlMetric
from harness.results import Vote

GOLD = "SELECT COUNT(*) FROM singer WHERE country = 'France'"
WRONG = "SELECT COUNT(*) FROM singer"  # written the same way twice: the textual majority
RIGHT = [  # three spellings of the gold's result: the majority by execution
    "SELECT count(*) FROM singer WHERE country = 'France';",
    "SELECT COUNT(*) FROM singer AS s WHERE s.country = 'France'",
    "select count(*)\nfrom singer where 'France' = country",
]
FAILS = "SELECT COUNT(*) FROM singers"  # no such table: it cannot count
CANDIDATES = [WRONG, WRONG, FAILS, *RIGHT]
SCHEMA = ("CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER, score REAL);\n"
          "CREATE TABLE song (id INTEGER PRIMARY KEY, singer_id INTEGER, title TEXT);")


def _choose(candidates: list[str], example: Example, scorers) -> tuple[int, Vote]:
    return MODES["self_consistency"].choose(candidates, partial(answer_key, scorers, example=example))


def test_sql_candidates_vote_by_their_rows_on_the_database_not_by_their_text(concert_db):
    example = Example(id="q", prompt="How many singers are French?", answer=GOLD, meta={"db_path": str(concert_db)})
    sql = SqlMetric()

    chosen, counts = _choose(CANDIDATES, example, [sql])

    assert chosen == 3  # the first of the three that return 2
    assert counts == Vote(samples=6, groups=2, agreeing=3, uncounted=1)
    assert sql.score(CANDIDATES[chosen], example)["execution_match"] == 1.0
    assert sql.score(CANDIDATES[0], example)["execution_match"] == 0.0  # what keeping the first sample would score
    # the same candidates judged as text: the repeated wrong answer wins
    assert _choose(CANDIDATES, example, [ExactText()]) == (0, Vote(samples=6, groups=5, agreeing=2, uncounted=0))


def test_a_schema_only_example_votes_on_its_distilled_test_suite():
    """No rows of its own: the candidates run on the suite distilled from the schema, where the
    wrong answer (every singer, not the French ones) returns other rows than the right ones."""
    example = Example(id="s", prompt="How many singers are French?", answer=GOLD, meta={"schema": SCHEMA})
    sql = SqlMetric()

    chosen, counts = _choose(CANDIDATES, example, [sql])

    assert (chosen, counts.agreeing, counts.uncounted) == (3, 3, 1)
    assert sql.score(CANDIDATES[chosen], example)["execution_suite"] == 1.0
    assert sql.score(CANDIDATES[0], example)["execution_suite"] == 0.0


def test_without_a_database_sql_candidates_vote_by_their_normalised_text():
    example = Example(id="t", prompt="?", answer=GOLD)
    chosen, counts = _choose(["SELECT a FROM t", "select a  from t;", "SELECT b FROM t"], example, [SqlMetric()])
    assert (chosen, counts.groups, counts.agreeing) == (0, 2, 2)


def test_ties_go_to_the_earliest_group_and_nothing_that_counts_keeps_the_first():
    assert vote(["b", "a", "a", "b", None]) == (0, Vote(samples=5, groups=2, agreeing=2, uncounted=1))
    assert vote([None, "a", "b", "b", "a"]) == (1, Vote(samples=5, groups=2, agreeing=2, uncounted=1))
    assert vote([None, None]) == (0, Vote(samples=2, groups=0, agreeing=0, uncounted=2))
