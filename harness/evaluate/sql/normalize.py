"""Exact match: equality after a canonical spelling (whitespace, keyword case, `;`, quote style)."""

from __future__ import annotations

import functools
import re

from sqlglot.tokens import Tokenizer

from harness.evaluate.sql.extract import matches_any_alternative
from harness.evaluate.sql.parse import TOKEN, parse_with_values

_KEYWORDS = frozenset(k for k in Tokenizer.KEYWORDS if k.isalpha())
_COMPARISON_TOKENS = frozenset({"=", "==", "!=", "<>", "<", ">", "<=", ">=", "LIKE", "GLOB"})


def _normalize_tokens(sql: str) -> str:
    """String-level `normalize_sql` for SQL sqlglot cannot parse: same rules, applied to tokens."""
    tokens: list[str] = []
    matches = [m for m in TOKEN.finditer(sql) if m.lastgroup != "skip"]
    for i, m in enumerate(matches):
        text, kind = m.group(), m.lastgroup
        if kind == "word" and (text.upper() in _KEYWORDS or _next_is(matches, i, "(")):
            text = text.upper()
        elif kind == "dquoted" and tokens and tokens[-1] in _COMPARISON_TOKENS:
            text = "'" + text[1:-1].replace('""', '"').replace("'", "''") + "'"
        tokens.append(text)
    while tokens and tokens[-1] == ";":
        tokens.pop()
    return " ".join(tokens)


def _next_is(matches: list[re.Match], i: int, text: str) -> bool:
    return i + 1 < len(matches) and matches[i + 1].group() == text


@functools.lru_cache(maxsize=8192)
def normalize_sql(sql: str) -> str:
    """Canonical spelling of one statement for exact match.

    Whitespace and comments are dropped, keywords and function names upper-cased, a trailing `;`
    removed and double-quoted string values written with single quotes (see
    `_double_quoted_values_to_strings`). Identifier case and everything else is kept as written.
    Parsed with sqlglot (sqlite dialect) and regenerated; when sqlglot cannot parse the text, the
    same rules are applied to a plain tokenisation instead.
    """
    tree = parse_with_values(sql)
    if tree is None:
        return _normalize_tokens(sql)
    return tree.sql(dialect="sqlite", comments=False)



def exact_match(pred: str, gold: str) -> bool:
    """`pred` equals some gold alternative after `normalize_sql`."""
    pred_norm = normalize_sql(pred)
    return bool(pred_norm) and matches_any_alternative(gold, lambda g: normalize_sql(g) == pred_norm)
