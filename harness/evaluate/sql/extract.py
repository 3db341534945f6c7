"""Cutting a model's raw answer into SQL statements, and reading `;`-separated gold alternatives.

Both sides go through `split_statements`, so neither is favoured by how its text is cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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
    pieces: list[str] = []
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
                pieces.append(sql[start:i].strip())
            start, has_code = i + 1, False
        elif not ch.isspace():
            has_code = True
            if ch in _QUOTE_CLOSERS:  # skip to the closing quote; '' escapes re-open harmlessly
                end = sql.find(_QUOTE_CLOSERS[ch], i + 1)
                i = n if end < 0 else end
        i += 1
    if has_code:
        pieces.append(sql[start:].strip())
    return pieces


def extract_sql(text: str) -> str:
    """The first SQL statement in a model's raw answer, without its trailing `;`.

    Rules, applied identically to every model: if the answer does not start with SQL but has a
    ``` fence, the SQL is the body of the first fenced block (a `sql`/`sqlite` language tag is
    dropped); otherwise the SQL is the text before any fence (a closing fence echoed from the
    prompt ends it). A leading `SQL:` / `Query:` / `Answer:` label is removed, then the text is
    cut at the first `;` outside quotes. Prose after an unterminated statement is kept (and
    will usually make the SQL invalid): guessing where SQL ends would favour one model's style.
    """
    head, fence, rest = text.partition(_FENCE)
    if fence and not _STATEMENT_START.match(_ANSWER_PREFIX.sub("", head, count=1)):
        text = _FENCE_LANGUAGE.sub("", rest.partition(_FENCE)[0], count=1)
    else:
        text = head
    statements = split_statements(_ANSWER_PREFIX.sub("", text, count=1))
    return statements[0] if statements else ""



def matches_any_alternative(gold: str, matches: Callable[[str], bool]) -> bool:
    """Whether `matches` holds for some `;`-separated gold alternative."""
    return any(matches(alternative) for alternative in split_statements(gold))


def looks_like_sql(statement: str) -> bool:
    """Whether an extracted statement starts like SQL (prose such as "I cannot answer" does not)."""
    return bool(_STATEMENT_START.match(statement))
