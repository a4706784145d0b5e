"""The gallery's examples run top to bottom and draw, without Sphinx.

sphinx-gallery runs every ``examples/plot_*.py`` when the documentation is
built; running each here, in a subprocess with matplotlib's non-interactive
backend, keeps them working between builds. An example that raises fails its
test, and so does one that leaves no figure open: each is there to draw. The
examples sit beside ``tests/`` in the source tree only; a copy of the tests run
against an installed wheel skips these.
"""

import ast
import subprocess
from pathlib import Path

import pytest

from conftest import import_or_skip, python_command

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PATHS = sorted(EXAMPLES.glob("plot_*.py")) if EXAMPLES.is_dir() else []
needs_examples = pytest.mark.skipif(not PATHS, reason="examples/ not next to the tests")

# Modules an example needs beyond fastnn's own requirements and matplotlib.
# Without them the example prints why and draws nothing, which is right for the
# gallery but leaves nothing to check here.
EXTRA_REQUIREMENTS = {"plot_dask_out_of_core": ("dask", "dask_ml")}

# Seconds an example may take. Each takes a few seconds; the bound only keeps a
# hung example from stalling the suite.
TIMEOUT = 300

# Runs the example as sphinx-gallery does, as __main__ in a fresh interpreter,
# then exits with status 3 if it left no figure: with the Agg backend,
# ``plt.show()`` draws nothing and closes nothing.
RUNNER = """
import runpy, sys
runpy.run_path(sys.argv[1], run_name="__main__")
import matplotlib.pyplot as plt
sys.exit(0 if plt.get_fignums() else 3)
"""


@needs_examples
def test_every_example_is_collected():
    # The gallery; a renamed or lost example should not silently drop out.
    expected = {"plot_activation_zoo", "plot_decision_boundaries", "plot_speed_vs_sklearn",
                "plot_dropout", "plot_quantile_bands", "plot_grid_search",
                "plot_embeddings", "plot_dask_out_of_core", "plot_callbacks"}
    assert expected <= {path.stem for path in PATHS}


@needs_examples
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_example_has_a_gallery_header(path):
    # sphinx-gallery takes the module docstring's RST title for the gallery's
    # thumbnail and its first paragraph for the tooltip.
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path.name} has no module docstring"
    lines = docstring.splitlines()
    if set(lines[0]) == {"="}:  # an overline is allowed
        lines = lines[1:]
    title, underline, blank, paragraph = lines[:4]
    assert title.strip() and set(underline) == {"="} and len(underline) >= len(title), \
        f"{path.name}: the docstring must start with a title underlined with '='"
    assert blank == "" and paragraph.strip(), \
        f"{path.name}: the title must be followed by a paragraph"


@needs_examples
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_example_runs_and_draws(path, tmp_path):
    import_or_skip("matplotlib")
    for module in EXTRA_REQUIREMENTS.get(path.stem, ()):
        import_or_skip(module)
    argv, env = python_command("-c", RUNNER, str(path))
    env["MPLBACKEND"] = "Agg"
    # An empty working directory: nothing an example might write lands in the tree.
    result = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode != 3, f"{path.name} drew no figure\n{result.stdout}"
    assert result.returncode == 0, \
        f"{path.name} failed:\n{result.stdout}\n{result.stderr}"
