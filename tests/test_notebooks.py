"""The notebooks in notebooks/ run top to bottom on the sample data and show their figures.

Each notebook is executed afresh, as Jupyter would run it (kernel started in
notebooks/), so a change to the public API that breaks a notebook fails here; the
outputs saved in the file are checked separately, since they are what a reader sees on
the code host.
"""

from __future__ import annotations

import nbformat
import pytest
from ipykernel.kernelspec import install
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOKS_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 120
# Saved outputs stay small enough to read and diff on the code host.
MAX_SAVED_BYTES = 1_000_000


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory):
    """A "python3" kernel that runs the interpreter running the tests.

    A python3 kernelspec left by another Python (in the user's or the system's Jupyter
    folder) can otherwise win and run the notebooks without `detector`; folders on
    JUPYTER_PATH are searched before any other.
    """
    prefix = tmp_path_factory.mktemp("jupyter")
    install(prefix=str(prefix), kernel_name="python3")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        yield "python3"


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def outputs_of(notebook) -> list:
    return [output for cell in code_cells(notebook) for output in cell.outputs]


def figures_in(notebook) -> int:
    return sum("image/png" in output.get("data", {}) for output in outputs_of(notebook))


def test_notebooks_folder_holds_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_top_to_bottom_and_draws_its_figures(path, kernel_name):
    notebook = nbformat.read(path, as_version=4)
    # Raises CellExecutionError, with the failing cell and its traceback, on any error.
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name=kernel_name,
                   resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()

    assert all(cell.execution_count for cell in code_cells(notebook))
    assert not [output for output in outputs_of(notebook) if output.output_type == "error"]
    assert figures_in(notebook) >= 1, "the notebook drew no figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_saved_with_its_outputs(path):
    """What a reader opens on the code host: every cell run in order, no errors, the figures kept."""
    notebook = nbformat.read(path, as_version=4)
    counts = [cell.execution_count for cell in code_cells(notebook)]

    assert counts == list(range(1, len(counts) + 1)), "saved without running every cell once, in order"
    assert not [output for output in outputs_of(notebook) if output.output_type == "error"]
    assert figures_in(notebook) >= 1, "saved without its figures"
    assert path.stat().st_size < MAX_SAVED_BYTES
