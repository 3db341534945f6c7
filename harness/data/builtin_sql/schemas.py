"""Eight small relational domains, declared as data, and the seeded generator that fills them.

Tables are plain data (columns with a *role* and a value generator) so the question templates can
work on every domain by role alone: `label` names one row, `cat` is a small set of text values,
`num`/`year` are numbers, `date` is ISO 'YYYY-MM-DD' text, `text` is free text, `fk` points at a
parent row. All word lists are made up for this project.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Row = dict[str, Any]


@dataclass
class Ctx:
    """What a value generator may look at: the rng, the row so far and every earlier row."""

    rng: random.Random
    table: str
    column: str
    row: Row
    rows: dict[str, list[Row]]


Gen = Callable[[Ctx], Any]


def plural(noun: str) -> str:
    """English plural of the last word, good enough for column and table nouns."""
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # INTEGER | REAL | TEXT
    role: str  # id | fk | label | cat | num | year | date | text
    make: Gen | None = None
    noun: str = ""  # how questions call it; default: the name with "_" -> " "
    nouns: str = ""  # plural noun where plural() gets it wrong
    ref: str = ""  # parent table of an fk
    ref_key: str = "id"  # the parent's primary-key column
    nullable: bool = False

    @property
    def words(self) -> str:
        return self.noun or self.name.replace("_", " ")

    @property
    def plural_words(self) -> str:
        return self.nouns or plural(self.words)


@dataclass(frozen=True)
class Table:
    name: str
    singular: str
    rows: int
    alias: str  # used only when a query joins tables; unique within its database
    columns: tuple[Column, ...]
    nouns: str = ""  # how questions call its rows; default: the name with "_" -> " "

    @property
    def plural(self) -> str:
        return self.nouns or self.name.replace("_", " ")

    @property
    def key(self) -> str:
        """The primary-key column's name (`id`, `customer_id`, `CustomerID`, ...)."""
        return self.columns[0].name

    @property
    def label(self) -> Column:
        """The column that names a row in answers: its label, or its id when it has none."""
        return next((c for c in self.columns if c.role == "label"), self.columns[0])

    def with_role(self, *roles: str) -> list[Column]:
        return [c for c in self.columns if c.role in roles]

    def ddl(self) -> str:
        parts = []
        for c in self.columns:
            if c.role == "id":
                parts.append(f"{c.name} INTEGER PRIMARY KEY")
                continue
            ref = f" REFERENCES {c.ref}({c.ref_key})" if c.ref else ""
            parts.append(f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}{ref}")
        return f"CREATE TABLE {self.name} ({', '.join(parts)});"

    def brief(self) -> str:
        return f"{self.name}({', '.join(c.name for c in self.columns)})"


@dataclass(frozen=True)
class Database:
    db_id: str
    tables: tuple[Table, ...]  # parents before children
    origin: Database | None = None  # a renamed variant's domain: its generators make the rows

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def ddl(self) -> str:
        return "\n".join(t.ddl() for t in self.tables)

    def brief(self) -> str:
        return "\n".join(t.brief() for t in self.tables)


# --- value generators ------------------------------------------------------------------------


def one_of(*values: Any) -> Gen:
    return lambda c: c.rng.choice(values)


def in_order(values: Sequence[Any]) -> Gen:
    """The n-th row gets the n-th value: for small lookup tables with fixed members."""
    return lambda c: values[len(c.rows[c.table])]


def integer(lo: int, hi: int, step: int = 1) -> Gen:
    return lambda c: c.rng.randrange(lo, hi + 1, step)


def money(lo: float, hi: float) -> Gen:
    """Log-uniform amounts: many small values, few large ones, like real prices and balances."""
    return lambda c: round(lo * (hi / lo) ** c.rng.random(), 2)


def day(start: str, end: str) -> Gen:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    span = (last - first).days
    return lambda c: (first + dt.timedelta(days=c.rng.randint(0, span))).isoformat()


def days_after(column: str, lo: int, hi: int) -> Gen:
    """A date that follows another date of the same row (due date after loan date, ...)."""

    def make(c: Ctx) -> str:
        start = dt.date.fromisoformat(c.row[column])
        return (start + dt.timedelta(days=c.rng.randint(lo, hi))).isoformat()

    return make


def maybe(p_null: float, gen: Gen) -> Gen:
    return lambda c: None if c.rng.random() < p_null else gen(c)


def words(*pools: Sequence[str]) -> Gen:
    return lambda c: " ".join(c.rng.choice(pool) for pool in pools)


def unique(gen: Gen) -> Gen:
    """Retry until the value is new in its column: a label must name exactly one row."""

    def make(c: Ctx) -> Any:
        taken = {r[c.column] for r in c.rows[c.table]}
        for _ in range(10_000):
            value = gen(c)
            if value not in taken:
                return value
        raise RuntimeError(f"ran out of unique values for {c.table}.{c.column}")

    return make


def derived(fn: Callable[[Row, random.Random], Any]) -> Gen:
    return lambda c: fn(c.row, c.rng)


def parent_id(table: str) -> Gen:
    """Skewed parent pick: some parents are busy and the last 15% get no children at all, so
    "most orders" and "customers without orders" questions have clear, non-empty answers."""

    def make(c: Ctx) -> int:
        eligible = int(len(c.rows[table]) * 0.85)
        return c.rows[table][int(eligible * c.rng.random() ** 1.6)]["id"]

    return make


def other_than(column: str, gen: Gen) -> Gen:
    """Retry until different from another column of the row (a flight's two airports)."""

    def make(c: Ctx) -> Any:
        while (value := gen(c)) == c.row[column]:
            pass
        return value

    return make


def lookup(fk: str, table: str, column: str) -> Gen:
    """Copy a parent's value (an order line's unit price is the product's price)."""
    return lambda c: c.rows[table][c.row[fk] - 1][column]


# --- column constructors ---------------------------------------------------------------------

_DEFAULT_TYPE = {"label": "TEXT", "cat": "TEXT", "date": "TEXT", "text": "TEXT", "num": "REAL"}


def pk() -> Column:
    return Column("id", "INTEGER", "id")


def fk(name: str, ref: str, noun: str = "", make: Gen | None = None) -> Column:
    noun = noun or name.removesuffix("_id").replace("_", " ")
    return Column(name, "INTEGER", "fk", make or parent_id(ref), noun=noun, ref=ref)


def col(name: str, role: str, make: Gen, *, type: str = "", noun: str = "", nouns: str = "",
        null: float = 0.0) -> Column:
    """A data column; `null` > 0 makes it nullable with that share of NULLs."""
    return Column(name, type or _DEFAULT_TYPE.get(role, "INTEGER"), role,
                  maybe(null, make) if null else make, noun, nouns, nullable=null > 0)


# --- shared word pools -----------------------------------------------------------------------

FIRST_NAMES = (
    "Ana", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Irene", "Jonas",
    "Kenji", "Laura", "Mateo", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Samuel", "Tara",
    "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Alice", "Bruno", "Chloe", "Diego",
    "Emma", "Felix", "Hana", "Ivan", "Julia", "Liam", "Maya", "Noah", "Olga", "Pedro",
)
LAST_NAMES = (
    "Almeida", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Petrov", "Quinn", "Rossi",
    "Santos", "Tanaka", "Ueda", "Vargas", "Weber", "Xu", "Yilmaz", "Zhang", "Baker", "Carter",
    "Diaz", "Ferreira", "Gomez", "Hughes", "Ibrahim", "Keller", "Larsen", "Martin", "Nielsen",
    "Olsen", "Park", "Reyes",
)
CITIES = ("Lisbon", "Porto", "Madrid", "Berlin", "Hamburg", "Lyon", "Milan", "Vienna", "Prague",
          "Warsaw", "Dublin", "Oslo")
COUNTRIES = ("Portugal", "Spain", "Germany", "France", "Italy", "Brazil", "Japan", "Canada",
             "Kenya", "India", "Mexico", "Norway")
MAIL_DOMAINS = ("mailbox.com", "inbox.net", "post.org", "webmail.io")

person = unique(words(FIRST_NAMES, LAST_NAMES))
email = derived(lambda row, rng: f"{row['name'].replace(' ', '.').lower()}@{rng.choice(MAIL_DOMAINS)}")


# --- the domains ------------------------------------------------------------------------------

BANK = Database("bank", (
    Table("branches", "branch", 50, "br", (
        pk(),
        col("name", "label", unique(words(CITIES, ("Central", "North", "South", "Harbour",
                                                   "Old Town", "Riverside", "Station")))),
        col("city", "cat", derived(lambda row, rng: row["name"].split(" ")[0])),
        col("opened_date", "date", day("1995-01-01", "2021-12-31"), noun="opening date"),
    )),
    Table("customers", "customer", 300, "c", (
        pk(),
        col("name", "label", person),
        col("city", "cat", one_of(*CITIES)),
        col("birth_date", "date", day("1945-01-01", "2005-12-31"), noun="birth date"),
        col("segment", "cat", one_of("Retail", "Retail", "Premium", "Business", "Student")),
        col("email", "text", email, null=0.15),
    )),
    Table("accounts", "account", 350, "a", (
        pk(),
        fk("customer_id", "customers"),
        fk("branch_id", "branches"),
        col("type", "cat", one_of("Checking", "Checking", "Savings", "Savings", "Credit", "Loan"),
            noun="account type"),
        col("opened_date", "date", day("2010-01-01", "2024-06-30"), noun="opening date"),
        col("balance", "num", money(20, 250_000)),
        col("status", "cat", one_of("active", "active", "active", "frozen", "closed"),
            nouns="statuses"),
    )),
    Table("transactions", "transaction", 400, "t", (
        pk(),
        fk("account_id", "accounts"),
        col("amount", "num", money(2, 8_000)),
        col("date", "date", day("2020-01-01", "2024-12-31")),
        col("type", "cat", one_of("deposit", "withdrawal", "transfer", "payment", "fee"),
            noun="transaction type"),
        col("description", "text", one_of(
            "ATM withdrawal", "Salary payment", "Grocery store", "Online purchase", "Monthly rent",
            "Electricity bill", "Water bill", "Restaurant", "Insurance premium",
            "Transfer to savings", "Pharmacy", "Fuel station", "Card fee"), null=0.2),
    )),
))

HR = Database("hr", (
    Table("departments", "department", 12, "d", (
        pk(),
        col("name", "label", in_order((
            "Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Legal",
            "Customer Support", "Operations", "Research", "Design", "Procurement", "Security"))),
        col("location", "cat", one_of(*CITIES[:6])),
        col("budget", "num", money(150_000, 6_000_000)),
    )),
    Table("employees", "employee", 250, "e", (
        pk(),
        col("name", "label", person),
        fk("department_id", "departments"),
        col("title", "cat", one_of("Engineer", "Engineer", "Analyst", "Manager", "Specialist",
                                   "Coordinator", "Director", "Intern", "Consultant"),
            noun="job title"),
        col("hire_date", "date", day("2008-01-01", "2024-12-31"), noun="hire date"),
        col("salary", "num", integer(28_000, 185_000, 250), type="INTEGER"),
        col("email", "text", email, null=0.12),
    )),
    Table("projects", "project", 60, "p", (
        pk(),
        col("name", "label", unique(words(
            ("Blue", "Silver", "Rapid", "Quiet", "Bright", "Iron", "Northern", "Hidden", "Swift",
             "Golden", "Crimson", "Lucky"),
            ("Falcon", "Harbor", "Comet", "Otter", "Summit", "Beacon", "Maple", "Orbit", "Lynx",
             "Canyon", "Atlas", "Pebble")))),
        fk("department_id", "departments"),
        col("start_date", "date", day("2017-01-01", "2024-10-31"), noun="start date"),
        col("end_date", "date", days_after("start_date", 45, 900), noun="end date", null=0.3),
        col("budget", "num", money(10_000, 2_500_000)),
    )),
    Table("assignments", "assignment", 300, "a", (
        pk(),
        fk("employee_id", "employees"),
        fk("project_id", "projects"),
        col("role", "cat", one_of("Lead", "Developer", "Developer", "Reviewer", "Tester",
                                  "Advisor")),
        col("hours", "num", integer(4, 420), type="INTEGER", noun="hours worked",
            nouns="hours worked"),
    )),
))

_PRODUCT_ITEMS = {
    "Electronics": ("Headphones", "Charger", "Speaker", "Keyboard", "Webcam", "Monitor"),
    "Home": ("Lamp", "Kettle", "Blender", "Pillow", "Vase", "Toaster"),
    "Sports": ("Yoga Mat", "Football", "Water Bottle", "Helmet", "Racket"),
    "Garden": ("Hose", "Shovel", "Planter", "Seed Kit"),
    "Toys": ("Puzzle", "Robot Kit", "Kite", "Board Game"),
    "Clothing": ("Jacket", "Scarf", "Sneakers", "Raincoat", "Backpack"),
}
_ITEM_CATEGORY = {item: cat for cat, items in _PRODUCT_ITEMS.items() for item in items}

RETAIL = Database("retail", (
    Table("customers", "customer", 250, "c", (
        pk(),
        col("name", "label", person),
        col("city", "cat", one_of(*CITIES)),
        col("email", "text", email, null=0.1),
        col("signup_date", "date", day("2018-01-01", "2024-06-30"), noun="signup date"),
    )),
    Table("products", "product", 120, "p", (
        pk(),
        col("name", "label", unique(words(
            ("Nova", "Apex", "Terra", "Lumo", "Vita", "Orbit", "Zephyr", "Polar", "Koda", "Sol"),
            tuple(_ITEM_CATEGORY)))),
        col("category", "cat", derived(lambda row, rng: _ITEM_CATEGORY[row["name"].split(" ", 1)[1]]),
            nouns="categories"),
        col("price", "num", money(3, 900)),
        col("stock", "num", integer(0, 500), type="INTEGER", noun="stock level"),
    )),
    Table("orders", "order", 400, "o", (
        pk(),
        fk("customer_id", "customers"),
        col("order_date", "date", day("2021-01-01", "2024-12-31"), noun="order date"),
        col("status", "cat", one_of("pending", "shipped", "delivered", "delivered", "delivered",
                                    "cancelled", "returned"), nouns="statuses"),
        Column("ship_date", "TEXT", "date", derived(
            lambda row, rng: None if row["status"] in ("pending", "cancelled") else (
                dt.date.fromisoformat(row["order_date"]) + dt.timedelta(days=rng.randint(1, 9))
            ).isoformat()), noun="ship date", nullable=True),
    )),
    Table("order_items", "order item", 400, "oi", (
        pk(),
        fk("order_id", "orders"),
        fk("product_id", "products"),
        col("quantity", "num", integer(1, 8), type="INTEGER"),
        col("unit_price", "num", lookup("product_id", "products", "price"), noun="unit price"),
    )),
))

def _book_title(c: Ctx) -> str:
    """Two title patterns so the library holds more unique titles than books."""
    if c.rng.random() < 0.55:
        return f"The {c.rng.choice(_TITLE_ADJECTIVES)} {c.rng.choice(_TITLE_NOUNS)}"
    return f"{c.rng.choice(_TITLE_PLURALS)} of {c.rng.choice(_TITLE_PLACES)}"


_TITLE_ADJECTIVES = ("Silent", "Golden", "Hidden", "Broken", "Last", "Distant", "Crimson", "Quiet",
                     "Burning", "Frozen", "Secret", "Wandering")
_TITLE_NOUNS = ("River", "Garden", "Empire", "Letter", "Harbor", "Mountain", "Machine", "Orchard",
                "Voyage", "Kingdom", "Mirror", "Lantern", "Forest", "Station")
_TITLE_PLURALS = ("Songs", "Letters", "Ghosts", "Maps", "Stories", "Winters", "Voices")
_TITLE_PLACES = CITIES + ("the North", "the Sea", "Tomorrow", "the Valley")

LIBRARY = Database("library", (
    Table("authors", "author", 80, "au", (
        pk(),
        col("name", "label", person),
        col("country", "cat", one_of(*COUNTRIES)),
        col("birth_year", "year", integer(1920, 1995), noun="birth year"),
    )),
    Table("books", "book", 250, "b", (
        pk(),
        col("title", "label", unique(_book_title)),
        fk("author_id", "authors"),
        col("genre", "cat", one_of("Fiction", "Fiction", "Mystery", "Fantasy", "Science Fiction",
                                   "Biography", "History", "Poetry", "Romance")),
        col("published_year", "year", integer(1950, 2023), noun="publication year"),
        col("pages", "num", integer(80, 950), type="INTEGER", noun="page count"),
    )),
    Table("members", "member", 200, "m", (
        pk(),
        col("name", "label", person),
        col("city", "cat", one_of(*CITIES[:8])),
        col("join_date", "date", day("2012-01-01", "2024-06-30"), noun="join date"),
        col("email", "text", email, null=0.2),
    )),
    Table("loans", "loan", 400, "l", (
        pk(),
        fk("book_id", "books"),
        fk("member_id", "members"),
        col("loan_date", "date", day("2021-01-01", "2024-11-30"), noun="loan date"),
        col("due_date", "date", days_after("loan_date", 14, 28), noun="due date"),
        col("return_date", "date", days_after("loan_date", 1, 45), noun="return date", null=0.25),
    )),
))

_AIRPORTS = (
    ("LIS", "Lisbon", "Portugal"), ("OPO", "Porto", "Portugal"), ("MAD", "Madrid", "Spain"),
    ("BCN", "Barcelona", "Spain"), ("CDG", "Paris", "France"), ("LYS", "Lyon", "France"),
    ("FRA", "Frankfurt", "Germany"), ("MUC", "Munich", "Germany"), ("BER", "Berlin", "Germany"),
    ("FCO", "Rome", "Italy"), ("MXP", "Milan", "Italy"), ("AMS", "Amsterdam", "Netherlands"),
    ("BRU", "Brussels", "Belgium"), ("VIE", "Vienna", "Austria"), ("ZRH", "Zurich", "Switzerland"),
    ("CPH", "Copenhagen", "Denmark"), ("OSL", "Oslo", "Norway"), ("ARN", "Stockholm", "Sweden"),
    ("HEL", "Helsinki", "Finland"), ("DUB", "Dublin", "Ireland"), ("LHR", "London", "United Kingdom"),
    ("EDI", "Edinburgh", "United Kingdom"), ("JFK", "New York", "United States"),
    ("ORD", "Chicago", "United States"), ("YYZ", "Toronto", "Canada"), ("GRU", "Sao Paulo", "Brazil"),
    ("NRT", "Tokyo", "Japan"), ("SIN", "Singapore", "Singapore"),
    ("DXB", "Dubai", "United Arab Emirates"),
    ("JNB", "Johannesburg", "South Africa"),
)
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"

FLIGHTS = Database("flights", (
    Table("airports", "airport", len(_AIRPORTS), "ap", (
        pk(),
        col("code", "label", in_order([a[0] for a in _AIRPORTS]), noun="airport code"),
        col("city", "cat", in_order([a[1] for a in _AIRPORTS]), nouns="cities"),
        col("country", "cat", in_order([a[2] for a in _AIRPORTS]), nouns="countries"),
    )),
    Table("airlines", "airline", 24, "al", (
        pk(),
        col("name", "label", unique(words(
            ("Atlantic", "Polar", "Sunrise", "Coastal", "Alpine", "Crescent", "Meridian",
             "Horizon", "Aurora", "Summit"), ("Air", "Airways", "Airlines")))),
        col("country", "cat", one_of(*COUNTRIES[:8]), nouns="countries"),
        col("founded_year", "year", integer(1925, 2015), noun="founding year"),
    )),
    Table("flights", "flight", 300, "f", (
        pk(),
        col("flight_number", "label", unique(lambda c: (
            f"{c.rng.choice(_LETTERS)}{c.rng.choice(_LETTERS)}{c.rng.randint(100, 9999)}"))),
        fk("airline_id", "airlines"),
        fk("origin_id", "airports", noun="origin airport"),
        fk("destination_id", "airports", noun="destination airport",
           make=other_than("origin_id", parent_id("airports"))),
        col("departure_date", "date", day("2022-01-01", "2024-12-31"), noun="departure date"),
        col("duration_minutes", "num", integer(45, 780, 5), type="INTEGER", noun="duration"),
        col("price", "num", money(35, 1_600)),
        col("status", "cat", one_of("scheduled", "departed", "landed", "landed", "delayed",
                                    "cancelled"), noun="flight status", nouns="flight statuses"),
    )),
    Table("passengers", "passenger", 250, "pa", (
        pk(),
        col("name", "label", person),
        col("nationality", "cat", one_of(*COUNTRIES), nouns="nationalities"),
        col("birth_date", "date", day("1940-01-01", "2012-12-31"), noun="birth date"),
        col("loyalty_tier", "cat", one_of("Silver", "Gold", "Platinum"), noun="loyalty tier",
            null=0.45),
    )),
    Table("bookings", "booking", 400, "bk", (
        pk(),
        fk("flight_id", "flights"),
        fk("passenger_id", "passengers"),
        col("seat_class", "cat", one_of("Economy", "Economy", "Economy", "Premium Economy",
                                        "Business", "First"), noun="seat class",
            nouns="seat classes"),
        col("booking_date", "date", day("2021-09-01", "2024-12-31"), noun="booking date"),
        col("fare", "num", money(30, 4_500)),
    )),
))

CLINIC = Database("clinic", (
    Table("doctors", "doctor", 60, "d", (
        pk(),
        col("name", "label", person),
        col("specialty", "cat", one_of("Cardiology", "Dermatology", "Pediatrics", "Neurology",
                                       "Orthopedics", "General Practice", "Oncology",
                                       "Psychiatry"), nouns="specialties"),
        col("hire_date", "date", day("2000-01-01", "2024-06-30"), noun="hire date"),
    )),
    Table("patients", "patient", 300, "p", (
        pk(),
        col("name", "label", person),
        col("birth_date", "date", day("1935-01-01", "2023-12-31"), noun="birth date"),
        col("city", "cat", one_of(*CITIES[:9]), nouns="cities"),
        col("insurance", "cat", one_of("BlueCare", "HealthFirst", "MediPlus", "CarePoint"),
            noun="insurer", null=0.2),
    )),
    Table("appointments", "appointment", 400, "ap", (
        pk(),
        fk("patient_id", "patients"),
        fk("doctor_id", "doctors"),
        col("date", "date", day("2021-01-01", "2024-12-31"), noun="appointment date"),
        col("reason", "cat", one_of("checkup", "checkup", "follow-up", "vaccination",
                                    "consultation", "emergency")),
        col("fee", "num", money(25, 600)),
        col("status", "cat", one_of("completed", "completed", "completed", "cancelled",
                                    "no-show", "scheduled"), nouns="statuses"),
    )),
    Table("prescriptions", "prescription", 300, "pr", (
        pk(),
        fk("appointment_id", "appointments"),
        col("drug", "cat", one_of("Amoxicillin", "Ibuprofen", "Metformin", "Lisinopril",
                                  "Atorvastatin", "Omeprazole", "Cetirizine", "Paracetamol",
                                  "Sertraline", "Prednisone", "Azithromycin", "Salbutamol")),
        col("dosage_mg", "num", one_of(5, 10, 20, 25, 40, 50, 100, 250, 500), type="INTEGER",
            noun="dosage"),
        col("days", "num", integer(3, 90), type="INTEGER", noun="treatment length"),
    )),
))

_SUBJECTS = ("Mathematics", "Physics", "Chemistry", "Biology", "History", "Literature", "Music",
             "Computer Science")

SCHOOL = Database("school", (
    Table("teachers", "teacher", 40, "te", (
        pk(),
        col("name", "label", person),
        col("subject", "cat", one_of(*_SUBJECTS)),
        col("hire_date", "date", day("1998-01-01", "2024-08-31"), noun="hire date"),
        col("salary", "num", integer(31_000, 92_000, 500), type="INTEGER"),
    )),
    Table("courses", "course", 60, "co", (
        pk(),
        col("title", "label", unique(words(
            ("Intro to", "Advanced", "Applied", "Modern", "Practical", "Foundations of",
             "Topics in", "Essential", "Seminar in", "Principles of"), _SUBJECTS))),
        fk("teacher_id", "teachers"),
        col("level", "cat", one_of("beginner", "beginner", "intermediate", "advanced")),
        col("credits", "num", one_of(2, 3, 3, 4, 5, 6), type="INTEGER"),
        col("start_date", "date", day("2019-09-01", "2024-09-30"), noun="start date"),
    )),
    Table("students", "student", 300, "st", (
        pk(),
        col("name", "label", person),
        col("city", "cat", one_of(*CITIES), nouns="cities"),
        col("birth_date", "date", day("1996-01-01", "2008-12-31"), noun="birth date"),
        col("email", "text", email, null=0.15),
    )),
    Table("enrollments", "enrollment", 400, "en", (
        pk(),
        fk("student_id", "students"),
        fk("course_id", "courses"),
        col("enrolled_date", "date", day("2019-08-01", "2024-10-31"), noun="enrollment date"),
        col("grade", "num", integer(35, 100), type="INTEGER", null=0.2),
        col("status", "cat", one_of("active", "active", "completed", "completed", "dropped"),
            nouns="statuses"),
    )),
))

SHIPPING = Database("shipping", (
    Table("warehouses", "warehouse", 25, "w", (
        pk(),
        col("name", "label", unique(words(CITIES, ("Depot", "Hub", "Yard", "Terminal")))),
        col("city", "cat", derived(lambda row, rng: row["name"].split(" ")[0]), nouns="cities"),
        col("capacity", "num", integer(500, 20_000, 100), type="INTEGER", nouns="capacities"),
        col("opened_date", "date", day("2001-01-01", "2022-12-31"), noun="opening date"),
    )),
    Table("carriers", "carrier", 18, "ca", (
        pk(),
        col("name", "label", unique(words(
            ("Rapid", "Blue", "Iron", "Coastal", "Express", "Swift", "Global", "Northern"),
            ("Freight", "Logistics", "Cargo", "Lines")))),
        col("country", "cat", one_of(*COUNTRIES[:8]), nouns="countries"),
        col("founded_year", "year", integer(1950, 2018), noun="founding year"),
    )),
    Table("shipments", "shipment", 400, "sh", (
        pk(),
        col("tracking_code", "label", unique(lambda c: (
            f"{c.rng.choice(_LETTERS)}{c.rng.choice(_LETTERS)}-{c.rng.randint(10000, 99999)}")),
            noun="tracking code"),
        fk("warehouse_id", "warehouses"),
        fk("carrier_id", "carriers"),
        col("ship_date", "date", day("2022-01-01", "2024-12-31"), noun="ship date"),
        col("delivery_date", "date", days_after("ship_date", 1, 20), noun="delivery date",
            null=0.2),
        col("weight_kg", "num", money(0.5, 900), noun="weight"),
        col("cost", "num", money(8, 2_400)),
        col("status", "cat", one_of("in transit", "delivered", "delivered", "delivered",
                                    "returned", "lost"), nouns="statuses"),
    )),
))

DOMAINS: tuple[Database, ...] = (BANK, HR, RETAIL, LIBRARY, FLIGHTS, CLINIC, SCHOOL, SHIPPING)


# --- generation ------------------------------------------------------------------------------


def generate_rows(db: Database, rng: random.Random) -> dict[str, list[Row]]:
    """Every table's rows in insertion order; ids are 1..n so parents can be found by index.
    A renamed variant gets its domain's rows (from its own rng) under its own names."""
    if db.origin is not None:
        source = generate_rows(db.origin, rng)
        return {new.name: [{nc.name: row[oc.name] for oc, nc in zip(old.columns, new.columns)}
                           for row in source[old.name]]
                for old, new in zip(db.origin.tables, db.tables)}
    rows: dict[str, list[Row]] = {}
    for table in db.tables:
        rows[table.name] = []
        for i in range(table.rows):
            row: Row = {"id": i + 1}
            for column in table.columns[1:]:
                assert column.make is not None, f"{table.name}.{column.name} has no generator"
                row[column.name] = column.make(Ctx(rng, table.name, column.name, row, rows))
            rows[table.name].append(row)
    return rows


def write_sqlite(db: Database, rows: dict[str, list[Row]], path: Path) -> None:
    """One transaction, fixed insert order: the same rows give byte-identical files."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        for table in db.tables:
            conn.execute(table.ddl())
            names = [c.name for c in table.columns]
            conn.executemany(
                f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [[row[n] for n in names] for row in rows[table.name]],
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
