"""The teaching notebooks run top to bottom on a fresh kernel, and are stored clean.

Each notebook asserts its own numbers (weights against scikit-learn's, a forward pass by
hand against ``predict_proba``, ...), so running it without an error is a real check.
The notebooks sit beside ``tests/`` in the source tree only; a copy of the tests run
against an installed wheel skips these.
"""

import json
from pathlib import Path

import pytest

from conftest import import_or_skip, python_command

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb")) if NOTEBOOKS.is_dir() else []
needs_notebooks = pytest.mark.skipif(not PATHS, reason="notebooks/ not next to the tests")

# Seconds any one cell may take. The slowest cells train small networks for a few
# seconds; the bound only keeps a hung kernel from stalling the suite.
CELL_TIMEOUT = 180


@needs_notebooks
def test_every_notebook_is_collected():
    # The five of issue 4 and issue 14's sixth; a renamed or lost notebook should
    # not silently drop out.
    assert [p.name[:2] for p in PATHS] == ["01", "02", "03", "04", "05", "06"]


@needs_notebooks
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_stored_without_outputs(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    for number, cell in enumerate(code, start=1):
        assert cell.get("outputs") == [], f"{path.name}: code cell {number} has outputs"
        assert cell.get("execution_count") is None, \
            f"{path.name}: code cell {number} has an execution count"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@needs_notebooks
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path, tmp_path):
    nbformat = import_or_skip("nbformat")
    nbclient = import_or_skip("nbclient")
    import_or_skip("ipykernel")
    notebook = nbformat.read(path, as_version=4)
    # The kernel gets the tests' PYTHONPATH, so it imports the same fastnn, and runs
    # in an empty directory: nothing the notebook might write lands in the source tree.
    _, env = python_command()
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)  # raises CellExecutionError with the traceback on any error
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert errors == []
