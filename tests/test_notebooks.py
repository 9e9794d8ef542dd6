"""Every notebook: committed without outputs, in sync with its jupytext .py, and executes top to
bottom offline. Execution time is measured by `make bench`, not asserted here."""

from __future__ import annotations

import json

import jupytext
import nbformat
import prose_numbers
import pytest
from conftest import ASSIGNMENTS, LECTURES, NOTEBOOKS, REPO, notebook_id
from nbclient import NotebookClient

EXPECTED = ["lectures/01_image_classification.ipynb", "lectures/02_linear_classifiers.ipynb",
            "lectures/03_optimization.ipynb", "lectures/04_backpropagation.ipynb",
            "lectures/05_training_neural_networks.ipynb", "lectures/06_convolutional_networks.ipynb",
            "lectures/07_cnn_architectures.ipynb", "lectures/08_evaluation.ipynb",
            "lectures/09_object_detection.ipynb", "lectures/10_single_stage_detection.ipynb",
            "lectures/11_segmentation.ipynb", "lectures/12_recurrent_networks.ipynb",
            "lectures/13_captioning_attention.ipynb", "lectures/14_attention_transformers.ipynb",
            "lectures/15_learning_without_labels.ipynb", "lectures/16_understanding_cnns.ipynb",
            "lectures/17_generative_models.ipynb", "lectures/18_beyond.ipynb",
            "assignments/a1_knn_linear/a1_knn_linear.ipynb",
            "assignments/a2_neural_networks/a2_neural_networks.ipynb",
            "assignments/a3_cnn/a3_cnn.ipynb", "assignments/a4_detection/a4_detection.ipynb",
            "assignments/a5_captioning/a5_captioning.ipynb",
            "assignments/a6_transformers/a6_transformers.ipynb",
            "assignments/a7_understanding_generative/a7_understanding_generative.ipynb"]


def test_the_course_has_its_notebooks():
    have = {notebook_id(p) for p in NOTEBOOKS}
    assert set(EXPECTED) <= have, f"missing: {sorted(set(EXPECTED) - have)}"
    assert LECTURES and ASSIGNMENTS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    with_outputs = [i for i, c in enumerate(nb["cells"])
                    if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not with_outputs, f"{notebook_id(path)}: cells {with_outputs} have outputs; run `make sync`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_in_sync_with_jupytext_twin(path):
    py = path.with_suffix(".py")
    assert py.is_file(), f"{notebook_id(path)} has no paired {py.name}"
    from_py = jupytext.read(py)
    from_nb = nbformat.read(path, as_version=4)

    def cells(nb):
        return [(c.cell_type, c.source.strip(), json.dumps(c.metadata.get("nbgrader"), sort_keys=True))
                for c in nb.cells]

    assert cells(from_py) == cells(from_nb), (
        f"{notebook_id(path)} and {py.name} differ: edit the .py, then run `make sync`")
    assert from_nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_caps_its_threads_in_its_first_code_cell(path):
    """One shared place decides the BLAS/torch threads (dlcv.timing.cap_threads): every notebook
    calls it where it imports, and none sets a thread count of its own."""
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first = next(src for src in code if "import" in src)
    assert "from dlcv.timing import" in first and "\ncap_threads()" in first, notebook_id(path)
    for src in code:
        assert "set_num_threads(" not in src and "threadpool_limits(" not in src, notebook_id(path)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_executes_top_to_bottom(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError with the cell and traceback on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= 3, f"{notebook_id(path)} shows only {images} figures"
    # prose that restates a printed number drifts when the code changes (lectures and assignments)
    restated = prose_numbers.restated(nb, prose_numbers.ALLOWED.get(path.stem))
    assert not restated, (
        f"{notebook_id(path)}: the prose types numbers the code prints; refer to the printed "
        "line or print the sentence from the code (tests/prose_numbers.py):\n"
        + "\n".join(map(str, restated)))


def test_repo_has_no_machine_paths():
    for p in LECTURES + ASSIGNMENTS:
        for twin in (p, p.with_suffix(".py")):
            text = twin.read_text(encoding="utf-8")
            assert "/work/" not in text and "/root/" not in text, f"{twin} holds a machine path"
    assert REPO.joinpath("README.md").is_file()
