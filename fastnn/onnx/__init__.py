"""ONNX export of fastnn's estimators, alone or inside scikit-learn pipelines.

``pip install "fastnn[onnx]"`` brings skl2onnx, onnx and onnxruntime; this
module imports them only when one of its functions is called, so
``import fastnn`` never needs them. :func:`fastnn.to_onnx` registers
fastnn's converters with skl2onnx and converts; after
:func:`fastnn.onnx.register_converters`, ``skl2onnx.to_onnx`` converts any
pipeline holding a fastnn estimator too. Every activation of
:func:`fastnn.activations.names` exports
(:func:`fastnn.onnx.activation_model` builds one alone). Graphs are float32
by default; a float64 graph refuses, with
:class:`fastnn.onnx.OnnxExportError`, an activation onnxruntime cannot run
in double (the exact gelu, whose ``Erf`` has no double kernel).
"""

import numpy as np

from fastnn.activations import get as get_activation
from fastnn.onnx._activations import add_activation, operators_for
from fastnn.onnx._graph import MIN_OPSET, NO_FLOAT64_KERNEL, Graph, OnnxExportError

__all__ = ["MIN_OPSET", "NO_FLOAT64_KERNEL", "OnnxExportError", "activation_model",
           "activation_operators", "register_converters", "to_onnx"]

_REGISTERED = []


def register_converters():
    """Register fastnn's estimators with skl2onnx.

    Afterwards ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn`` convert
    :class:`~fastnn.MLPClassifier`, :class:`~fastnn.MLPRegressor`,
    :class:`~fastnn.LinearRegression` and :class:`~fastnn.LogisticRegression`,
    on their own or as steps of a pipeline. The classifiers take skl2onnx's
    ``zipmap``, ``nocl`` and ``output_class_labels`` options, the MLPs the
    option ``transform`` (export the MLP's ``transform``, the last hidden
    layer, instead of its predictions). Calling it again does
    nothing; :func:`fastnn.to_onnx` calls it.

    Raises
    ------
    ImportError
        Without skl2onnx (``pip install "fastnn[onnx]"``).
    """
    if _REGISTERED:
        return
    try:
        from fastnn.onnx import _converters
    except ImportError as error:
        raise ImportError('the ONNX export needs skl2onnx, onnx and onnxruntime: '
                          'pip install "fastnn[onnx]"') from error
    _converters.register()
    _REGISTERED.append(True)


def _transformer_steps(estimator, as_transformer, found):
    """The fastnn MLPs that ``estimator`` uses as transformers, by id.

    A pipeline's steps before the last transform, and so do a FeatureUnion's
    and a ColumnTransformer's members; a pipeline's last step does what the
    pipeline itself is used for.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    from fastnn.neural_network import MLPClassifier, MLPRegressor

    if isinstance(estimator, Pipeline):
        steps = [step for _, step in estimator.steps]
        for step in steps[:-1]:
            _transformer_steps(step, True, found)
        if steps:
            _transformer_steps(steps[-1], as_transformer, found)
    elif isinstance(estimator, FeatureUnion):
        for _, step in estimator.transformer_list:
            _transformer_steps(step, True, found)
    elif isinstance(estimator, ColumnTransformer):
        for _, step, _ in getattr(estimator, "transformers_", estimator.transformers):
            _transformer_steps(step, True, found)
    elif as_transformer and isinstance(estimator, (MLPClassifier, MLPRegressor)):
        found.append(id(estimator))
    return found


def to_onnx(estimator, X_sample, target_opset=None, *, dtype=np.float32, options=None,
            **kwargs):
    """Convert a fitted fastnn estimator, or a pipeline holding one, to ONNX.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Fitted: a fastnn estimator, or any scikit-learn object skl2onnx
        converts with fastnn estimators inside (pipelines, column
        transformers, feature unions). A fastnn MLP that a pipeline uses as
        a transformer (any step but the last, a member of a FeatureUnion or
        ColumnTransformer) exports its ``transform``.
    X_sample : array-like
        A few rows of input: they fix the input's name, width and type.
    target_opset : int, optional
        The ONNX opset of the default domain (at least ``fastnn.onnx.MIN_OPSET``, 13);
        by default the newest skl2onnx is tested with. It chooses some
        operators: native Mish from 18, native Gelu from 20.
    dtype : {numpy.float32, numpy.float64, None}, default=numpy.float32
        The graph's element type: a floating-point ``X_sample`` array is cast
        to it. float64 graphs run only activations onnxruntime has double
        kernels for (all but exact gelu). None keeps ``X_sample`` as it is
        (a DataFrame of mixed columns for a ColumnTransformer, say).
    options : dict, optional
        The converter options of skl2onnx, for example
        ``{id(model): {"zipmap": False}}`` for plain probability arrays.
    **kwargs
        Passed on to ``skl2onnx.to_onnx`` (``name``, ``initial_types``, ...).

    Returns
    -------
    model : onnx.ModelProto
        The graph: skl2onnx's inputs and outputs for the estimator (for a
        classifier, ``label`` and ``probabilities``), ready for
        ``onnxruntime.InferenceSession(model.SerializeToString())``.

    Raises
    ------
    OnnxExportError
        For what cannot be exported: an activation a float64 graph cannot
        run, an opset below ``fastnn.onnx.MIN_OPSET`` (13).
    ImportError
        Without skl2onnx (``pip install "fastnn[onnx]"``).
    """
    register_converters()
    from skl2onnx import to_onnx as skl2onnx_to_onnx

    if (dtype is not None and isinstance(X_sample, np.ndarray)
            and X_sample.dtype.kind == "f"):
        X_sample = X_sample.astype(dtype, copy=False)
    from fastnn.onnx._converters import used_as_transformers

    with used_as_transformers(_transformer_steps(estimator, False, [])):
        return skl2onnx_to_onnx(estimator, X_sample, target_opset=target_opset,
                                options=options, **kwargs)


def _default_opset():
    from skl2onnx import get_latest_tested_opset_version

    return get_latest_tested_opset_version()


def activation_model(activation, *, target_opset=None, dtype=np.float32, **params):
    """A standalone ONNX model computing one activation, as the exported networks do.

    Parameters
    ----------
    activation : str or fastnn.activations.Activation
        A name from :func:`fastnn.activations.names` or an activation.
    target_opset : int, optional
        As in :func:`fastnn.to_onnx`.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        The element type of the input, the output and the arithmetic.
    **params
        The activation's parameters (see :func:`fastnn.activations.get`).

    Returns
    -------
    onnx.ModelProto
        One input ``x`` and one output ``y``, both of shape
        (n_samples, width); a row-wise activation acts on the last axis.

    Raises
    ------
    OnnxExportError
        For an activation this element type cannot run.
    """
    from onnx import helper, numpy_helper

    activation = get_activation(activation, **params)
    opset = _default_opset() if target_opset is None else int(target_opset)
    nodes, constants, count = [], [], iter(range(1 << 30))

    def add_node(op_type, inputs, outputs, domain, attributes):
        nodes.append(helper.make_node(op_type, inputs, outputs, domain=domain, **attributes))

    g = Graph(add_node, lambda name, array: constants.append(numpy_helper.from_array(array, name)),
              lambda hint: f"{hint}_{next(count)}", dtype, opset)
    g.op_into("y", "Identity", add_activation(g, activation, "x"))
    element = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph(
        nodes, activation.name, [helper.make_tensor_value_info("x", element, [None, None])],
        [helper.make_tensor_value_info("y", element, [None, None])], initializer=constants)
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=opsets,
                             ir_version=helper.find_min_ir_version_for(opsets))


def activation_operators(activation, *, target_opset=None, dtype=np.float32, **params):
    """The ONNX operators an activation is exported with.

    Parameters
    ----------
    activation : str or fastnn.activations.Activation
        A name from :func:`fastnn.activations.names` or an activation.
    target_opset : int, optional
        As in :func:`fastnn.to_onnx`.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        The element type the operators are chosen for.
    **params
        The activation's parameters.

    Returns
    -------
    list of str
        Operator types, sorted.

    Raises
    ------
    OnnxExportError
        For an activation this element type cannot run.
    """
    opset = _default_opset() if target_opset is None else int(target_opset)
    return operators_for(get_activation(activation, **params), opset, dtype)
