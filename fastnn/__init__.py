"""fastnn: fast neural networks for the scikit-learn world."""

__version__ = "0.1.0"
