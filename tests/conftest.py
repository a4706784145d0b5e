import importlib
import os
import sys

import numpy as np
import pytest

import fastnn


def pytest_report_header(config):
    return f"fastnn {fastnn.__version__} from {os.path.dirname(fastnn.__file__)}"


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def tolerance(dtype):
    """Relative tolerance for a kernel against a float64 numpy reference.

    float32 results carry ~1e-7 relative rounding per operation; a few dozen
    accumulated in a dot product stay below 1e-5.
    """
    return 1e-5 if dtype == np.float32 else 1e-12


def python_command(*args):
    """argv and environment for a subprocess that imports the same fastnn as the tests.

    ``-P`` keeps the working directory (possibly an unbuilt source tree) off
    ``sys.path``; PYTHONPATH points at the directory holding the fastnn
    package the tests imported (installed or built in place).
    """
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(fastnn.__file__))}
    return [sys.executable, "-P", *args], env


def skip_or_fail(reason):
    """Skip a test whose prerequisites are missing, except in CI, where it fails.

    CI (``CI=true``, set by ``.ci/run``) installs everything the optional tests
    need, so a missing piece there is a broken install step, not an optional
    extra: failing keeps a green CI from hiding it.
    """
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: required in CI)", pytrace=False)
    pytest.skip(reason)


def import_or_skip(module):
    """Import ``module`` or :func:`skip_or_fail` with the reason."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        skip_or_fail(f"{module} is not installed ({error}); pip install '.[test]'")
