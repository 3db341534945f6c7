"""Shared fixtures: a tiny LLaMA spec over real WikiSQL rows, so real AutoTrain runs in seconds.

With HARNESS_TEST_NO_SKIPS set (CI has Chromium and PostgreSQL), a skipped test counts as failed,
so a machine that silently lacks one of them cannot pass CI.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import yaml

# 300 real WikiSQL rows shipped with the tests (licence and origin: tests/data/README.md).
WIKISQL_TRAIN = Path(__file__).resolve().parent / "data" / "wikisql-sample.jsonl"


def tiny_spec_dict(**overrides) -> dict:
    """A complete spec for the tiny random LLaMA: trains for a few steps on 120 WikiSQL rows."""
    spec = {
        "project": "tiny",
        "model": {"source": "tiny", "tiny": {"layers": 2, "hidden_size": 64, "heads": 4, "intermediate_size": 128}},
        "data": {"source": str(WIKISQL_TRAIN), "subset": 120, "split": {"valid": 12, "test": 8, "seed": 1}},
        "train": {"lr": 5e-3, "max_steps": 4, "batch_size": 2, "block_size": 128, "eval_every": 2, "eval_examples": 6,
                  "lora": {"r": 4, "alpha": 8}},
        "evaluation": {"max_new_tokens": 8, "batch_size": 4, "latency_samples": 2, "bootstrap_resamples": 200},
    }
    for dotted, value in overrides.items():
        node = spec
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return spec


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def tiny_spec_file(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "tiny.yaml", tiny_spec_dict())


@pytest.fixture(scope="module")
def concert_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real SQLite file: singers and their songs, with a NULL and ties to catch sloppy SQL."""
    path = tmp_path_factory.mktemp("db") / "concert.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER, score REAL);
        INSERT INTO singer VALUES
            (1, 'Ann', 'France', 31, 7.5), (2, 'Bob', 'France', 25, 6.0),
            (3, 'Cy', 'Japan', 40, 9.25), (4, 'Di', 'Peru', 25, NULL);
        CREATE TABLE song (id INTEGER PRIMARY KEY, singer_id INTEGER, title TEXT);
        INSERT INTO song VALUES (1, 1, 'Aria'), (2, 1, 'Bolero'), (3, 3, 'Canon');
        """
    )
    conn.commit()
    conn.close()
    return path


def _no_skip(report) -> None:
    if report.skipped and os.environ.get("HARNESS_TEST_NO_SKIPS") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped where HARNESS_TEST_NO_SKIPS forbids skips: {report.longrepr[-1]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _no_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A whole module skipped while collecting (`pytest.importorskip` at its top) counts too."""
    outcome = yield
    _no_skip(outcome.get_result())


def assert_stops_after_answer(model_dir: Path, spec, tmp_path: Path) -> None:
    """Train LoRA on one repeated pair; greedy decoding must then end at eos, right after the answer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.data.prompts import render_prompt
    from harness.data.records import Example, Splits
    from harness.train import train

    pair = Example(id="0", prompt="Count the rows of t.", answer="SELECT COUNT(*) FROM t;")
    result = train(model_dir, Splits(train=[pair] * 64, valid=[pair], test=[pair]), spec.train, spec.prompt, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), result.adapter_dir).merge_and_unload()
    enc = tokenizer(render_prompt(tokenizer, spec.prompt, pair.prompt), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=30, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
    new = out[0, enc["input_ids"].shape[1]:].tolist()
    assert tokenizer.eos_token_id in new, tokenizer.decode(new)
    assert tokenizer.decode(new[: new.index(tokenizer.eos_token_id)]) == pair.answer
