"""harness.report (write_reports, build_view): a real tiny run (with a search) rendered to md/html/json
and checked in Chromium; the run directory's spec read back as the typed spec, or shown when it no
longer reads; secrets masked in every file written."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.report import REPORT_FILES, build_view, write_reports
from tests.conftest import tiny_spec_dict, write_spec
from tests.report_fixtures import SECRETS, make_run_dir, old_spec, report_json

CHROMIUM = Path("/usr/bin/chromium")


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


def test_secrets_masked_everywhere(tmp_path: Path):
    for spec in ("typed", "old"):
        run_dir = make_run_dir(tmp_path / spec, spec=None if spec == "typed" else old_spec())
        write_reports(run_dir)
        outputs = {name: (run_dir / name).read_text() for name in REPORT_FILES}
        for name, text in outputs.items():
            for secret in SECRETS:
                assert secret not in text, f"{secret} leaked into {name} ({spec} spec)"
        shown = yaml.safe_load(report_json(run_dir)["provenance"]["spec_yaml"])
        assert shown["model"]["token"] == "***"
        assert shown["search"]["storage"] == "postgresql://optuna:***@db.example/optuna"
        assert report_json(run_dir)["search"]["storage"] == "postgresql://optuna:***@db.example/optuna"
    assert shown["train"]["hub"] == {"password": "***", "api_key": "***"}
    assert shown["data"]["token"] == "${HF_TOKEN}"  # a placeholder names the variable, not its value


def test_the_run_directorys_spec_is_read_back_typed(tmp_path: Path):
    view = build_view(make_run_dir(tmp_path))
    assert view.provenance.seeds == {"train": 42, "data_split": 7, "search_sampler": 3}
    assert view.search.log_scale_params == ["lr"]  # the spec's search space says lr was searched on a log scale


def test_a_spec_that_no_longer_reads_is_still_shown(tmp_path: Path):
    run_dir = make_run_dir(tmp_path, spec=old_spec())
    write_reports(run_dir)
    data = report_json(run_dir)
    assert data["provenance"]["seeds"] == {"train": 42}  # nothing read from a spec that does not validate
    assert data["search"]["log_scale_params"] == []
    assert "hub:" in data["provenance"]["spec_yaml"] and "### Spec (secrets masked)" in (run_dir / "report.md").read_text()


def test_a_spec_with_env_placeholders_reads_without_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    spec = yaml.safe_load(make_run_dir(tmp_path / "demo").joinpath("spec.yaml").read_text())
    spec["model"]["token"] = "${HF_TOKEN}"
    view = build_view(make_run_dir(tmp_path, spec=yaml.safe_dump(spec, sort_keys=False)))
    assert view.provenance.seeds["data_split"] == 7 and "token: ${HF_TOKEN}" in view.provenance.spec_yaml


def test_missing_results_is_a_user_error(tmp_path: Path):
    from harness.errors import UserError

    with pytest.raises(UserError, match=r"no results\.json"):
        write_reports(tmp_path)


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


