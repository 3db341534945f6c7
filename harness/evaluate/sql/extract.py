"""Cutting a model's raw answer into SQL statements, and reading `;`-separated gold alternatives.

Both sides go through `split_statements`, so neither is favoured by how its text is cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

_QUOTE_CLOSERS = {"'": "'", '"': '"', "`": "`", "[": "]"}
_FENCE = "```"
_ANSWER_PREFIX = re.compile(r"^\s*(?:(?:sql\s*query|sqlquery|sql|query|answer)\s*:\s*)+", re.IGNORECASE)
_FENCE_LANGUAGE = re.compile(r"^[ \t]*(?:sqlite3?|sql|postgres(?:ql)?|mysql)?(?!\w)[ \t]*\r?\n?", re.IGNORECASE)
_STATEMENT_START = re.compile(
    r"^\s*(?:select|with|values|insert|replace|update|delete|create|drop|alter|pragma|explain|attach|\()",
    re.IGNORECASE,
)


def split_statements(sql: str) -> list[str]:
    """Split on `;` outside quotes and comments; pieces holding only comments/whitespace are dropped.

    The `;` itself is never part of a piece. Used both to cut predictions and to read
    `;`-separated gold alternatives, so both sides are cut by the same rules.
    """
    return [piece for piece, _ in _statements(sql)]


def _statements(sql: str) -> Iterator[tuple[str, bool]]:
    """Each statement with whether a `;` ended it (the last one may still be running on)."""
    start, i, has_code, n = 0, 0, False, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i) or sql.startswith("/*", i):
            closer = "\n" if ch == "-" else "*/"
            end = sql.find(closer, i + 2)
            i = n if end < 0 else end + len(closer)
            continue
        if ch == ";":
            if has_code:
                yield sql[start:i].strip(), True
            start, has_code = i + 1, False
        elif not ch.isspace():
            has_code = True
            if ch in _QUOTE_CLOSERS:  # skip to the closing quote; '' escapes re-open harmlessly
                end = sql.find(_QUOTE_CLOSERS[ch], i + 1)
                i = n if end < 0 else end
        i += 1
    if has_code:
        yield sql[start:].strip(), False


def extract_sql(text: str) -> str:
    """The first SQL statement in a model's raw answer, without its trailing `;`.

    Rules, applied identically to every model: if the answer does not start with SQL but has a
    ``` fence, the SQL is the body of the first fenced block (a `sql`/`sqlite` language tag is
    dropped); otherwise the SQL is the text before any fence (a closing fence echoed from the
    prompt ends it). A leading `SQL:` / `Query:` / `Answer:` label is removed, then the text is
    cut at the first `;` outside quotes. Prose after an unterminated statement is kept (and
    will usually make the SQL invalid): guessing where SQL ends would favour one model's style.
    """
    statements = split_statements(_sql_part(text))
    return statements[0] if statements else ""


def answer_is_final(text: str) -> bool:
    """Whether `extract_sql` returns the same statement for every continuation of `text`, so a
    decoder may stop there: an answer opening with SQL once its first statement has met a `;` or
    a fence, an answer opening with prose once its first fenced block has closed."""
    head, fence, rest = text.partition(_FENCE)
    if _opens_with_sql(head):
        return bool(fence) or next((ended for _, ended in _statements(_ANSWER_PREFIX.sub("", head, count=1))), False)
    return _FENCE in rest


def _sql_part(text: str) -> str:
    """The text the first statement is cut from: the first fenced block's body or the text before any fence."""
    head, fence, rest = text.partition(_FENCE)
    if fence and not _opens_with_sql(head):
        head = _FENCE_LANGUAGE.sub("", rest.partition(_FENCE)[0], count=1)
    return _ANSWER_PREFIX.sub("", head, count=1)


def _opens_with_sql(head: str) -> bool:
    return bool(_STATEMENT_START.match(_ANSWER_PREFIX.sub("", head, count=1)))


def matches_any_alternative(gold: str, matches: Callable[[str], bool]) -> bool:
    """Whether `matches` holds for some `;`-separated gold alternative."""
    return any(matches(alternative) for alternative in split_statements(gold))


def looks_like_sql(statement: str) -> bool:
    """Whether an extracted statement starts like SQL (prose such as "I cannot answer" does not)."""
    return bool(_STATEMENT_START.match(statement))
