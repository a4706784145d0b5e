"""fastnn: fast neural networks for the scikit-learn world.

Compiled Cython kernels (activations, dense layers, losses, optimizers and a
whole training epoch, GIL released) behind a small Python layer.
"""

from fastnn._version import __version__

try:
    from fastnn._kernels import plan as _plan_kernels  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised by hand
    raise ImportError(
        "fastnn's compiled kernels are missing: this is probably an unbuilt source "
        "checkout on sys.path. Install with `python -m pip install .` and run from "
        "another directory, or build in place with `python -m pip install -e .`."
    ) from error

from fastnn import activations
from fastnn.network import Network
from fastnn.linear_model import LinearRegression, LogisticRegression
from fastnn.neural_network import MLPClassifier, MLPRegressor
from fastnn.persistence import load, save
from fastnn.onnx import to_onnx

__all__ = ["LinearRegression", "LogisticRegression", "MLPClassifier", "MLPRegressor",
           "Network", "activations", "load", "save", "to_onnx", "__version__"]
