"""Renamed variants of every domain, so a model must read table and column names from the prompt.

A `Naming` is a schema convention (case, singular or plural tables, a prefix, abbreviations or
synonyms, `id` or `<table>_id` keys). `variant` applies one to a domain: the schema and the gold SQL
use the new names while the questions keep the domain's plain-English nouns ("customers" over a
table called `tbl_client`), the way a person asks without knowing how the database was named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.data.builtin_sql.schemas import DOMAINS, Database, Table, plural

# Words SQLite would need quoted as a table name; a convention falls back to the plural for them.
_KEYWORDS = frozenset({"order", "transaction", "group", "index", "key", "table", "check", "default",
                       "references", "select", "where", "from", "join", "case", "end", "values",
                       "limit", "offset", "desc", "asc", "by", "to", "in", "is", "as", "on", "all"})

ABBREVIATIONS: Mapping[str, str] = {
    "customer": "cust", "account": "acct", "transaction": "txn", "department": "dept",
    "employee": "emp", "project": "proj", "assignment": "asgmt", "product": "prod", "order": "ord",
    "quantity": "qty", "amount": "amt", "balance": "bal", "description": "descr", "number": "no",
    "date": "dt", "price": "prc", "minutes": "min", "duration": "dur", "passenger": "pax",
    "booking": "bkg", "airport": "apt", "destination": "dest", "origin": "orig",
    "appointment": "appt", "prescription": "rx", "doctor": "doc", "specialty": "spec",
    "insurance": "ins", "published": "pub", "member": "mbr", "author": "auth", "category": "cat",
    "location": "loc", "salary": "sal", "status": "stat", "nationality": "nat", "country": "ctry",
    "teacher": "tchr", "student": "stud", "enrollment": "enr", "warehouse": "whse",
    "shipment": "shpt", "capacity": "cap", "tracking": "trk", "weight": "wt", "delivery": "dlv",
    "enrolled": "enr", "birth": "dob",
}
SYNONYMS: Mapping[str, str] = {
    "customer": "client", "employee": "worker", "product": "item", "order": "purchase",
    "member": "patron", "book": "volume", "author": "writer", "doctor": "physician",
    "appointment": "visit", "loan": "borrowing", "transaction": "operation", "branch": "office",
    "department": "division", "project": "initiative", "passenger": "traveler",
    "booking": "reservation", "airline": "carrier", "city": "town", "salary": "pay",
    "price": "cost", "amount": "value", "email": "mail", "stock": "inventory",
    "quantity": "units", "fee": "charge", "specialty": "field", "nationality": "citizenship",
    "status": "state", "teacher": "instructor", "student": "learner", "course": "class",
    "enrollment": "registration", "warehouse": "depot", "shipment": "consignment",
    "weight": "mass", "genre": "kind",
}


@dataclass(frozen=True)
class Naming:
    key: str  # becomes the db_id suffix
    case: str  # snake | camel | pascal
    singular: bool = False  # `customer` rather than `customers`
    prefix: str = ""  # e.g. `tbl_`, before the table name
    words: Mapping[str, str] = field(default_factory=dict)  # word -> abbreviation or synonym
    table_keys: bool = False  # primary key `customer_id` rather than `id`

    def join(self, words: list[str]) -> str:
        return self._case([self.words.get(w, w) for w in words])

    def _case(self, words: list[str]) -> str:
        words = [part for w in words for part in w.split("_")]
        if self.case == "snake":
            return "_".join(words)
        name = "".join(w.upper() if w == "id" and self.case == "pascal" else w.capitalize() for w in words)
        return name if self.case == "pascal" else name[0].lower() + name[1:]

    def table(self, table: Table) -> str:
        words = [self.words.get(w, w) for w in table.singular.split()]
        if not self.singular or words[-1] in _KEYWORDS:
            words[-1] = plural(words[-1])
        return self.prefix + self._case(words)

    def primary_key(self, table: Table) -> str:
        return self.join([*table.singular.split(), "id"]) if self.table_keys else self.join(["id"])


NAMINGS: tuple[Naming, ...] = (
    Naming("camel", "camel"),
    Naming("pascal", "pascal", singular=True, table_keys=True),
    Naming("tbl", "snake", prefix="tbl_", table_keys=True),
    Naming("abbr", "snake", singular=True, words=ABBREVIATIONS),
    Naming("syn", "pascal", words=SYNONYMS),
)


def variant(db: Database, naming: Naming) -> Database:
    """`db` under another naming convention: same domain, same nouns in questions, new names."""
    table_names = {t.name: naming.table(t) for t in db.tables}
    key_names = {t.name: naming.primary_key(t) for t in db.tables}
    tables = []
    for t in db.tables:
        columns = []
        for c in t.columns:
            name = key_names[t.name] if c.role == "id" else naming.join(c.name.split("_"))
            renamed = dataclasses.replace(c, name=name, noun=c.words, nouns=c.plural_words)
            if c.ref:
                renamed = dataclasses.replace(renamed, ref=table_names[c.ref], ref_key=key_names[c.ref])
            columns.append(renamed)
        tables.append(dataclasses.replace(t, name=table_names[t.name], nouns=t.plural,
                                          columns=tuple(columns)))
    renamed_db = Database(f"{db.db_id}_{naming.key}", tuple(tables), origin=db)
    _check_names(renamed_db)
    return renamed_db


def _check_names(db: Database) -> None:
    """Fail at import when a convention makes two names collide or a name clash with an alias."""
    names = [t.name.lower() for t in db.tables]
    aliases = {t.alias for t in db.tables}
    assert len(set(names)) == len(names) and not aliases & set(names), db.db_id
    for t in db.tables:
        columns = [c.name.lower() for c in t.columns]
        assert len(set(columns)) == len(columns), (db.db_id, t.name)
        assert t.name.lower() not in _KEYWORDS and not set(columns) & _KEYWORDS, (db.db_id, t.name)


DATABASES: tuple[Database, ...] = DOMAINS + tuple(variant(db, n) for db in DOMAINS for n in NAMINGS)
