"""The benchmark tables the docs link (benchmarks/tables.py -> benchmarks/records/tables.md).

The committed tables must be what the committed records give, and each table must read its
numbers from the record it names: a record edited, renamed or added without rerunning
``make bench-tables`` fails here."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from benchmarks import tables


def test_committed_tables_are_what_the_records_give():
    assert tables.OUT.is_file(), "run make bench-tables"
    assert tables.OUT.read_text() == tables.render(), "stale: run make bench-tables"


def test_the_docs_link_the_tables_and_the_cpu_summary():
    docs = (tables.RECORDS.parent.parent / "docs" / "benchmarks.md").read_text()
    assert "benchmarks/records/tables.md" in docs
    assert f"benchmarks/records/{tables.CPU}/summary.md" in docs


@pytest.fixture
def records(tmp_path):
    """A copy of the committed records to tamper with."""
    copy = tmp_path / "records"
    shutil.copytree(tables.RECORDS, copy)
    return copy


def _edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_changed_record_changes_the_tables(records):
    before = tables.render(records)
    path = records / tables.GPU / "runs" / "fc.json"
    _edit(path, lambda run: run["history"][-1].update(val_gap=0.123456))
    after = tables.render(records)
    assert "0.123" in after and after != before


def test_full_loop_table_reads_each_case_from_its_ratio():
    result = {
        "rows": [
            {"model": "fc", "kind": "alone", "step_s": {"median": 0.002}},
            {"model": "fc", "kind": "full", "step_s": {"median": 0.0025}},
        ],
        "ratios": {"fc/cuda/torch_full_over_alone": {"median": 1.25, "q1": 1.2, "q3": 1.3}},
    }
    frame = tables.loop_frame(result)
    assert frame.to_dict("records") == [
        {"model": "fc", "step alone ms": 2.0, "full": "1.25 (1.20-1.30)"}
    ]  # cases the record did not time are left out, not shown empty


def test_a_headline_ratio_missing_from_its_record_is_an_error(records):
    _edit(records / tables.CPU / "read.json", lambda r: r["ratios"].pop("frame_reader_vs_tf_data"))
    with pytest.raises(KeyError, match="frame_reader_vs_tf_data"):
        tables.headline_frame(records)


def test_a_missing_record_names_its_path(records):
    (records / tables.CPU / "infer.json").unlink()
    with pytest.raises(FileNotFoundError, match="infer.json"):
        tables.step_frame(records)


def test_every_target_check_is_listed_with_its_verdict(records):
    frame = tables.targets_frame(records)
    checks = [
        check
        for path in sorted((records / tables.CPU).glob("*.json"))
        for check in json.loads(path.read_text()).get("targets", [])
    ]
    assert len(frame) == len(checks) > 0
    assert list(frame["met"]) == ["yes" if c["met"] else "**no**" for c in checks]


def test_no_gpu_speed_up_of_two_different_networks(records):
    def grow_fc(result):
        for row in result["rows"]:
            if row["model"] == "fc":
                row["parameters"] += 1

    _edit(records / tables.GPU / "train.json", grow_fc)
    with pytest.raises(ValueError, match="fc: the CPU and GPU records time different sizes"):
        tables.step_frame(records)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    kept = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def test_every_link_into_the_tables_names_a_heading_there():
    root = tables.RECORDS.parent.parent
    pages = [root / "docs" / "benchmarks.md", *tables.RECORDS.glob("*/README.md")]
    anchors = {
        _anchor(line.lstrip("#"))
        for line in tables.OUT.read_text().splitlines()
        if line.startswith("#")
    }
    links = {
        (page.relative_to(root).as_posix(), anchor)
        for page in pages
        for anchor in re.findall(r"tables\.md#([\w-]+)", page.read_text())
    }
    assert len(links) >= 5, "the docs link no table"
    assert sorted(link for link in links if link[1] not in anchors) == []


def test_every_gpu_loader_trained_to_the_very_same_validation_gap():
    """The records back the docs' claim: the loaders hand out the same batches in the same
    order, so a model's validation GAP is identical, epoch by epoch, whichever read them."""
    histories: dict = {}
    for folder, _ in tables.GPU_RUNS:
        for path in sorted((tables.RECORDS / folder).glob("*.json")):
            run = json.loads(path.read_text())
            histories.setdefault(run["model"], []).append([h["val_gap"] for h in run["history"]])
    compared = {m: h for m, h in histories.items() if len(h) > 1}
    assert len(compared) >= 3
    for model, runs in compared.items():
        assert all(run == runs[0] for run in runs), model


def test_a_direction_is_read_only_where_the_whole_interquartile_range_agrees():
    cases = {
        "slow": {"median": 1.3, "q1": 1.2, "q3": 1.4},
        "fast": {"median": 0.7, "q1": 0.6, "q3": 0.8},
        "unclear": {"median": 1.2, "q1": 0.9, "q3": 1.5},  # median above 1, quartiles not
    }
    assert tables._verdicts(cases, "slower", "faster") == (
        "slower for slow; faster for fast; the interquartile range spans 1 for unclear"
    )
    assert tables._verdicts({"a": cases["slow"]}, "slower", "faster") == (
        "slower for all; faster for none; the interquartile range spans 1 for none"
    )
