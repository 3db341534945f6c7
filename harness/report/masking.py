"""Belt and braces for secrets: reports get shared, so nothing secret-looking is written out.

spec.yaml in a run directory is already masked by the spec module (env-var secrets appear as
`${VAR}`); this catches a literal value written under a secret-named key and credentials inside
URLs (e.g. a database storage URL), wherever they appear in what the report shows.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET_KEYS = ("token", "password", "passwd", "secret", "api_key", "apikey")
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@")


def is_secret_key(key: Any) -> bool:
    """`token`, `hf_token`, `db_password`, `API_KEY`... but not `max_new_tokens` or `train_tokens`."""
    name = str(key).lower().replace("-", "_")
    return any(name == s or name.endswith("_" + s) for s in SECRET_KEYS)


def mask_url(text: str) -> str:
    """postgresql://user:pw@host/db -> postgresql://user:***@host/db."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


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
