"""yt8m_lib.paths: the project root the default paths start at, and the variables that move
each of them."""

from __future__ import annotations

import pytest
from conftest import CHECKOUT

from yt8m_lib import paths

VARIABLES = (
    "YT8M_HOME",
    "YT8M_DATA_DIR",
    "YT8M_SYNTH_DIR",
    "YT8M_REAL_DIR",
    "YT8M_RESULTS_DIR",
    "YT8M_FIGURES_DIR",
)


@pytest.fixture
def no_variables(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_a_checkout_is_its_own_project_root(no_variables):
    assert paths.checkout_root() == CHECKOUT  # pyproject.toml beside yt8m_lib/
    assert paths.project_root() == CHECKOUT
    assert paths.data_dir() == CHECKOUT / "data"
    assert paths.synth_dir("smoke") == CHECKOUT / "data" / "synthetic" / "smoke"
    assert paths.results_dir() == CHECKOUT / "results"
    assert paths.figures_dir() == CHECKOUT / "figures"


def test_an_installed_package_uses_the_current_folder(no_variables, tmp_path, monkeypatch):
    site_packages = tmp_path / "site-packages"  # no pyproject.toml beside the package
    monkeypatch.setattr(paths, "PACKAGE_DIR", site_packages / "yt8m_lib")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert paths.checkout_root() is None
    assert paths.project_root() == work
    assert paths.results_dir() == work / "results"
    assert paths.real_dir() is None  # no tmp/shared/yt8m_real


def test_yt8m_home_moves_every_default(no_variables, tmp_path, monkeypatch):
    monkeypatch.setenv("YT8M_HOME", str(tmp_path / "home"))
    assert paths.project_root() == tmp_path / "home"
    assert paths.data_dir() == tmp_path / "home" / "data"
    assert paths.results_dir() == tmp_path / "home" / "results"
    assert paths.figures_dir() == tmp_path / "home" / "figures"
    (tmp_path / "shared" / "yt8m_real").mkdir(parents=True)
    assert paths.real_dir() == tmp_path / "shared" / "yt8m_real"  # beside the root


def test_each_variable_still_overrides_its_own_path(no_variables, tmp_path, monkeypatch):
    monkeypatch.setenv("YT8M_HOME", str(tmp_path / "home"))
    for name in VARIABLES[1:]:
        monkeypatch.setenv(name, str(tmp_path / name))
    (tmp_path / "YT8M_REAL_DIR").mkdir()
    assert paths.data_dir() == tmp_path / "YT8M_DATA_DIR"
    assert paths.synth_dir("smoke") == tmp_path / "YT8M_SYNTH_DIR"
    assert paths.real_dir() == tmp_path / "YT8M_REAL_DIR"
    assert paths.results_dir() == tmp_path / "YT8M_RESULTS_DIR"
    assert paths.figures_dir() == tmp_path / "YT8M_FIGURES_DIR"
    monkeypatch.delenv("YT8M_SYNTH_DIR")
    assert paths.synth_dir("smoke") == tmp_path / "YT8M_DATA_DIR" / "synthetic" / "smoke"
