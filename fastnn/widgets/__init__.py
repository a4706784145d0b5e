"""Notebook widgets for fastnn: :class:`TrainingDashboard` trains an estimator live.

Needs ipywidgets and matplotlib (``pip install fastnn[notebook]``); ``import fastnn``
itself works without them, only ``import fastnn.widgets`` asks for them.
"""

try:
    import ipywidgets  # noqa: F401
    import matplotlib  # noqa: F401
except ImportError as error:
    raise ImportError(
        f"fastnn.widgets needs ipywidgets and matplotlib ({error.name} is missing): "
        "pip install fastnn[notebook]") from error

from fastnn.widgets.dashboard import TrainingDashboard

__all__ = ["TrainingDashboard"]
