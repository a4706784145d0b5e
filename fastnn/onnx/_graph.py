"""A small builder of ONNX nodes: what the activation and network graphs are written with.

:class:`Graph` adds nodes and constants under unique names, in one element
type (float32 or float64) and for one target opset, either into a skl2onnx
container (the converters) or into plain lists that become a standalone
model (:func:`fastnn.onnx.activation_model`). It imports nothing from
onnx itself: the caller hands it the functions that store nodes and
constants.
"""

import numpy as np

__all__ = ["OnnxExportError", "NO_FLOAT64_KERNEL", "MIN_OPSET", "Graph", "element_type"]

#: The lowest target opset the converters build for: Split, ReduceSum and
#: Softmax take their opset-13 forms (axes as inputs, Softmax on one axis).
MIN_OPSET = 13

#: Standard operators onnxruntime has no float64 CPU kernel for (measured
#: with onnxruntime 1.32 by running each on a double tensor). A float64 graph
#: built from fastnn's activations avoids them where an element-wise form
#: exists; only exact gelu's Erf has none.
NO_FLOAT64_KERNEL = frozenset({
    "Celu", "Elu", "Erf", "Gelu", "HardSigmoid", "HardSwish", "Hardmax", "LeakyRelu",
    "Mish", "Selu", "Softplus", "Softsign", "Swish", "ThresholdedRelu",
})


# TensorProto's element type codes.
_ELEMENT_TYPES = {np.dtype(np.float32): 1, np.dtype(np.int64): 7, np.dtype(object): 8,
                  np.dtype(np.bool_): 9, np.dtype(np.float64): 11}


def element_type(dtype):
    """The ONNX element type code (``TensorProto.FLOAT``, ...) of a numpy dtype.

    Parameters
    ----------
    dtype : numpy dtype
        float32, float64, int64, bool, or object for strings.

    Returns
    -------
    int
    """
    return _ELEMENT_TYPES[np.dtype(dtype)]


class OnnxExportError(ValueError):
    """A fastnn model, or one of its settings, that cannot be exported to ONNX.

    Raised while the graph is built (at conversion time), saying which
    estimator, activation or operator is the reason.
    """


class Graph:
    """Nodes in one element type for one target opset, named uniquely.

    Parameters
    ----------
    add_node : callable
        ``add_node(op_type, inputs, outputs, domain, attributes)`` stores one
        node.
    add_constant : callable
        ``add_constant(name, array)`` stores a constant (an initializer).
    unique_name : callable
        ``unique_name(hint)`` returns a name not used yet in the graph.
    dtype : {numpy.float32, numpy.float64}
        The element type of every floating-point value in the graph.
    opset : int
        The target opset of the default domain.

    Attributes
    ----------
    dtype : numpy.dtype
    opset : int
    context : str
        What the nodes being added are for (an activation's name); an
        :class:`OnnxExportError` names it.
    """

    def __init__(self, add_node, add_constant, unique_name, dtype, opset):
        self._add_node = add_node
        self._add_constant = add_constant
        self._unique_name = unique_name
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise OnnxExportError(f"graphs are float32 or float64, not {self.dtype}")
        self.opset = int(opset)
        if self.opset < MIN_OPSET:
            raise OnnxExportError(f"fastnn's converters need target_opset >= {MIN_OPSET}, "
                                  f"got {self.opset}")
        self.context = "the network"
        self._constants = {}

    @property
    def is_float64(self):
        """Whether the graph computes in float64.

        Returns
        -------
        bool
        """
        return self.dtype == np.float64

    def has_kernel(self, op_type):
        """Whether onnxruntime runs ``op_type`` in this graph's element type.

        Parameters
        ----------
        op_type : str

        Returns
        -------
        bool
        """
        return not (self.is_float64 and op_type in NO_FLOAT64_KERNEL)

    def require(self, op_type):
        """Refuse, saying why, an operator onnxruntime cannot run in this element type.

        Parameters
        ----------
        op_type : str
            A standard ONNX operator.

        Raises
        ------
        OnnxExportError
            If onnxruntime has no kernel for it in this graph's element type.
        """
        if not self.has_kernel(op_type):
            raise OnnxExportError(
                f"{self.context} needs the ONNX operator {op_type}, which onnxruntime "
                "has no float64 kernel for: export a float32 graph instead "
                "(dtype=numpy.float32, or an X_sample of dtype float32)")

    def op(self, op_type, *inputs, n_outputs=1, domain="", **attributes):
        """Add one node and return the name of its output (a list for several).

        Parameters
        ----------
        op_type : str
            The operator.
        *inputs : str
            Names of its inputs (``""`` for an omitted optional input).
        n_outputs : int, default=1
        domain : str, default=""
            The operator's domain ("" for standard ONNX, "ai.onnx.ml").
        **attributes
            The node's attributes.

        Returns
        -------
        str or list of str

        Raises
        ------
        OnnxExportError
            For an operator that onnxruntime cannot run in a float64 graph.
        """
        if domain == "":
            self.require(op_type)
        outputs = [self._unique_name(op_type.lower()) for _ in range(n_outputs)]
        self._add_node(op_type, list(inputs), outputs, domain, attributes)
        return outputs[0] if n_outputs == 1 else outputs

    def op_into(self, output, op_type, *inputs, **attributes):
        """Add one node whose output has a given name (a graph's or an operator's output).

        Parameters
        ----------
        output : str
        op_type : str
        *inputs : str
        **attributes

        Returns
        -------
        str
            ``output``.
        """
        self._add_node(op_type, list(inputs), [output], "", attributes)
        return output

    def const(self, value):
        """A constant of the graph's element type (each value stored once).

        Parameters
        ----------
        value : float or array-like

        Returns
        -------
        str
            The constant's name.
        """
        return self._constant(np.asarray(value, dtype=self.dtype))

    def ints(self, value):
        """An int64 constant (shapes, axes, indices).

        Parameters
        ----------
        value : int or array-like of int

        Returns
        -------
        str
        """
        return self._constant(np.asarray(value, dtype=np.int64))

    def labels(self, value):
        """A constant holding class labels: int64 numbers or strings.

        Parameters
        ----------
        value : ndarray of int64 or of str

        Returns
        -------
        str
        """
        value = np.asarray(value)
        if value.dtype.kind in "US":
            value = value.astype(object)
        return self._constant(value)

    def reduce(self, op_type, x):
        """A reduction over the last axis, kept as an axis of length 1.

        Parameters
        ----------
        op_type : str
            "ReduceSum", "ReduceMax", ...
        x : str

        Returns
        -------
        str
        """
        # The axes are an input from opset 13 for ReduceSum, from 18 for the others.
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, x, self.ints([-1]), keepdims=1)
        return self.op(op_type, x, axes=[-1], keepdims=1)

    def cast(self, x, dtype):
        """``x`` converted to ``dtype`` (a numpy dtype; see :func:`element_type`)."""
        return self.op("Cast", x, to=element_type(dtype))

    def _constant(self, array):
        key = (array.dtype.str, array.shape, array.tobytes() if array.dtype != object
               else tuple(array.ravel()))
        name = self._constants.get(key)
        if name is None:
            name = self._unique_name("constant")
            self._add_constant(name, array)
            self._constants[key] = name
        return name

    # Element-wise arithmetic, written as calls to keep the graphs readable.
    def add(self, a, b):
        """``a + b``; see :meth:`op` for the names."""
        return self.op("Add", a, b)

    def sub(self, a, b):
        """``a - b``."""
        return self.op("Sub", a, b)

    def mul(self, a, b):
        """``a * b``."""
        return self.op("Mul", a, b)

    def div(self, a, b):
        """``a / b``."""
        return self.op("Div", a, b)

    def where(self, condition, a, b):
        """``a`` where ``condition`` holds, else ``b``."""
        return self.op("Where", condition, a, b)

    def scaled(self, x, factor):
        """``x * factor`` for a number ``factor``."""
        return self.mul(x, self.const(factor))

    def shifted(self, x, offset):
        """``x + offset`` for a number ``offset``."""
        return self.add(x, self.const(offset))

    def greater(self, x, value):
        """``x > value`` for a number ``value`` (a boolean tensor)."""
        return self.op("Greater", x, self.const(value))

    def less(self, x, value):
        """``x < value`` for a number ``value``."""
        return self.op("Less", x, self.const(value))

    def clip(self, x, low, high):
        """``x`` clipped to ``[low, high]`` (NaN stays NaN)."""
        return self.op("Clip", x, self.const(low), self.const(high))
