"""Run records: defaults, atomic JSON round trip, numpy conversion, environment and git.
(Tables of many records: test_tables.py.)"""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import CHECKOUT, sample_run_record

from yt8m_lib.errors import DataError
from yt8m_lib.runs import run_record as results
from yt8m_lib.runs.run_record import (
    environment_info,
    git_info,
    new_run_record,
    read_run_record,
    write_run_record,
)

CONTRACT_KEYS = {
    "schema",
    "run_id",
    "created",
    "framework",
    "framework_version",
    "model",
    "features",
    "profile",
    "seed",
    "config",
    "data",
    "history",
    "best_epoch",
    "evaluations",
    "timings",
    "hardware",
    "parameters",
    "distributed",
    "environment",
    "git",
}


def test_new_record_has_every_contract_key_and_the_environment():
    record = sample_run_record()
    assert CONTRACT_KEYS <= set(record)
    assert record["schema"] == results.SCHEMA
    assert record["framework_version"] == results.package_version("torch")
    assert "torch" in record["run_id"] and "fc" in record["run_id"]
    assert record["distributed"] == {"world_size": 1, "backend": None}
    assert record["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert new_run_record()["run_id"] != new_run_record()["run_id"]


def test_round_trip_converts_numpy_and_writes_strict_json(tmp_path):
    record = sample_run_record()
    path = write_run_record(tmp_path / "run", record)
    assert path == tmp_path / "run" / "run.json"
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary left
    json.loads(path.read_text(), parse_constant=pytest.fail)  # no NaN / Infinity tokens
    back = read_run_record(tmp_path / "run")
    assert back["parameters"] == 1234 and type(back["parameters"]) is int
    assert back["evaluations"]["test"]["map"] is None  # NaN -> null
    assert back["config"]["model"]["fc_hidden"] == [64, 32]
    assert back["history"][1]["val_loss"] == pytest.approx(0.45)
    assert read_run_record(path) == back  # the file path works too
    assert back == json.loads(json.dumps(results.to_jsonable(record)))


def test_unstorable_values_are_named():
    with pytest.raises(TypeError, match=r"record\.timings\.bad"):
        results.to_jsonable({"timings": {"bad": object()}})


def test_rewriting_replaces_the_record(tmp_path):
    write_run_record(tmp_path, {"a": 1})
    write_run_record(tmp_path, {"a": 2})
    assert read_run_record(tmp_path) == {"a": 2}


def test_reading_missing_or_broken_records_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="no run record"):
        read_run_record(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_run_record(tmp_path)


def test_git_info_of_this_checkout_and_of_a_folder_outside_git(tmp_path):
    info = git_info()
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=CHECKOUT, capture_output=True, text=True
    ).stdout.strip()
    assert info["commit"] == head and isinstance(info["dirty"], bool)
    assert git_info(tmp_path) == {"commit": None, "dirty": None}


def test_git_info_calls_a_checkout_dirty_for_code_changes_but_not_for_rewritten_figures(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "table.md").write_text("0.5\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    assert git_info(tmp_path)["dirty"] is False
    (tmp_path / "figures" / "table.md").write_text("0.6\n")  # a notebook rewrote its table
    (tmp_path / "figures" / "new.png").write_bytes(b"png")
    assert git_info(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_info(tmp_path)["dirty"] is True


def test_environment_info_reads_versions_without_importing_frameworks():
    code = (
        "import sys, json; from yt8m_lib.runs.run_record import environment_info\n"
        "info = environment_info()\n"
        "assert not {'torch', 'tensorflow', 'keras'} & set(sys.modules), sys.modules.keys()\n"
        "print(json.dumps(info))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    info = json.loads(done.stdout)
    assert info["numpy"] == np.__version__
    assert info["cpu_count"] >= 1 and "platform" in info
    assert set(results.PACKAGES) <= set(info)
    assert environment_info()["python"] == info["python"]
