"""The notebooks as a reader meets them: committed clean, parameterised by plain literals,
free of package logic, and runnable top to bottom on the smoke profile.

The smoke runs execute every notebook with papermill into pytest's temporary folders: data,
run records and figures never touch the repository (YT8M_DATA_DIR, YT8M_RESULTS_DIR and
YT8M_FIGURES_DIR point there). They are grouped for ``pytest -n 2 --dist loadgroup``: the
model notebooks (03, 04), the comparison (05) and the genre chapter (08), which read their run
records, share one worker and one results folder.
"""

from __future__ import annotations

import ast

import nbformat
import pytest
from conftest import CHECKOUT

NOTEBOOK_DIR = CHECKOUT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
EXPECTED = (
    "01_eda_features",
    "02_autoencoder",
    "03_keras_models",
    "04_torch_models",
    "05_framework_comparison",
    "06_distributed_scaling",
    "07_learning_curves",
    "08_genres",
)
# notebooks that read run records other notebooks write share a worker and a results folder
GROUPS = {"03": "nb-models", "04": "nb-models", "05": "nb-models", "08": "nb-models"}
# per-notebook smoke parameters on top of profile="smoke" (one seed: a smoke run checks that
# the cells run, not the statistics)
SMOKE_MODELS = ["logistic", "fc", "bilstm"]  # what 05 compares in a smoke run (it trains nothing)
SMOKE_PARAMETERS = {
    "03": {"seeds": [0]},
    "04": {"seeds": [0]},
    "05": {"seeds": [0], "models": SMOKE_MODELS},
    "02": {"seeds": [0]},
    "06": {"ddp_models": ["fc"]},
    "07": {"seeds": [0], "frameworks": ["torch"], "models": ["logistic"]},
    "08": {"seeds": [0], "models": ["logistic", "fc"], "n_boot": 50},
}


def load(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def parameters_cells(nb):
    return [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]


def test_the_notebooks_of_the_thesis_are_all_there_in_order():
    assert [p.stem for p in NOTEBOOKS] == [
        name for name in EXPECTED if (NOTEBOOK_DIR / f"{name}.ipynb").exists()
    ]
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_holds_no_outputs(path):
    for index, cell in enumerate(code_cells(load(path))):
        assert cell.outputs == [], f"{path.name} cell {index} has outputs: strip them"
        assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_one_parameters_cell_of_plain_literals(path):
    nb = load(path)
    cells = parameters_cells(nb)
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters', need exactly 1"
    names = []
    for statement in ast.parse(cells[0].source).body:
        assert (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ), f"{path.name}: parameters cell may hold only `name = literal` lines"
        ast.literal_eval(statement.value)  # raises ValueError on anything but a literal
        names.append(statement.targets[0].id)
    assert "profile" in names, f"{path.name}: the parameters cell must set `profile`"
    assert len(names) == len(set(names)), f"{path.name}: a parameter is set twice"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_the_package_and_defines_no_functions_or_classes(path):
    nb = load(path)
    source = "\n".join(cell.source for cell in code_cells(nb))
    tree = ast.parse(source)
    defined = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    assert not defined, f"{path.name} defines {defined}: that belongs in yt8m_lib"
    assert "yt8m_lib" in source
    assert "save_fig" in source or path.stem.startswith("00"), f"{path.name} saves no figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_states_the_corrected_dataset_facts_when_it_mentions_the_thesis_errors(path):
    text = " ".join(" ".join(cell.source for cell in load(path).cells).replace("*", "").split())
    if "3864" in text:
        assert "3862 classes" in text, f"{path.name} repeats the thesis's 3864 classes uncorrected"
    if "1028" in text or "100 RGB" in text:
        assert "1024 RGB" in text and "128 audio" in text, (
            f"{path.name} repeats the thesis's 100 RGB / 1028 audio uncorrected"
        )


def test_every_file_of_the_repository_a_notebook_or_the_package_names_exists():
    """A reader follows the pointers in the chapters' text and the package's messages:
    every ``docs/...``, ``figures/...``, ``benchmarks/...`` or ``notebooks/...`` file they
    name must be there."""
    import re

    pattern = re.compile(r"\b((?:docs|benchmarks|notebooks)/[\w./-]+\.(?:md|py|sh|ipynb))")
    sources = {p: p.read_text(encoding="utf-8") for p in NOTEBOOKS}
    sources |= {p: p.read_text(encoding="utf-8") for p in (CHECKOUT / "yt8m_lib").rglob("*.py")}
    missing = {
        f"{path.relative_to(CHECKOUT)}: {name}"
        for path, text in sources.items()
        for name in pattern.findall(text)
        if not (CHECKOUT / name).exists()
    }
    assert not missing, sorted(missing)


# --------------------------------------------------------------------------- smoke runs


@pytest.fixture(scope="session")
def smoke_env(tmp_path_factory):
    """One data/results/figures folder per worker: notebooks 03-05 share run records."""
    root = tmp_path_factory.mktemp("notebooks")
    env = {
        "YT8M_DATA_DIR": str(root / "data"),
        "YT8M_RESULTS_DIR": str(root / "results"),
        "YT8M_FIGURES_DIR": str(root / "figures"),
    }
    from yt8m_lib.data import datasets

    datasets.ensure_synthetic_data("smoke", 0, root / "data" / "synthetic" / "smoke")
    return root, env


def smoke_cases():
    for path in NOTEBOOKS:
        prefix = path.stem[:2]
        marks = [pytest.mark.slow, pytest.mark.xdist_group(GROUPS.get(prefix, f"nb-{prefix}"))]
        yield pytest.param(path, id=path.stem, marks=marks)


@pytest.mark.parametrize("path", list(smoke_cases()))
def test_notebook_runs_top_to_bottom_on_the_smoke_profile(path, smoke_env, monkeypatch):
    papermill = pytest.importorskip("papermill")
    root, env = smoke_env
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    figures = root / "figures"
    before = set(figures.glob("*")) if figures.exists() else set()
    parameters = {"profile": "smoke", **SMOKE_PARAMETERS.get(path.stem[:2], {})}
    if path.stem.startswith(("05", "08")):
        # the comparison and the genre chapter train no class model: make sure the runs of
        # 03/04 exist (reused when the model notebooks already ran on this worker, as they
        # usually have)
        from yt8m_lib import experiments
        from yt8m_lib.data import datasets

        data = datasets.resolve_data_dir(None, "smoke")
        for framework in ("keras", "torch"):
            experiments.run_suite(
                framework, SMOKE_MODELS, [0], profile="smoke", data_dir=data, verbose=False
            )
    output = root / "executed" / path.name
    output.parent.mkdir(exist_ok=True)
    papermill.execute_notebook(
        str(path),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(NOTEBOOK_DIR),
        progress_bar=False,
        execution_timeout=600,
    )
    new = {p.name for p in set(figures.glob("*")) - before}
    pngs = {n for n in new if n.endswith(".png")}
    assert pngs, f"{path.name} wrote no figure into YT8M_FIGURES_DIR"
    assert {n[:-4] + ".pdf" for n in pngs} <= new, f"{path.name}: every figure as PNG and PDF"
    assert all(n.startswith(path.stem[:2] + "_") for n in new), (
        f"{path.name}: figure names start with the notebook number: {sorted(new)}"
    )
