"""Belt and braces for secrets: what the harness writes out gets shared, so nothing secret-looking is in it.

One masking for every stage: the search stage masks its storage URL before results.json records it,
the report masks what it shows (spec.yaml in a run directory is already masked by the spec module,
env-var secrets appearing as `${VAR}`; this catches a literal value written under a secret-named key
and credentials inside URLs, e.g. a database storage URL or an error message quoting one).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET_KEYS = ("token", "password", "passwd", "secret", "api_key", "apikey")
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<key>[^=&;#]+)=(?P<value>[^&;#]*)")


def is_secret_key(key: Any) -> bool:
    """`token`, `hf_token`, `db_password`, `API_KEY`... but not `max_new_tokens` or `train_tokens`."""
    name = str(key).lower().replace("-", "_")
    return any(name == s or name.endswith("_" + s) for s in SECRET_KEYS)


def mask_url(text: str) -> str:
    """Every URL in `text` with its password and its secret-named query values masked:
    postgresql://user:pw@host/db?sslpassword=x -> postgresql://user:***@host/db?sslpassword=***.

    The credentials run to the last '@' before the path, as URL parsers read them, so a raw '@'
    in a password stays hidden; the rest of the URL (a SQLite path with an '@' in it) is kept as written."""
    return _URL.sub(lambda m: _mask_one_url(m.group()), text)


def _mask_one_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    authority, tail = rest[:end], rest[end:]
    credentials, at, host = authority.rpartition("@")
    user, colon, password = credentials.partition(":")
    if at and colon and password:
        authority = f"{user}:{MASK}@{host}"
    query = _QUERY_PARAM.sub(lambda m: f"{m['lead']}{m['key']}={MASK}" if is_secret_key(m["key"]) and m["value"] else m[0], tail)
    return f"{scheme}://{authority}{query}"


def mask_secrets(data: Any) -> Any:
    """A copy of `data` with secret-named keys' values masked and URL passwords hidden.

    `${VAR}` placeholders and nulls are kept: they show which variable to set, not its value.
    """
    if isinstance(data, dict):
        return {k: _mask_value(v) if is_secret_key(k) else mask_secrets(v) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    if isinstance(data, str):
        return mask_url(data)
    return data


def _mask_value(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, str) and (_PLACEHOLDER.match(value) or value == MASK)):
        return value
    return MASK
