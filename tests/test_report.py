"""Report stage: a real tiny run (with a search) rendered to md/html/json and checked in Chromium,
plus hand-written results.json fixtures for what a tiny random model never produces (fixed and
broken examples, breakdowns, execution metrics, two objectives, secrets, hostile model output)."""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import results as results_module
from harness import runs
from harness.report import REPORT_FILES, content, write_reports
from harness.results import Comparison, RunResults
from tests.conftest import tiny_spec_dict, write_spec

CHROMIUM = Path("/usr/bin/chromium")
README = Path(__file__).resolve().parents[1] / "harness" / "report" / "README.md"
SECRETS = ("hf_SeCrEt123", "pw-SeCrEt456", "sk-SeCrEt789", "db-SeCrEt000")


# ----------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One real `harness run` of the tiny model with a 3-trial search (about 30 s on 2 cores)."""
    from harness.pipeline import run
    from harness.spec import load_spec

    root = tmp_path_factory.mktemp("tiny-run")
    spec = tiny_spec_dict(**{"evaluation.max_new_tokens": 4, "evaluation.batch_size": 8, "evaluation.latency_samples": 1})
    spec["search"] = {
        "trials": 3,
        "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                  "lora.r": {"type": "categorical", "choices": [4, 8]}},
    }
    return run(load_spec(write_spec(root / "tiny.yaml", spec)), runs_dir=root / "runs")


def comparison(base: float, tuned: float, low: float, high: float, n: int = 200) -> dict:
    """A results.Comparison as stored."""
    diff = tuned - base
    return {"n": n, "base": base, "tuned": tuned, "diff": diff, "rel_change": diff / abs(base) if base else None,
            "ci_low": low, "ci_high": high, "confidence": 0.95, "n_resamples": 1000}


def typed(base: float, tuned: float, low: float, high: float, n: int = 200) -> Comparison:
    return Comparison.model_validate(comparison(base, tuned, low, high, n))


NOT_APPLICABLE = {**dict.fromkeys(("base", "tuned", "diff", "rel_change", "ci_low", "ci_high")), "n": 0, "confidence": 0.95, "n_resamples": 1000}


def _example(i: int, base_ok: bool, tuned_ok: bool) -> dict:
    def scores(ok: bool) -> dict:
        return {"exact_match": float(ok), "execution_match": float(ok), "valid_sql": 1.0, "executable": 1.0}

    return {
        "id": f"bank-{i:04d}",
        "prompt": f"Database schema:\ncustomers(id, name, city)\n\nQuestion: how many customers live in city {i}?",
        "gold": f"SELECT COUNT(*) FROM customers WHERE city = 'c{i}';",
        "base": f"SELECT name FROM customers -- base {i}",
        "tuned": f"SELECT COUNT(*) FROM customers WHERE city = 'c{i}';",
        "meta": {"category": ("join", "aggregate", "nested")[i % 3], "difficulty": ("hard", "easy", "medium")[i % 3]},
        "base_scores": scores(base_ok),
        "tuned_scores": scores(tuned_ok),
    }


def _latency_side(total: float, tokens: int, n: int = 50) -> dict:
    tpot = (total - 0.05) / tokens
    summary = lambda v: {"n": n, "mean": v, "p50": v, "p95": v}
    return {"queries": [{"ttft_s": 0.05, "tpot_s": tpot, "total_s": total, "output_tokens": tokens}] * n,
            "total_s": summary(total), "ttft_s": summary(0.05), "tpot_s": summary(tpot), "batch1_tokens_per_s": tokens / total}


def _breakdown_group(n: int, base: float, tuned: float) -> dict:
    return {"n": n, "base": {"execution_match": base, "exact_match": base}, "tuned": {"execution_match": tuned, "exact_match": tuned}}


def _trial(number: int, state: str, lr: float, r: int, values: list | None) -> dict:
    return {"number": number, "state": state, "params": {"lr": lr, "lora.r": r, "scheduler": "cosine" if number % 2 else "linear"},
            "values": values, "duration_s": 60.0 + number, "intermediate_values": {}, "steps": 100, "planned_steps": 100,
            "valid_loss": values[0] if values else None}


def demo_evaluation() -> dict:
    """The SQL demo's evaluation: tuned is better, faster and terser; 6 examples fixed, 2 broken."""
    outcomes = [(False, True)] * 6 + [(True, False)] * 2 + [(True, True)] * 3 + [(False, False)]
    examples = [_example(i, base_ok, tuned_ok) for i, (base_ok, tuned_ok) in enumerate(outcomes)]
    examples[0]["tuned"] = "<script>alert('x')</script> ```\n| a | b |"  # hostile output: must stay text
    return {
        "n": 200,
        "decoding": {"strategy": "greedy", "max_new_tokens": 128, "batch_size": 16, "dtype": "float32"},
        "metrics": {
            "exact_text": comparison(0.10, 0.30, 0.22, 0.41),
            "exact_match": comparison(0.12, 0.35, 0.18, 0.29),
            "valid_sql": comparison(0.80, 0.99, 0.12, 0.25),
            "executable": comparison(0.75, 0.97, 0.15, 0.28),
            "execution_match": comparison(0.42, 0.735, 0.25, 0.38),
            "execution_match_subset": NOT_APPLICABLE,
            "output_tokens": comparison(40.0, 20.0, -22.0, -18.0),
            "perplexity_answer": comparison(8.2, 1.6, -7.0, -6.2),
            "perplexity_sequence": comparison(14.0, 9.5, -5.0, -4.1),
            "latency_total_s": comparison(0.9, 0.5, -0.45, -0.35, n=50),
            "latency_ttft_s": comparison(0.05, 0.05, -0.01, 0.01, n=50),
            "latency_tpot_s": comparison(0.0213, 0.0225, -0.001, 0.003, n=50),
        },
        "throughput": {"base": {"seconds": 60.0, "tokens_per_s": 133.3, "tokens": 8000},
                       "tuned": {"seconds": 30.0, "tokens_per_s": 133.3, "tokens": 4000}},
        "latency": {"base": _latency_side(0.9, 40), "tuned": _latency_side(0.5, 20)},
        "verdict": {"outcome": "better", "headline": "execution_match",
                    "family": ["execution_match", "executable", "exact_match", "valid_sql", "exact_text"],
                    "better": ["execution_match", "executable", "exact_match", "valid_sql", "exact_text"], "worse": [], "confidence": 0.95},
        "breakdown": {
            "category": {"aggregate": _breakdown_group(70, 0.5, 0.8), "join": _breakdown_group(70, 0.4, 0.7),
                         "nested": _breakdown_group(60, 0.3, 0.7)},
            "difficulty": {"easy": _breakdown_group(80, 0.6, 0.9), "hard": _breakdown_group(40, 0.2, 0.5),
                           "medium": _breakdown_group(80, 0.4, 0.7)},
        },
        "examples": examples,
    }


def demo_search() -> dict:
    """A two-objective study (valid loss + adapter size) with a failed trial."""
    trials = [_trial(0, "complete", 1e-4, 8, [0.9, 12.0]), _trial(1, "complete", 3e-4, 16, [0.7, 24.0]),
              _trial(2, "complete", 1e-3, 32, [0.8, 48.0]), _trial(3, "fail", 2e-3, 8, None)]
    trials[3]["fail_reason"] = "FloatingPointError: objective valid_loss is nan"
    return {
        "study_name": "sql-demo-abc", "storage": f"postgresql://optuna:{SECRETS[3]}@db.example/optuna",
        "objectives": ["valid_loss", "adapter_mb"], "directions": ["minimize", "minimize"],
        "best_params": trials[1]["params"], "best_values": [0.7, 24.0], "best_trial": 1, "reused_best_trial": False,
        "trials": trials, "pareto_front": [0, 1], "param_importances": {}, "counts": {"complete": 3, "fail": 1},
        "steps_run": 400, "steps_saved_by_pruning": 0, "seconds": 250.0,
    }


def demo_results() -> dict:
    """A results.json as the SQL demo writes it, with everything a tiny random model never produces."""
    history = [{"step": s, "loss": 3.0 / s, "learning_rate": 3e-4, "grad_norm": 1.0, "epoch": s / 100} for s in range(1, 101)]
    return {
        "schema_version": results_module.SCHEMA_VERSION, "project": "sql-demo", "status": "ok", "run_dir": "runs/sql-demo/20260101-000000",
        "model": {"source": "builtin:smollm2-135m-instruct", "dir": "/cache/m", "architecture": "LlamaForCausalLM",
                  "hidden_size": 576, "layers": 30, "vocab_size": 49152, "weights_sha256_head": "0123456789abcdef"},
        "data": {"source": "builtin:sql", "format": "builtin-sql", "rows": 6515, "train": 6000, "valid": 315, "test": 200,
                 "dropped_overlap": 3, "sha256": "fedcba9876543210"},
        "train_spec": {"lr": 3e-4, "epochs": 1, "max_steps": 100, "batch_size": 8, "seed": 42,
                       "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}},
        "training": {
            "adapter_dir": "x/adapter", "steps": 100, "planned_steps": 100, "train_tokens": 200000, "train_seconds": 300.0,
            "validation_seconds": 20.0, "tokens_per_second": 666.7, "stopped_early": False,
            "autotrain_params": {"mixed_precision": "bf16"},
            "history": history + [{"step": 100, "train_runtime": 300.0, "train_loss": 0.5}],  # AutoTrain's summary row
            "valid_losses": [{"step": s, "loss": 2.5 / (s / 25)} for s in (25, 50, 75, 100)],
        },
        "search": demo_search(),
        "evaluation": demo_evaluation(),
        "environment": {"python": "3.11.7", "platform": "Linux", "cpu_count": 16, "torch_threads": 16, "gpu": "NVIDIA H100",
                        "packages": {"torch": "2.5.1", "optuna": "4.1.0"}},
        "timings": {"load_data": 1.0, "load_model": 2.0, "search": 250.0, "train": 300.0, "evaluate": 120.0},
    }


def demo_spec() -> dict:
    return {
        "project": "sql-demo",
        "model": {"source": "builtin:smollm2-135m-instruct", "token": SECRETS[0]},
        "data": {"source": "builtin:sql", "token": "${HF_TOKEN}", "split": {"seed": 7}},
        "train": {"seed": 42, "hub": {"password": SECRETS[1], "api_key": SECRETS[2]}},
        "search": {"seed": 3, "storage": f"postgresql://optuna:{SECRETS[3]}@db.example/optuna", "space": {"lr": {"type": "float", "log": True}}},
    }


def make_run_dir(root: Path, results: dict | None = None, spec: dict | None = None) -> Path:
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    record = RunResults.model_validate(results if results is not None else demo_results())
    results_module.write(runs.results_path(run_dir), record)
    runs.spec_path(run_dir).write_text(yaml.safe_dump(spec if spec is not None else demo_spec(), sort_keys=False))
    return run_dir


@pytest.fixture
def demo_run(tmp_path: Path) -> Path:
    write_reports(run_dir := make_run_dir(tmp_path))
    return run_dir


def report_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())


# ----------------------------------------------------------------------------------------------
# The real run
# ----------------------------------------------------------------------------------------------


@pytest.mark.train
def test_real_run_writes_all_reports(tiny_run: Path):
    paths = write_reports(tiny_run)
    assert [p.name for p in paths[:3]] == list(REPORT_FILES)
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    data = report_json(tiny_run)
    # WikiSQL rows carry no databases: execution metrics do not apply, exact_match is the headline
    assert data["headline"]["metric"] == "exact_match"
    assert "execution_match" not in {m["name"] for m in data["metrics"]}
    assert {"exact_match", "output_tokens", "perplexity_answer", "latency_total_s"} <= {m["name"] for m in data["metrics"]}
    assert data["search"]["n_trials"] == 3 and data["search"]["param_names"] == ["lr", "lora.r"]
    assert {p["id"] for p in data["plots"]} >= {"loss", "search_history", "search_params"}
    assert all((tiny_run / p["path"]).is_file() for p in data["plots"])
    md = (tiny_run / "report.md").read_text()
    assert data["headline"]["verdict"] in md
    for heading in ("## Headline", "## Latency and throughput", "## Training", "## Search", "## Provenance"):
        assert heading in md
    assert "](plots/loss.png)" in md and "## Breakdown" not in md


@pytest.mark.train
def test_cli_report_regenerates(tiny_run: Path, capsys):
    from harness.cli import main

    (tiny_run / "report.md").unlink()
    assert main(["report", str(tiny_run)]) == 0
    assert (tiny_run / "report.md").is_file() and "report.html" in capsys.readouterr().out


@pytest.mark.train
def test_regenerating_is_idempotent_and_touches_only_reports(tiny_run: Path):
    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(tiny_run)): p.read_bytes() for p in sorted(tiny_run.rglob("*")) if p.is_file() and "adapter" not in p.parts}

    write_reports(tiny_run)
    first = snapshot()
    (tiny_run / "plots" / "stale.png").write_bytes(b"a figure an older report had")
    write_reports(tiny_run)
    assert snapshot() == first  # same bytes, stale plot gone, no temp files left behind


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}"]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120)


# Injected into a copy of the page: records JS and resource errors, then writes a summary of
# what rendered into the DOM, which --dump-dom prints.
PROBE = """<script>
window.__errors = [];
addEventListener("error", e => __errors.push(e.message || "failed to load " + (e.target && (e.target.alt || e.target.tagName))), true);
addEventListener("load", () => {
  const images = [...document.images];
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    errors: __errors,
    images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
    headline_rows: document.querySelectorAll("#headline tbody tr").length,
    page_overflow_px: document.documentElement.scrollWidth - window.innerWidth,
  });
  document.body.append(probe);
});
</script>"""


def rendered(tmp_path: Path, page: Path, width: int) -> dict:
    probed = tmp_path / f"probed-{width}.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    result = _chromium(tmp_path, "--virtual-time-budget=10000", f"--window-size={width},900", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.DOTALL)
    assert found, f"chromium rendered no probe (rc {result.returncode}): {result.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.train
@pytest.mark.browser
@pytest.mark.parametrize("which", ["tiny", "demo"])
def test_html_renders_in_chromium(which: str, tiny_run: Path, tmp_path: Path):
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (apt-get install -y chromium; the CI script installs it)")
    run_dir = tiny_run if which == "tiny" else make_run_dir(tmp_path / "demo")
    write_reports(run_dir)
    page = run_dir / "report.html"
    source = page.read_text()
    assert not re.search(r"<script|<link|@import|url\(|src=\"(?!data:image/png;base64,)", source), "report.html must be self-contained"
    data = report_json(run_dir)
    for width in (1280, 390):  # desktop, and a phone: tables scroll inside their boxes, the page does not
        probe = rendered(tmp_path, page, width)
        assert probe["errors"] == [] and probe["broken"] == []
        assert probe["images"] == len(data["plots"]) >= 1
        assert probe["headline_rows"] == len(data["metrics"]) >= 4
        assert probe["page_overflow_px"] <= 0
    screenshot = run_dir / "report.png"
    result = _chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,2400", page.as_uri())
    assert screenshot.is_file() and screenshot.stat().st_size > 20_000, result.stderr[-2000:]


@pytest.mark.train
def test_report_stage_imports_no_pipeline_stage(tiny_run: Path):
    code = (
        "import sys; from pathlib import Path; from harness.report import write_reports; write_reports(Path(sys.argv[1]));"
        "stages = ('torch', 'transformers', 'optuna', 'harness.search', 'harness.evaluate', 'harness.train');"
        "heavy = sorted(m for m in stages if m in sys.modules);"
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tiny_run)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


# ----------------------------------------------------------------------------------------------
# Verdicts and judgements
# ----------------------------------------------------------------------------------------------


def test_verdict_significant_improvement():
    row = content.metric_row("execution_match", typed(0.42, 0.735, 0.25, 0.38))
    assert row["significant"] and row["outcome"] == "better"
    assert content.verdict(row) == "Tuned beats base on single-database execution accuracy: +31.5 pts [+25.0, +38.0] (95% CI), 42.0% → 73.5%, n=200."


def test_verdict_not_significant_when_interval_includes_zero():
    row = content.metric_row("exact_match", typed(0.50, 0.52, -0.03, 0.07))
    text = content.verdict(row)
    assert not row["significant"] and row["outcome"] == "not significant"
    assert text.startswith("No significant difference in exact-match accuracy at 95%") and "+2.0 pts [-3.0, +7.0]" in text


def test_verdict_significant_regression_and_small_sample():
    row = content.metric_row("exact_text", typed(0.60, 0.40, -0.35, -0.05, n=20))
    text = content.verdict(row)
    assert row["outcome"] == "worse"
    assert text.startswith("Tuned is worse than base on exact-text accuracy: -20.0 pts [-35.0, -5.0]") and "n=20. Small sample" in text


def test_too_few_examples_are_never_significant():
    row = content.metric_row("exact_match", typed(0.0, 1.0, 1.0, 1.0, n=1))  # n=1: the bootstrap interval is a point
    assert not row["significant"] and row["outcome"] == content.TOO_FEW
    assert content.verdict(row).startswith("Too few examples to tell whether tuning changed exact-match accuracy: +100.0 pts")
    latency = {"latency_total_s": content.metric_row("latency_total_s", typed(0.05, 0.3, 0.25, 0.25, n=1))}
    assert content.latency_note(latency, {"base": 8, "tuned": 8}).startswith("Too few timed queries (n=1) to compare batch-1 latency")


def test_lower_is_better_metrics_and_headline_choice():
    results = demo_results()
    view = content.build(RunResults.model_validate(results))
    rows = {m["name"]: m for m in view["metrics"]}
    assert rows["perplexity_answer"]["outcome"] == "better" and rows["output_tokens"]["outcome"] == "lower"
    assert "execution_match_subset" not in rows  # did not apply: no row
    assert view["headline"]["metric"] == "execution_match"
    results["evaluation"]["metrics"]["execution_match"] = NOT_APPLICABLE
    assert content.build(RunResults.model_validate(results))["headline"]["metric"] == "exact_match"


def test_latency_note_credits_shorter_outputs():
    note = content.build(RunResults.model_validate(demo_results()))["latency"]["note"]
    assert note.startswith("The tuned model is faster per query at batch 1 (500.0 ms vs 900.0 ms base")
    assert "partly because it generates fewer tokens (20.0 vs 40.0 tokens per query)" in note


def test_examples_fixed_and_broken_by_headline_metric():
    examples = content.build(RunResults.model_validate(demo_results()))["examples"]
    assert examples["counts"] == {"fixed": 6, "broken": 2, "both_correct": 3, "both_wrong": 1, "not_scored": 0}
    assert len(examples["fixed"]) == content.EXAMPLES_PER_KIND and len(examples["broken"]) == 2
    first = examples["fixed"][0]
    assert first["id"] == "bank-0000" and first["meta"] == {"category": "join", "difficulty": "hard"}
    assert {"metric": "execution_match", "base": False, "tuned": True} in first["scores"]


# ----------------------------------------------------------------------------------------------
# Rendered contents
# ----------------------------------------------------------------------------------------------


def test_demo_markdown_and_json(demo_run: Path):
    md, data = (demo_run / "report.md").read_text(), report_json(demo_run)
    assert "| Execution accuracy (single database) **(headline)** | 200 | 42.0% | 73.5% | +31.5 pts | [+25.0, +38.0] | — | +75.0% | better |" in md
    assert "200 held-out test examples, both models decoded greedily in float32 weights with the same prompts." in md
    assert [b["column"] for b in data["breakdown"]] == ["category", "difficulty"]
    assert [r["value"] for r in data["breakdown"][1]["rows"]] == ["easy", "medium", "hard"]
    assert "### Execution accuracy (single database) by difficulty" in md and "| hard | 40 | 20.0% | 50.0% | +30.0 pts |" in md
    assert "### Fixed by tuning" in md and "Example `bank-0006`" in md
    assert data["search"]["multi_objective"] and data["search"]["pareto_front"] == [0, 1]
    expected_plots = {"loss", "breakdown_category", "breakdown_difficulty", "search_history", "search_params", "search_pareto"}
    assert {p["id"] for p in data["plots"]} == expected_plots  # no importances: fANOVA needs one objective
    assert "FloatingPointError" in md and "| 1 **best** (front) | complete |" in md
    assert data["provenance"]["seeds"] == {"train": 42, "data_split": 7, "search_sampler": 3}
    assert "| dropped_overlap | 3 |" in md and "| packages.optuna | 4.1.0 |" in md
    assert data["training"]["precision"] == "bf16" and "tokens/s, bf16)" in md


def test_every_report_json_key_is_documented(demo_run: Path):
    documented = README.read_text().split("## report.json", 1)[1]
    data = report_json(demo_run)
    missing = [key for key in data if f"`{key}`" not in documented]
    for section in ("headline", "training", "search", "provenance"):
        missing += [f"{section}.{key}" for key in data[section] if f"`{key}`" not in documented]
    assert not missing


def test_secrets_masked_everywhere(demo_run: Path):
    outputs = {name: (demo_run / name).read_text() for name in REPORT_FILES}
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked into {name}"
    spec = yaml.safe_load(report_json(demo_run)["provenance"]["spec_yaml"])
    assert spec["model"]["token"] == "***" and spec["train"]["hub"] == {"password": "***", "api_key": "***"}
    assert spec["data"]["token"] == "${HF_TOKEN}"  # a placeholder names the variable, not its value
    assert spec["search"]["storage"] == "postgresql://optuna:***@db.example/optuna"
    assert report_json(demo_run)["search"]["storage"] == "postgresql://optuna:***@db.example/optuna"


def test_model_output_is_escaped(demo_run: Path):
    page = (demo_run / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    md = (demo_run / "report.md").read_text()
    # the output holds a ``` run: its block is fenced with four backticks so it cannot break out
    assert "````text\n<script>alert('x')</script> ```\n| a | b |\n````" in md


def test_runs_without_search_latency_perplexity_or_breakdown(tmp_path: Path):
    results = demo_results()
    results["search"] = None
    evaluation = results["evaluation"]
    for name in [n for n in evaluation["metrics"] if n.startswith(("latency", "perplexity"))]:
        del evaluation["metrics"][name]
    evaluation.update(latency={}, throughput={}, breakdown={})
    results["training"].update(history=[], valid_losses=[])
    run_dir = make_run_dir(tmp_path, results, spec={})
    (run_dir / "spec.yaml").unlink()
    paths = write_reports(run_dir)
    data, md = report_json(run_dir), (run_dir / "report.md").read_text()
    assert data["search"] is None and data["latency"] is None and data["breakdown"] == [] and data["plots"] == []
    assert data["provenance"]["spec_yaml"] is None
    assert "## Search" not in md and "## Latency" not in md and "## Breakdown" not in md and "Perplexity" not in md
    assert len(paths) == 3


def test_no_accuracy_metric_says_so(tmp_path: Path):
    results = demo_results()
    metrics = results["evaluation"]["metrics"]
    results["evaluation"]["metrics"] = {k: v for k, v in metrics.items() if k.startswith(("perplexity", "output"))}
    run_dir = make_run_dir(tmp_path, results)
    write_reports(run_dir)
    headline = report_json(run_dir)["headline"]
    assert headline["metric"] is None and headline["verdict"].startswith("No accuracy metric")
    assert set(headline) == set(content.build(RunResults.model_validate(demo_results()))["headline"])  # same keys either way
    assert "## Examples" not in (run_dir / "report.md").read_text()


def test_missing_results_is_a_user_error(tmp_path: Path):
    from harness.errors import UserError

    with pytest.raises(UserError, match=r"no results\.json"):
        write_reports(tmp_path)


def test_view_does_not_mutate_results():
    results = demo_results()
    record = RunResults.model_validate(results)
    before = copy.deepcopy(record)
    content.build(record, demo_spec())
    assert record == before


def _suite_example(i: int, single_ok: bool, suite_ok: bool) -> dict:
    """An answer the real database may accept (single_ok) that its neighbours may still reject."""
    example = _example(i, base_ok=False, tuned_ok=single_ok)
    example["tuned_scores"] = {**example["tuned_scores"], "execution_suite": float(suite_ok)}
    example["base_scores"] = {**example["base_scores"], "execution_suite": 0.0}
    return example


def test_suite_rejections_and_evaluation_only_sets_are_reported(tmp_path: Path):
    results = demo_results()
    evaluation = results["evaluation"]
    # 3 tuned answers right on the real database alone; the neighbours reject 2 of them
    evaluation["examples"] = [_suite_example(i, *flags) for i, flags in enumerate(
        [(True, True), (True, False), (True, False), (False, False)])]
    evaluation["metrics"]["execution_suite"] = comparison(0.30, 0.55, 0.15, 0.35)
    unseen = demo_evaluation()
    unseen["n"] = 60
    unseen["metrics"] = {"execution_suite": comparison(0.0, 0.05, -0.02, 0.12, n=60),
                         "execution_match": comparison(0.0, 0.10, 0.02, 0.18, n=60)}
    unseen["verdict"] = {"outcome": "inconclusive", "headline": "execution_suite", "family": ["execution_suite", "execution_match"],
                         "better": [], "worse": [], "confidence": 0.95}
    results["evaluation_sets"] = {"unseen": unseen}
    run_dir = make_run_dir(tmp_path, results)
    write_reports(run_dir)
    data, md = report_json(run_dir), (run_dir / "report.md").read_text()
    assert data["headline"]["metric"] == "execution_suite"  # the test-suite verdict heads the report
    assert data["refinements"] == [{"metric": "execution_suite", "label": "Execution accuracy (test suite)",
                                    "looser": "execution_match", "looser_label": "Execution accuracy (single database)",
                                    "base": 0, "tuned": 2}]
    assert "Execution accuracy (test suite) rejected 2 tuned and 0 base answers that execution accuracy (single database) accepted." in md
    assert [row["name"] for row in data["evaluation_sets"]["side_by_side"]] == ["test split", "unseen"]
    assert "| test split | 200 | 30.0% | 55.0% | +25.0 pts |" in md
    assert "| unseen | 60 | 0.0% | 5.0% | +5.0 pts |" in md
    assert "### unseen (n=60; headline: not significant; verdict: inconclusive)" in md
    assert "<h2>How far the gain travels</h2>" in (run_dir / "report.html").read_text()


def test_single_objective_search_says_what_it_gained_spent_saved_and_where_it_may_be_wrong(tmp_path: Path):
    results = demo_results()
    search = results["search"]
    trials = [_trial(0, "complete", 1e-3, 16, [0.9]), _trial(1, "pruned", 1e-4, 8, None), _trial(2, "complete", 2.8e-3, 32, [0.62])]
    trials[0]["spec_settings"] = True
    trials[1].update(steps=2, planned_steps=8)
    search.update(objectives=["valid_loss"], directions=["minimize"], best_trial=2, best_params=trials[2]["params"],
                  best_values=[0.62], trials=trials, pareto_front=None, counts={"complete": 2, "pruned": 1},
                  steps_run=202, steps_saved_by_pruning=6, tokens_run=206_848, train_seconds_run=1500.0, spec_settings_trial=0,
                  pruner="asha (first rung at step 2, 1 in 3 trials goes on per rung)",
                  params_at_edge=[{"name": "lr", "value": 2.8e-3, "side": "high", "low": 3e-4, "high": 3e-3, "log": True}])
    results["optimism_gap"] = {"objective": "valid_loss", "direction": "minimize", "validation": 0.62, "test_metric": "perplexity_answer",
                               "test": 0.47, "final_model_retrained": True, "final_validation": 0.45}
    run_dir = make_run_dir(tmp_path, results)
    write_reports(run_dir)
    md, page = (run_dir / "report.md").read_text(), html.unescape((run_dir / "report.html").read_text())
    view = report_json(run_dir)["search"]
    sentences = [
        "Search improved validation loss from 0.9 (your settings, trial 0) to 0.62 (trial 2).",
        ("Compute spent by all trials, pruned ones included: 202 optimizer steps, 206,848 training tokens, 25 min 0 s of training. "
         "Pruning saved 6 of 208 planned steps (3%)"),
        "The best lr (2.80e-03) sits at the high edge of the log-range searched [3.00e-04, 3.00e-03]",
        "the final model's on the test split is 0.47 (on test: ln of the tuned model's answer perplexity",
        "the test split is no worse, by 0.15",
        "retrained with the best parameters on the full budget (its own validation loss on the validation split: 0.45)",
    ]
    for sentence in sentences:
        assert sentence in md and sentence in page, sentence
    assert "| 0 (your settings) |" in md
    assert view["optimism_gap"]["optimism"] == pytest.approx(-0.15) and view["spec_settings"]["improved"] is True


def test_decoding_modes_side_by_side(tmp_path: Path):
    """Base/tuned × greedy/constrained in one table; the headline stays greedy's."""
    results = demo_results()
    constrained = demo_evaluation()
    constrained["decoding"]["strategy"] = "constrained"
    constrained["metrics"]["execution_match"] = comparison(0.55, 0.80, 0.15, 0.35)
    constrained["throughput"] = {"base": {"seconds": 90.0, "tokens_per_s": 50.0, "tokens": 4500, "cut_at_limit": 3},
                                 "tuned": {"seconds": 40.0, "tokens_per_s": 100.0, "tokens": 4000, "cut_at_limit": 0}}
    constrained["verdict"]["outcome"] = "inconclusive"
    results["evaluation"]["decodings"] = {"constrained": constrained}
    results["evaluation"]["decoding"]["dtype"] = "bfloat16"
    write_reports(run_dir := make_run_dir(tmp_path, results))
    md, html, data = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text(), report_json(run_dir)

    assert data["decodings"]["modes"] == ["greedy", "constrained"]
    assert data["headline"]["base"] == 0.42  # greedy's execution accuracy, not constrained's 0.55
    assert "| Measure | Base, greedy | Tuned, greedy | Base, constrained | Tuned, constrained |" in md
    assert "| Execution accuracy (single database) | 42.0% | 73.5% | 55.0% | 80.0% |" in md
    assert "| Batched time per generated token | 7.5 ms | 7.5 ms | 20.0 ms | 10.0 ms |" in md
    assert "| Answers cut at max_new_tokens | — | — | 3 | 0 |" in md  # greedy's file predates the count
    assert "| Verdict (tuned vs base) | better | | inconclusive | |" in md
    assert 'id="decodings-table"' in html and "Tuned, constrained" in html
    assert "decoded greedily in bfloat16 weights" in md and "greedy decoding in bfloat16 weights" in html


def test_a_results_file_that_predates_the_recorded_dtype_names_none(tmp_path: Path):
    results = demo_results()
    del results["evaluation"]["decoding"]["dtype"]
    write_reports(run_dir := make_run_dir(tmp_path, results))
    md, html = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    assert "200 held-out test examples, both models decoded greedily with the same prompts." in md
    assert "greedy decoding, same prompts for both models" in html and "weights" not in md.split("## Headline")[0]


def test_a_single_decoding_mode_has_no_side_by_side_section(demo_run: Path):
    assert report_json(demo_run)["decodings"] is None
    assert "## Decoding modes" not in (demo_run / "report.md").read_text()
