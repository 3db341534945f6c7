"""harness.masking: secret-named values and URL passwords never reach what the harness writes out.

The cases of both former maskings are here: the report's (a password inside any text, secret-named
keys) and the search stage's (a storage URL whose raw password holds an '@')."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from harness.masking import MASK, is_secret_key, mask_secrets, mask_url


def test_secret_key_names():
    assert all(is_secret_key(k) for k in ("token", "hf_token", "DB_PASSWORD", "api_key", "secret", "client-secret"))
    assert not any(is_secret_key(k) for k in ("max_new_tokens", "train_tokens", "output_tokens", "tokenizer", "keys"))


def test_secret_named_values_are_masked_placeholders_and_nulls_kept():
    assert mask_secrets({"a": [{"token": "x", "n": 1}], "token": None}) == {"a": [{"token": "***", "n": 1}], "token": None}
    assert mask_secrets({"hf_token": "${HF_TOKEN}", "password": "", "api_key": MASK}) == {
        "hf_token": "${HF_TOKEN}", "password": "", "api_key": MASK}  # a placeholder names the variable, not its value
    assert mask_secrets({"storage": "postgresql://optuna:pw@db/x", "n": 3}) == {"storage": "postgresql://optuna:***@db/x", "n": 3}


@pytest.mark.parametrize("text, masked", [
    # the report's cases: a URL alone, and inside a sentence (an error message quoting it)
    ("postgresql://optuna:db-SeCrEt000@db.example/optuna", "postgresql://optuna:***@db.example/optuna"),
    ("cannot connect to postgresql://u:pw@db:5432/x (connection refused), retrying",
     "cannot connect to postgresql://u:***@db:5432/x (connection refused), retrying"),
    ("postgresql://:pw@host/db", "postgresql://:***@host/db"),
    # the search stage's cases: a raw '@' in the password stays hidden whole; driver schemes
    ("postgresql://u:p@ss@host:5432/db", "postgresql://u:***@host:5432/db"),
    ("mysql+pymysql://root:pw@localhost/optuna", "mysql+pymysql://root:***@localhost/optuna"),
    # nothing secret: left exactly as written
    ("sqlite:///runs/tiny/search/optuna.db", "sqlite:///runs/tiny/search/optuna.db"),
    ("sqlite:///runs/a@b/optuna.db", "sqlite:///runs/a@b/optuna.db"),  # an '@' in the path is no password
    ("postgresql://optuna@db/optuna", "postgresql://optuna@db/optuna"),  # a user and no password
    ("no url here: a:b@c", "no url here: a:b@c"),
    # secret-named query parameters
    ("postgresql://db/x?user=u&password=pw&sslmode=require", "postgresql://db/x?user=u&password=***&sslmode=require"),
    ("https://h/x?api_key=k#top", "https://h/x?api_key=***#top"),
    ("two: postgresql://a:1@h/x and mysql://b:2@h/y", "two: postgresql://a:***@h/x and mysql://b:***@h/y"),
])
def test_url_passwords_are_masked(text: str, masked: str):
    assert mask_url(text) == masked
    assert mask_url(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize("url", [
    "postgresql://optuna:secret@db.example:5432/optuna",
    "mysql+pymysql://root:pw@localhost/optuna",
    "postgresql+psycopg://u:pw@h/db?sslmode=require",
    "postgresql://optuna@db/optuna",
    "sqlite:///study.db",
])
def test_a_database_url_reads_as_sqlalchemy_renders_it_with_the_password_hidden(url: str):
    assert mask_url(url) == make_url(url).render_as_string(hide_password=True)
