"""scikit-learn's own MLP test suite, run against fastnn's estimators.

The installed ``sklearn/neural_network/tests/test_mlp.py`` is copied with one
line changed, its import of ``MLPClassifier, MLPRegressor``, and run in a
subprocess. Every test must pass except the few that reach into
scikit-learn's private internals, listed in ``PRIVATE_INTERNALS`` with what
they use.
"""

import pathlib
import subprocess

import pytest
import sklearn

from conftest import python_command, skip_or_fail

SUITE = pathlib.Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"

PRIVATE_INTERNALS = {
    # Assigns coefs_ to an unfitted estimator and calls the private
    # _partial_fit with hand-made weights.
    "test_fit": "sets coefs_ before any fit",
    "test_gradient": "calls _loss_grad_lbfgs",
    "test_learning_rate_warmstart": "reads _optimizer.learning_rate",
    "test_adaptive_learning_rate": "reads _optimizer.learning_rate",
}

# scikit-learn's conftest gives this fixture; three seeds stand in for it.
CONFTEST = '''
import pytest

@pytest.fixture(params=[0, 1, 42])
def global_random_seed(request):
    return request.param
'''


def test_scikit_learns_mlp_suite_passes_against_fastnn(tmp_path):
    if not SUITE.exists():
        skip_or_fail(f"scikit-learn's tests are not installed ({SUITE})")
    source = SUITE.read_text()
    if source.count(IMPORT) != 1:
        pytest.fail(f"{SUITE} no longer imports the MLPs with {IMPORT!r}: update this test")
    (tmp_path / "test_mlp_on_fastnn.py").write_text(
        source.replace(IMPORT, "from fastnn import MLPClassifier, MLPRegressor"))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    deselect = [arg for name in PRIVATE_INTERNALS
                for arg in ("--deselect", f"test_mlp_on_fastnn.py::{name}")]
    argv, env = python_command("-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "test_mlp_on_fastnn.py", *deselect)
    run = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout.splitlines()[-1]
