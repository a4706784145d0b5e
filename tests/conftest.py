import os

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
