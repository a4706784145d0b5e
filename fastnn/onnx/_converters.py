"""skl2onnx converters, shape calculators and parsers of fastnn's four estimators.

Each converter reads the estimator's public fitted attributes only:
``coefs_``/``intercepts_`` and the ``activation`` parameter (one name, or
one per hidden layer, resolved with :func:`fastnn.activations.get`) of the
MLPs, ``coef_``/``intercept_`` of the single neurons, ``out_activation_``,
``n_outputs_`` and ``classes_``. It writes the network's forward pass
(MatMul and Add per layer, the activations of
:mod:`fastnn.onnx._activations`, no dropout: inference) and then what
``predict``/``predict_proba`` make of the output, skl2onnx's conventions:

* classifiers: a label tensor and a probability matrix, which skl2onnx's
  ZipMap turns into a list of dicts unless ``zipmap=False``; multiclass
  labels are the classes at the ArgMax, binary ones ``p > 0.5`` (fastnn's
  rule, ties to the first class as ArgMax would give them) with the two
  columns ``1 - p, p``; multilabel labels are the 0/1 matrix ``p > 0.5``;
  ``nocl=True`` gives class indices instead of labels;
* regressors: a matrix of shape (n_samples, n_outputs), ``exp`` of the
  network for the Poisson loss;
* an MLP with the option ``transform=True`` (what :func:`fastnn.to_onnx`
  sets for an MLP that a pipeline uses as a transformer): the last hidden
  layer, :meth:`fastnn.MLPClassifier.transform`.

This module imports skl2onnx, so only :func:`fastnn.onnx.register_converters`
imports it, on first use.
"""

import contextlib
import contextvars

import numpy as np
from sklearn.base import is_classifier
from skl2onnx import get_model_alias, update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType, guess_tensor_type
from skl2onnx.common.shape_calculator import (
    calculate_linear_classifier_output_shapes, calculate_linear_regressor_output_shapes)

# skl2onnx's own classifier parser (label, probabilities, then ZipMap and the
# nocl/zipmap options): what its documentation's custom parsers delegate to
# for a classifier; skl2onnx has no public name for it.
from skl2onnx._parse import _parse_sklearn_classifier

from fastnn import activations
from fastnn.linear_model import LinearRegression, LogisticRegression
from fastnn.neural_network import MLPClassifier, MLPRegressor
from fastnn.onnx._activations import add_activation
from fastnn.onnx._graph import Graph, OnnxExportError, element_type

__all__ = ["CLASSIFIER_OPTIONS", "MLP_OPTIONS", "register", "used_as_transformers"]

#: The options of the classifiers' converters (skl2onnx's names and values).
CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False],
                      "output_class_labels": [False, True]}
#: The option of the MLPs: export ``transform`` (the last hidden layer).
MLP_OPTIONS = {"transform": [False, True]}

# scikit-learn's out_activation_ names as fastnn activation names.
_OUTPUT_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "softmax": "softmax",
                       "exp": "exponential"}


def _is_mlp(estimator):
    return isinstance(estimator, (MLPClassifier, MLPRegressor))


# The ids of the MLPs the conversion under way exports as transformers,
# beside those the option transform names: fastnn.to_onnx finds them itself,
# so that the caller's options (in any of skl2onnx's forms) stay untouched.
_TRANSFORMERS = contextvars.ContextVar("fastnn_onnx_transformers", default=frozenset())


@contextlib.contextmanager
def used_as_transformers(ids):
    """Export the MLPs with these ``id`` values as transformers while the block runs.

    Parameters
    ----------
    ids : iterable of int

    Yields
    ------
    None
    """
    token = _TRANSFORMERS.set(frozenset(ids))
    try:
        yield
    finally:
        _TRANSFORMERS.reset(token)


def _transforms(scope_or_container, estimator):
    if not _is_mlp(estimator):
        return False
    if id(estimator) in _TRANSFORMERS.get():
        return True
    return bool(scope_or_container.get_options(estimator, {"transform": False})["transform"])


def _layers(estimator):
    """Each layer's (W, b, Activation), the output layer last."""
    if hasattr(estimator, "coefs_"):
        coefs, intercepts = estimator.coefs_, estimator.intercepts_
        hidden = estimator.activation
        if isinstance(hidden, str):
            hidden = [hidden] * (len(coefs) - 1)
        names = list(hidden)
    else:
        coef = np.asarray(estimator.coef_)
        coefs = [coef.reshape(-1, 1) if coef.ndim == 1 else coef.T]
        intercepts = [np.atleast_1d(np.asarray(estimator.intercept_))]
        names = []
    names.append(_OUTPUT_ACTIVATIONS[estimator.out_activation_])
    return [(np.asarray(w), np.asarray(b), activations.get(name))
            for w, b, name in zip(coefs, intercepts, names)]


def _forward(g, x, layers):
    for w, b, activation in layers:
        z = g.add(g.op("MatMul", x, g.const(w)), g.const(b))
        x = add_activation(g, activation, z)
    return x


def _graph(scope, container, operator):
    dtype = np.float64 if isinstance(operator.inputs[0].type, DoubleTensorType) else np.float32

    def add_node(op_type, inputs, outputs, domain, attributes):
        container.add_node(op_type, inputs, outputs, op_domain=domain,
                           name=scope.get_unique_operator_name(op_type), **attributes)

    def add_constant(name, array):
        container.add_initializer(name, element_type(array.dtype), list(array.shape),
                                  array.ravel().tolist() if array.dtype == object
                                  else array.ravel())

    opset = container.target_opset_any_domain("")
    return Graph(add_node, add_constant, scope.get_unique_variable_name, dtype, opset)


def _label_values(estimator):
    """``classes_`` as the label tensor holds them: int64 numbers or strings."""
    classes = np.asarray(estimator.classes_)
    if classes.dtype.kind in "biuf":
        # Float classes are whole numbers (scikit-learn's classification
        # targets); skl2onnx's labels hold them as int64.
        return classes.astype(np.int64)
    return np.array([str(c) for c in classes], dtype=object)


def _multilabel(estimator):
    # Sigmoid outputs, more than one: a multilabel target (binary and
    # one-class targets have one output, multiclass ones softmax).
    return estimator.out_activation_ == "logistic" and estimator.n_outputs_ > 1


def _decode_classes(g, estimator, output, nocl):
    """(label, probabilities) from the network's output, as ``predict`` decodes it."""
    if _multilabel(estimator):
        return g.cast(g.op("Greater", output, g.const(0.5)), np.int64), output
    n_classes = len(estimator.classes_)
    if estimator.out_activation_ == "softmax":
        index = g.op("ArgMax", output, axis=1, keepdims=0)
        probabilities = output
    elif n_classes == 1:
        # One class seen: it is certain, and every label is that class.
        probabilities = g.op("Expand", g.const([[1.0]]), g.op("Shape", output))
        index = g.op("ArgMax", probabilities, axis=1, keepdims=0)
    else:
        probabilities = g.op("Concat", g.sub(g.const(1.0), output), output, axis=1)
        positive = g.op("Greater", output, g.const(0.5))
        index = g.op("Reshape", g.cast(positive, np.int64), g.ints([-1]))
    if nocl:
        return index, probabilities
    return g.op("Gather", g.labels(_label_values(estimator)), index, axis=0), probabilities


def _convert(scope, operator, container):
    estimator = operator.raw_operator
    g = _graph(scope, container, operator)
    x = g.cast(operator.inputs[0].full_name, g.dtype)
    layers = _layers(estimator)
    outputs = operator.outputs
    if _transforms(container, estimator):
        hidden = _forward(g, x, layers[:-1])
        g.op_into(outputs[0].full_name, "Identity", hidden)
        return
    result = _forward(g, x, layers)
    if is_classifier(estimator):
        nocl = container.get_options(estimator, {"nocl": False})["nocl"]
        label, probabilities = _decode_classes(g, estimator, result, nocl)
        g.op_into(outputs[0].full_name, "Identity", label)
        g.op_into(outputs[1].full_name, "Identity", probabilities)
    else:
        g.op_into(outputs[0].full_name, "Identity", result)


def _set_transform_shape(operator):
    # The output layer's input: the last hidden layer, or X without one.
    width = operator.raw_operator.coefs_[-1].shape[0]
    n = operator.inputs[0].get_first_dimension()
    tensor_type = guess_tensor_type(operator.inputs[0].type)
    operator.outputs[0].set_type(type(tensor_type)([n, width]))


def _shape_calculator(calculate_predictions, widened):
    """skl2onnx's calculator for the predictions, with the first output's width
    set to ``n_outputs_`` where ``widened(estimator)``; the hidden layer's shape
    for ``transform``."""
    def calculate(operator):
        estimator = operator.raw_operator
        if _transforms(operator.scope_inst, estimator):
            _set_transform_shape(operator)
            return
        calculate_predictions(operator)
        if widened(estimator):
            n = operator.inputs[0].get_first_dimension()
            operator.outputs[0].type.shape = [n, estimator.n_outputs_]
    return calculate


# skl2onnx's classifier calculator gives one label per row; a multilabel row
# has one per label. Its regressor calculator takes the width from a coef_
# matrix, which the MLPs do not have.
_classifier_shapes = _shape_calculator(calculate_linear_classifier_output_shapes, _multilabel)
_regressor_shapes = _shape_calculator(calculate_linear_regressor_output_shapes,
                                      lambda estimator: True)


def _parse_mlp(scope, model, inputs, custom_parsers=None):
    """An MLP's outputs: the hidden layer (option ``transform``) or its predictions."""
    transform = _transforms(scope, model)
    if not transform and is_classifier(model):
        return _parse_sklearn_classifier(scope, model, inputs, custom_parsers=custom_parsers)
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    name = "transformed" if transform else "variable"
    operator.outputs.append(scope.declare_local_variable(name, guess_tensor_type(inputs[0].type)))
    return operator.outputs


def register():
    """Register the four estimators' converters with skl2onnx (again is harmless)."""
    for estimator, shapes, options, parser in (
            (MLPClassifier, _classifier_shapes, {**CLASSIFIER_OPTIONS, **MLP_OPTIONS},
             _parse_mlp),
            (MLPRegressor, _regressor_shapes, MLP_OPTIONS, _parse_mlp),
            (LogisticRegression, _classifier_shapes, CLASSIFIER_OPTIONS, None),
            (LinearRegression, _regressor_shapes, None, None)):
        update_registered_converter(estimator, f"Fastnn{estimator.__name__}", shapes,
                                    _convert, parser=parser, options=options)

