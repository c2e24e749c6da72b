"""The first-steps notebook (load -> exact -> KMC -> plot on one's own axes -> xarray -> read back a run file)
runs headless, top to bottom, without an error and without a single warning."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("xarray")

NOTEBOOK = Path(__file__).parent / "notebooks" / "first_steps.ipynb"


def _outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.get("outputs", [])


def test_first_steps_notebook_runs_without_warnings():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",  # run where it lives, as Jupyter does
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    texts = []
    for out in _outputs(nb):
        if out.output_type == "stream":
            texts.append(out.text)
        elif out.output_type == "error":
            texts.append(out.ename)
    joined = "\n".join(texts)
    assert "Warning" not in joined and "warning" not in joined, joined
    plain = [out.get("data", {}).get("text/plain", "") for out in _outputs(nb) if out.output_type == "execute_result"]
    assert any(text.startswith("FirstPassageResult(") for text in plain)  # the short repr of the KMC result
    assert all("\n" not in text for text in plain if text.startswith(("FirstPassage", "Stationary")))
