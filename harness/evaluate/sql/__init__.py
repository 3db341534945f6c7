"""Text-to-SQL accuracy: exact, structural and execution match of a model's SQL against gold.

Every metric treats gold as one or more `;`-separated alternatives and accepts a prediction that
matches ANY of them. Predictions go through `extract_sql` first, identically for base and tuned
models, so neither is favoured by how its output is cut.

Metrics, strictest to most semantic:

* `exact_match`      — equal after `normalize_sql` (whitespace, keyword case, `;`, quote style).
* `structural_match` — equal after sqlglot canonicalisation (see `structural_match` for the rules).
* `execution_match`  — same result on a real SQLite database, or, when only a CREATE TABLE schema
  is known, on the first database of the suite distilled from it (`testsuite.py`).
* `execution_suite`  — the headline: same result there and on the test suite's further databases
  (neighbours of the real database, `neighbours.py`; or the rest of the distilled suite). None
  when the gold is uninformative on every database (`SqlMetric.judged_by` says so).
* `execution_match_subset` — like `execution_match`, but the prediction may return extra columns
  (the sql-eval convention); reported separately because it is more lenient.

Modules, one concern each: `extract` (model output -> statements), `parse` (sqlglot trees),
`normalize` (exact match), `structure` (structural match), `compare` (result equality),
`execute` (running gold and prediction), `determined` (whether a gold's result is fixed by the
query), `schema` (a schema's tables, a gold's constants), `mutants` (single-edit wrong answers),
`testsuite` (suites distilled from CREATE TABLE text), `neighbours` (derived from a real database),
`grammar` (constrained decoding), `metric` (SqlMetric). Nothing here imports torch.
"""

from harness.evaluate.sql.metric import SqlMetric

__all__ = ["SqlMetric"]
