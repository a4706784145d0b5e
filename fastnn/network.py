"""Dense feed-forward networks: shapes, flat parameters, and the compiled calls.

Layer ``l`` computes ``a[l] = g_l(a[l-1] @ W[l] + b[l])``; ``a[0]`` is the
input. A :class:`Network` compiles its structure once into a
:class:`~fastnn._kernels.plan.NetworkPlan`, owns one flat parameter vector
(all weight matrices first, then all biases, scikit-learn's packing order)
and exposes per-layer ``coefs``/``intercepts`` views into it. Every pass
takes the parameters to use, so one network serves many parameter vectors
(a fit's snapshots). It knows nothing of labels, data validation or
scikit-learn: estimators build on it.

A network may carry a dropout rate per hidden layer: minibatch training
(:meth:`Network.trainer`) then drops that share of the layer's units at each
step, keyed by a seed (:func:`dropout_seed`); every other pass (forward,
hidden outputs, the objective and L-BFGS's gradient) uses the whole network.
"""

import contextlib
import hashlib
import numbers
import time
import types

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from fastnn.activations import Activation, get as get_activation
from fastnn.initializers import NAMES as INITIALIZER_NAMES, draw as draw_initializer
from fastnn._kernels.data import Inputs, TrainingData
from fastnn._kernels.epoch import STATUS, EpochRules, EpochTeam
from fastnn._kernels.losses import LOSS_KINDS, check_loss_param
from fastnn._kernels.objective import loss_and_gradient
from fastnn._kernels.plan import LAYER_COLUMNS, NetworkPlan, Objective
from fastnn._parallel import (
    contention, forward_threads, single_threaded_blas, training_parts, training_threads)

#: Each loss and the output activation it is fused with.
OUTPUT_ACTIVATIONS = {
    "squared_error": "linear",
    "binary_cross_entropy": "sigmoid",
    "categorical_cross_entropy": "softmax",
    "poisson": "exponential",
    "absolute_error": "linear",
    "huber": "linear",
    "quantile": "linear",
}

#: The default parameter of each loss that takes one (the Huber delta, the
#: quantile of the pinball loss).
LOSS_PARAM_DEFAULTS = {"huber": 1.0, "quantile": 0.5}

# Rows per chunk in ``forward``: large enough that gemm runs at full speed,
# small enough that a chunk's activations stay in cache.
_FORWARD_CHUNK_ROWS = 512

# Rows per chunk of a full-batch objective and gradient (L-BFGS): the
# workspace holds one chunk's activations, not every row's, and Ctrl-C is
# checked between chunks.
_OBJECTIVE_CHUNK_ROWS = 4096

# Activations whose units saturate on both sides like the logistic function:
# scikit-learn scales their Glorot bound by sqrt(2/6) (factor 2 instead of 6).
_SIGMOID_LIKE = {"sigmoid", "hard_sigmoid", "sparse_sigmoid"}

_STATUS_NAMES = {code: name for name, code in STATUS.items()}


def _init_bound(activation, fan_in, fan_out):
    """Half-width of the uniform initialisation for a layer feeding ``activation``.

    Glorot & Bengio's bound ``sqrt(6 / (fan_in + fan_out))`` by default, with
    factor 2 for sigmoid-like units (both scikit-learn's choices, kept so that
    the same seed gives scikit-learn's weights), and LeCun's ``sqrt(3 / fan_in)``
    for selu, whose self-normalising fixed point assumes variance 1 / fan_in.
    """
    if activation.name == "selu":
        return np.sqrt(3.0 / fan_in)
    factor = 2.0 if activation.name in _SIGMOID_LIKE else 6.0
    return np.sqrt(factor / (fan_in + fan_out))


class Network:
    """A dense network with one flat parameter vector and compiled kernels.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_features, hidden_1, ..., hidden_k, n_outputs)``; at least two
        entries (no hidden layer is a single neuron per output).
    hidden_activation : str, Activation or sequence of them, default="relu"
        One activation for every hidden layer, or one per hidden layer. Any
        name of :func:`fastnn.activations.names`.
    loss : {"squared_error", "binary_cross_entropy", "categorical_cross_entropy", \
"poisson", "absolute_error", "huber", "quantile"}, default="squared_error"
        Training loss; it fixes the output activation (identity, sigmoid,
        softmax, exponential; identity for the last three), with which it is
        fused in the kernels.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Type of the parameters and of all arithmetic.
    dropout : float or sequence of float, default=0.0
        Share of each hidden layer's units dropped at every minibatch
        training step, in [0, 1): one rate for every hidden layer, or one per
        hidden layer (inverted dropout: the kept units are scaled by
        ``1 / (1 - rate)``; see ``fastnn._kernels.dropout``).
    loss_param : float or None, default=None
        The Huber delta (> 0) of "huber", the quantile (in (0, 1)) of
        "quantile"; None takes ``LOSS_PARAM_DEFAULTS``. The other losses take
        no parameter (None only).

    Attributes
    ----------
    activations : tuple of Activation
        One per layer; the last is the output activation.
    layers : ndarray of intp, shape (n_layers, 5)
        The layer table the kernels read: n_in, n_z, n_out, W offset, b offset.
    params : ndarray of shape (n_params,)
        All parameters: every ``W`` (row-major), then every ``b``.
    coefs, intercepts : list of ndarray
        Views into ``params``: ``coefs[l]`` has shape ``(n_in, n_z)``,
        ``intercepts[l]`` shape ``(n_z,)``.
    n_weights : int
        Length of the weight prefix of ``params`` (what L2 penalises).
    dropout : tuple of float
        The dropout rate of each hidden layer.
    loss_param : float or None
        The loss's parameter (None for losses without one).
    plan : fastnn._kernels.plan.NetworkPlan
        The structure compiled for the kernels, built once with the network
        and immutable like ``layers``: every pass over rows runs through it.
    """

    def __init__(self, layer_sizes, hidden_activation="relu", loss="squared_error",
                 dtype=np.float64, dropout=0.0, loss_param=None):
        sizes = tuple(layer_sizes)
        if len(sizes) < 2:
            raise ValueError("layer_sizes needs at least the input and output sizes, "
                             f"got {sizes!r}")
        for size in sizes:
            if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
                raise ValueError(f"layer sizes must be positive integers, got {sizes!r}")
        if loss not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"unknown loss {loss!r}; valid losses: {sorted(OUTPUT_ACTIVATIONS)}")
        if loss in LOSS_PARAM_DEFAULTS:
            loss_param = float(LOSS_PARAM_DEFAULTS[loss] if loss_param is None else loss_param)
            check_loss_param(LOSS_KINDS[loss], loss_param)
        elif loss_param is not None:
            raise ValueError(f"the {loss} loss takes no parameter, got loss_param={loss_param!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")

        n_hidden = len(sizes) - 2
        if isinstance(hidden_activation, (str, Activation)):
            hidden = [hidden_activation] * n_hidden
        else:
            hidden = list(hidden_activation)
            if len(hidden) != n_hidden:
                raise ValueError(f"got {len(hidden)} hidden activations for {n_hidden} "
                                 "hidden layers")
        self.dropout = _dropout_rates(dropout, n_hidden)
        self.layer_sizes = tuple(int(s) for s in sizes)
        self.loss = loss
        self.loss_param = loss_param
        self.dtype = dtype
        self.activations = tuple(get_activation(a) for a in hidden) + (
            get_activation(OUTPUT_ACTIVATIONS[loss]),)

        # Layer table: a glu layer's pre-activation is twice as wide as its output.
        n_layers = len(sizes) - 1
        table = np.zeros((n_layers, len(LAYER_COLUMNS)), dtype=np.intp)
        for l in range(n_layers):
            n_out = self.layer_sizes[l + 1]
            n_z = n_out * (2 if self.activations[l].name == "glu" else 1)
            table[l, :3] = (self.layer_sizes[l], n_z, n_out)
        n_weights = 0
        for l in range(n_layers):
            table[l, 3] = n_weights
            n_weights += table[l, 0] * table[l, 1]
        n_params = n_weights
        for l in range(n_layers):
            table[l, 4] = n_params
            n_params += table[l, 1]
        table.flags.writeable = False
        self.layers = table
        self.n_weights = int(n_weights)
        self.n_params = int(n_params)
        kinds = np.array([a.kind for a in self.activations], dtype=np.intc)
        activation_params = np.array([a.spec_params for a in self.activations],
                                     dtype=np.float64).reshape(n_layers, 3)
        # A network without dropout compiles the plan it always did.
        rates = (np.array(self.dropout + (0.0,), dtype=np.float64) if self.has_dropout
                 else None)
        self.plan = NetworkPlan(table, kinds, activation_params, LOSS_KINDS[loss],
                                self.n_params, self.dtype, rates,
                                0.0 if loss_param is None else loss_param)
        self.set_params(np.zeros(self.n_params, dtype=self.dtype))

    @property
    def n_layers(self):
        """Number of weight layers (hidden layers + the output layer)."""
        return self.layers.shape[0]

    @property
    def n_features(self):
        return self.layer_sizes[0]

    @property
    def has_dropout(self):
        """Whether some hidden layer's dropout rate is positive."""
        return any(rate > 0 for rate in self.dropout)

    @property
    def n_outputs(self):
        return self.layer_sizes[-1]

    def set_params(self, params):
        """Adopt ``params`` (copied to this network's dtype) as the parameters.

        Parameters
        ----------
        params : array-like of shape (n_params,)
            Every ``W`` (row-major), then every ``b``, as ``params`` lays
            them out.

        Returns
        -------
        self : Network
            The network, with new ``params``, ``coefs`` and ``intercepts``.
        """
        params = np.array(params, dtype=self.dtype, copy=True).ravel()
        if params.shape != (self.n_params,):
            raise ValueError(f"expected {self.n_params} parameters, got {params.shape[0]}")
        self.params = params
        self.coefs = [params[w:w + n_in * n_z].reshape(n_in, n_z)
                      for n_in, n_z, _, w, _ in self.layers]
        self.intercepts = [params[b:b + n_z] for _, n_z, _, _, b in self.layers]
        return self

    def initialize(self, random_state=None, bound_activation=None, kernel_initializer=None):
        """Draw fresh parameters: scikit-learn's scheme, or Keras's initializers.

        Layer by layer, from the first to the output layer, each draws from
        ``random_state`` in turn. A layer without a Keras initializer (the
        default) draws scikit-learn's way: its ``W`` then its ``b``, uniform
        in a per-layer bound, as float64, then cast; so with scikit-learn's
        activations the same ``random_state`` gives the same initial weights
        as ``sklearn.neural_network.MLPClassifier``/``MLPRegressor``, and, as
        there, the output layer uses the bound of the last hidden activation.
        A layer with a Keras initializer draws its ``W`` by
        :func:`fastnn.initializers.draw` (float64, then cast) and sets its
        ``b`` to zero, drawing nothing for it.

        Parameters
        ----------
        random_state : None, int or numpy.random.RandomState
            Source of the draws (scikit-learn's convention: None for numpy's
            global generator, an int for a fresh seeded one).
        bound_activation : str or Activation, optional
            For a network without hidden layers: the activation whose bound
            the output layer takes (scikit-learn's MLP takes its
            ``activation`` parameter's there). By default, the output's own.
        kernel_initializer : None, str or sequence of (None or str), default=None
            A name of :data:`fastnn.initializers.NAMES` for every layer, or one
            entry per layer (``n_layers`` of them, the output layer last),
            None standing for scikit-learn's scheme.

        Returns
        -------
        self : Network
            The network, with freshly drawn ``params``.

        Raises
        ------
        ValueError
            For an unknown initializer name, or a sequence of the wrong length;
            nothing is drawn then.
        """
        initializers = self._initializers(kernel_initializer)
        rng = check_random_state(random_state)
        if bound_activation is not None:
            bound_activation = get_activation(bound_activation)
        for l, (n_in, n_z, _, _, _) in enumerate(self.layers):
            if initializers[l] is not None:
                self.coefs[l][...] = draw_initializer(initializers[l], rng, (n_in, n_z))
                self.intercepts[l][...] = 0.0
                continue
            if self.n_layers > 1:
                guide = self.activations[min(l, self.n_layers - 2)]
            else:
                guide = self.activations[0] if bound_activation is None else bound_activation
            bound = _init_bound(guide, n_in, n_z)
            self.coefs[l][...] = rng.uniform(-bound, bound, (n_in, n_z))
            self.intercepts[l][...] = rng.uniform(-bound, bound, n_z)
        return self

    def _initializers(self, kernel_initializer):
        """``kernel_initializer`` as a list of one name or None per layer, checked."""
        if kernel_initializer is None or isinstance(kernel_initializer, str):
            initializers = [kernel_initializer] * self.n_layers
        else:
            initializers = list(kernel_initializer)
            if len(initializers) != self.n_layers:
                raise ValueError(
                    f"kernel_initializer has {len(initializers)} entries; expected "
                    f"{self.n_layers}, one (a name or None) per weight layer. Or give "
                    "one name for every layer.")
        for name in initializers:
            if name is not None and name not in INITIALIZER_NAMES:
                raise ValueError(f"unknown kernel initializer {name!r}; valid names: "
                                 f"{', '.join(INITIALIZER_NAMES)}")
        return initializers

    # -- input handling -------------------------------------------------

    def _as_matrix(self, X, name, n_columns):
        X = np.asarray(X)
        if X.ndim == 1 and n_columns == 1:
            X = X.reshape(-1, 1)
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got an array of shape {X.shape}")
        if X.shape[1] != n_columns:
            raise ValueError(f"{name} has {X.shape[1]} columns, the network expects {n_columns}")
        if not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
            raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}")
        # Copies only when the dtype or memory order differ; never for a
        # C-contiguous array of the network's dtype.
        return np.ascontiguousarray(X, dtype=self.dtype)

    def inputs(self, X):
        """``X`` as the kernels read it: an ``Inputs`` of ``fastnn._kernels.data``.

        Dense input is used as it is when it is a C-contiguous array of the
        network's dtype, else converted. Any scipy sparse input becomes CSR
        arrays that the first layer reads directly (never densified). An
        ``Inputs`` already made for this network (of its dtype and width, such
        as a :meth:`training_data`'s ``inputs``) is returned as it is, so rows
        read many times are converted once.

        Parameters
        ----------
        X : array-like, scipy sparse matrix or fastnn._kernels.data.Inputs
            Rows of ``n_features`` real numbers.

        Returns
        -------
        inputs : fastnn._kernels.data.Inputs
            The rows as the kernels read them (dense C-contiguous, or CSR).

        Raises
        ------
        ValueError
            When ``X`` does not have ``n_features`` columns of real numbers.
        """
        if isinstance(X, Inputs):
            if X.dtype != self.dtype or X.n_features != self.n_features:
                raise ValueError(f"the inputs are {X.dtype} rows of {X.n_features} features; "
                                 f"the network reads {self.dtype} rows of {self.n_features}")
            return X
        if (type(X) is np.ndarray and X.dtype == self.dtype and X.ndim == 2
                and X.shape[1] == self.n_features and X.flags.c_contiguous):
            return Inputs(self.n_features, X=X)  # the common case, without the checks' cost
        if not sp.issparse(X):
            return Inputs(self.n_features, X=self._as_matrix(X, "X", self.n_features))
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}, the network expects "
                             f"{self.n_features} columns")
        if not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
            raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
        X = sp.csr_matrix(X)
        return Inputs(self.n_features, csr=(
            np.ascontiguousarray(X.data, dtype=self.dtype),
            np.ascontiguousarray(X.indices, dtype=np.intp),
            np.ascontiguousarray(X.indptr, dtype=np.intp)))

    def training_data(self, X, Y, sample_weight=None):
        """Rows, targets and weights checked and converted once, for many passes.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
            Input rows; sparse input is read as CSR by the first layer.
        Y : ndarray of shape (n_samples, n_outputs), or of integers (n_samples,)
            Target rows; for a network with more than one output they may be
            given by their classes instead (integers in ``[0, n_outputs)``,
            one-hot targets): then only each batch's one-hot rows are ever
            built, not an (n_samples, n_outputs) matrix.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each row in the objective; None weighs rows equally.

        Returns
        -------
        data : fastnn._kernels.data.TrainingData
            Inputs, targets and weights, in the network's dtype.
        """
        inputs = self.inputs(X)
        n_samples = inputs.n_rows
        Y_array = np.asarray(Y)
        if Y_array.ndim == 1 and self.n_outputs > 1 and Y_array.dtype.kind in "iub":
            targets = {"labels": np.ascontiguousarray(Y_array, dtype=np.intp)}
        else:
            targets = {"Y": self._as_matrix(Y, "Y", self.n_outputs)}
        n_targets = next(iter(targets.values())).shape[0]
        if n_targets != n_samples:
            raise ValueError(f"X has {n_samples} rows but Y has {n_targets}")
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=self.dtype)
            if sample_weight.shape != (n_samples,):
                raise ValueError(f"sample_weight must have shape ({n_samples},), "
                                 f"got {sample_weight.shape}")
        return TrainingData(inputs, self.n_outputs, sample_weight=sample_weight, **targets)

    def _check_params(self, params):
        if params is None:
            return self.params
        if not (isinstance(params, np.ndarray) and params.dtype == self.dtype
                and params.shape == (self.n_params,) and params.flags.c_contiguous):
            raise ValueError(f"params must be a contiguous {self.dtype} array of "
                             f"shape ({self.n_params},)")
        return params

    # -- computation ----------------------------------------------------

    def forward(self, X, params=None):
        """Network output for every row of ``X``, output activation included.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
            Sparse input is read as CSR by the first layer, never densified.
        params : ndarray of shape (n_params,), optional
            Parameters to use instead of ``self.params`` (e.g. a snapshot).

        Returns
        -------
        out : ndarray of shape (n_samples, n_outputs)
            The output layer's activations, in the network's dtype.
        """
        return self._forward(X, params, hidden=False)[-1]

    def hidden_outputs(self, X, params=None):
        """Every hidden layer's activations for the rows of ``X``.

        Computed by the same compiled forward pass as :meth:`forward`.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
            Input rows; sparse input is read as CSR by the first layer.
        params : ndarray of shape (n_params,), optional
            Parameters to use instead of ``self.params``.

        Returns
        -------
        hidden : list of ndarray
            ``hidden[l]`` has shape ``(n_samples, layer_sizes[l + 1])``, one
            per hidden layer (none for a network without hidden layers).
        """
        return self._forward(X, params, hidden=True)[:-1]

    def _forward(self, X, params, hidden):
        inputs = self.inputs(X)
        params = self._check_params(params)
        n_samples = inputs.n_rows
        out = np.empty((n_samples, self.n_outputs), dtype=self.dtype)
        layers = ([np.empty((n_samples, n), dtype=self.dtype) for n in self.layer_sizes[1:-1]]
                  if hidden else None)
        chunk_rows = max(1, min(_FORWARD_CHUNK_ROWS, n_samples))
        n_chunks = -(-n_samples // chunk_rows)
        if n_chunks == 1:
            # One chunk (every small prediction): no threads to arrange, and at
            # one row the arranging would cost as much as the pass itself.
            self.plan.forward(params, inputs, out, layers, chunk_rows)
        else:
            # Chunks are shared out like an epoch's parts, under the same
            # contention policy: while other programs hold the cores, the
            # pass waits a time slice for the other threads, and runs alone.
            allowed = forward_threads(n_chunks)
            n_threads = contention.threads(allowed)
            started = time.perf_counter()
            with single_threaded_blas(allowed > 1):
                waited = self.plan.forward(params, inputs, out, layers, chunk_rows, n_threads)
            contention.record(n_threads, time.perf_counter() - started, waited)
        return (layers or []) + [out]

    def loss_gradient(self, X, Y, sample_weight=None, alpha=0.0, loss_normalizer=1.0,
                      params=None, probability_floor=0.0, check_signals=False, l1=0.0):
        """Objective over all rows and its gradient.

        The objective is ``sum_i w_i loss_i / sum(w) + alpha / 2 * ||W||^2 / sum(w)
        + l1 * ||W||_1 / sum(w)`` (``loss_normalizer`` divides the data term of
        the returned value only); the L1 term's gradient is its subgradient
        ``l1 * sign(W) / sum(w)``.
        ``X`` may be dense or scipy sparse (read as CSR); ``X``, ``Y`` and
        ``sample_weight`` may also be given prepared, as one
        :meth:`training_data` object in ``X`` (``Y`` None).

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
            Input rows; sparse input is read as CSR by the first layer.
            Or one :meth:`training_data` object, holding ``Y`` and
            ``sample_weight`` too.
        Y : ndarray of shape (n_samples, n_outputs), or of integers (n_samples,)
            Targets, as for :meth:`training_data`; None when ``X`` is prepared.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each row; None weighs rows equally.
        alpha : float, default=0
            Strength of the L2 penalty on the weights (not the biases).
        loss_normalizer : float, default=1
            Divides the data term of the returned objective (not the gradient).
        params : ndarray of shape (n_params,), optional
            Parameters to use instead of ``self.params``.
        probability_floor : float in [0, 0.5), default=0
            When positive, the returned cross-entropy is that of probabilities
            clipped to ``[floor, 1 - floor]`` (scikit-learn reports its loss
            clipped at machine epsilon); the gradient is unaffected.
        check_signals : bool, default=False
            Let Ctrl-C interrupt the computation (main thread only).
        l1 : float, default=0
            Strength of the L1 penalty on the weights.

        Returns
        -------
        objective : float
            The penalised objective above.
        grad : ndarray of shape (n_params,)
            Gradient of the objective (with ``loss_normalizer`` = 1) with
            respect to ``params``, in the same flat layout; all NaN when the
            objective is not finite.
        """
        grad = np.empty(self.n_params, dtype=self.dtype)
        objective = self._objective(X, Y, sample_weight, alpha, loss_normalizer, params,
                                    probability_floor, grad, check_signals, l1)
        if not np.isfinite(objective):
            # The kernels stop before the backward pass: say so rather than
            # hand back whatever the buffer held.
            grad.fill(np.nan)
        return objective, grad

    def objective(self, X, Y, sample_weight=None, alpha=0.0, loss_normalizer=1.0,
                  params=None, probability_floor=0.0, l1=0.0):
        """The objective of :meth:`loss_gradient` alone (no backward pass).

        Cheaper than :meth:`loss_gradient` when no gradient is needed, e.g.
        for a validation loss.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
            Input rows; sparse input is read as CSR by the first layer.
            Or one :meth:`training_data` object.
        Y : ndarray of shape (n_samples, n_outputs), or of integers (n_samples,)
            Targets; None when ``X`` is prepared.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each row.
        alpha : float, default=0
            Strength of the L2 penalty.
        loss_normalizer : float, default=1
            Divides the data term.
        params : ndarray of shape (n_params,), optional
            Parameters to use instead of ``self.params``.
        probability_floor : float in [0, 0.5), default=0
            Floor of the reported cross-entropy's probabilities.
        l1 : float, default=0
            Strength of the L1 penalty.

        Returns
        -------
        objective : float
            As :meth:`loss_gradient` computes it.
        """
        return self._objective(X, Y, sample_weight, alpha, loss_normalizer, params,
                               probability_floor, None, False, l1)

    def _objective(self, X, Y, sample_weight, alpha, loss_normalizer, params,
                   probability_floor, grad, check_signals, l1):
        data = X if isinstance(X, TrainingData) else self.training_data(X, Y, sample_weight)
        return loss_and_gradient(
            self.plan, self._check_params(params), data, grad,
            Objective(float(alpha), float(loss_normalizer), float(probability_floor),
                      float(l1)),
            chunk_rows=min(_OBJECTIVE_CHUNK_ROWS, data.n_rows),
            check_signals=bool(check_signals))

    def trainer(self, X, Y, batch_size, sample_weight=None, alpha=0.0, loss_normalizer=1.0,
                probability_floor=0.0, stop_flag=None, check_signals=False, n_threads=None,
                l1=0.0, dropout_seed=None):
        """Minibatch training over prepared data: an :class:`EpochTrainer`.

        Everything that stays the same from epoch to epoch (the data, the
        batch size and how batches are split, the objective's terms, the
        buffers) is checked and set up here, once; each
        :meth:`EpochTrainer.run` then runs one epoch.

        Parameters
        ----------
        X : array-like, scipy sparse matrix or fastnn._kernels.data.TrainingData
            As for :meth:`training_data`; or one prepared
            :meth:`training_data` object (``Y`` and ``sample_weight`` None).
        Y : ndarray of shape (n_samples, n_outputs), or of integers (n_samples,)
            Targets, as for :meth:`training_data`.
        batch_size : int
            Rows per batch (clipped to the number of rows).
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each row.
        alpha : float, default=0
            L2 penalty (see :meth:`loss_gradient`).
        loss_normalizer : float, default=1
            Divides the reported loss only.
        probability_floor : float in [0, 0.5), default=0
            Report cross-entropies of probabilities clipped to
            ``[floor, 1 - floor]`` (see :meth:`loss_gradient`).
        stop_flag : ndarray of uint8, shape (1,), optional
            Set it non-zero from another thread to stop after the current batch.
        check_signals : bool, default=False
            Let Ctrl-C interrupt an epoch (main thread only).
        n_threads : int, optional
            Parts each batch is split into by rows, each taken by a thread
            (BLAS held to one thread meanwhile). Default: two parts (one for
            batches under 16 rows) shared by as many threads as OpenMP allows,
            falling back to one thread while other programs keep them waiting
            (see ``fastnn._parallel``); the parts, not the threads, fix
            the result, through the rounding of the gradient's sum.
        l1 : float, default=0
            L1 penalty (see :meth:`loss_gradient`); minibatches add its
            subgradient, as they add the L2 term's gradient.
        dropout_seed : array-like of 2 uint64, optional
            The key of the dropout masks (e.g. :func:`dropout_seed`);
            required when the network has dropout.

        Returns
        -------
        trainer : EpochTrainer
            Runs epochs over the data, each a call of :meth:`EpochTrainer.run`.
        """
        data = X if isinstance(X, TrainingData) else self.training_data(X, Y, sample_weight)
        if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if data.n_rows == 0:
            raise ValueError("X has no rows")
        batch_size = int(min(batch_size, data.n_rows))
        if n_threads is None:
            n_parts = training_parts(batch_size)
        elif not isinstance(n_threads, numbers.Integral) or n_threads < 1:
            raise ValueError(f"n_threads must be a positive integer, got {n_threads!r}")
        else:
            n_parts = int(n_threads)
        team = EpochTeam(self.plan, data, batch_size, n_parts,
                         Objective(float(alpha), float(loss_normalizer),
                                   float(probability_floor), float(l1)),
                         stop_flag, bool(check_signals), dropout_seed)
        return EpochTrainer(team, self.dtype, adaptive=n_threads is None)

    def train_epoch(self, X, Y, order, batch_size, optimizer, sample_weight=None,
                    alpha=0.0, loss_normalizer=1.0, stop_flag=None, check_signals=False,
                    probability_floor=0.0, n_threads=None, dropout_seed=None):
        """One epoch of minibatch training in compiled code, updating ``params``.

        A one-epoch :meth:`trainer`; a fit of many epochs sets up one
        trainer and runs it instead.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
            Input rows; sparse input is read as CSR by the first layer.
            Or one :meth:`training_data` object.
        Y : ndarray of shape (n_samples, n_outputs), or of integers (n_samples,)
            Targets; None when ``X`` is prepared.
        order : ndarray of int, shape (n_samples,)
            Sample order of this epoch (a permutation, or ``arange`` for no
            shuffling); batch ``k`` is ``order[k * batch_size:(k + 1) * batch_size]``.
        batch_size : int
            Rows per batch.
        optimizer : fastnn.optimizers.SGD or fastnn.optimizers.Adam
            Its state is created on first use and updated in place.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each row.
        alpha : float, default=0
            Strength of the L2 penalty.
        loss_normalizer : float, default=1
            Divides the reported loss only.
        stop_flag : ndarray of uint8, shape (1,), optional
            Set it non-zero from another thread to stop after the current batch.
        check_signals : bool, default=False
            Let Ctrl-C interrupt the epoch (main thread only).
        probability_floor : float in [0, 0.5), default=0
            Floor of the reported cross-entropy's probabilities.
        n_threads : int, optional
            Parts each batch is split into (see :meth:`trainer`).
        dropout_seed : array-like of 2 uint64, optional
            The key of the dropout masks; required when the network has dropout.

        Returns
        -------
        status : {"complete", "stopped", "diverged"}
            How the epoch ended, as :meth:`EpochTrainer.run` says it.
        loss : float
            The epoch's mean training loss, as :meth:`EpochTrainer.run` returns it.
        """
        trainer = self.trainer(X, Y, batch_size, sample_weight, alpha, loss_normalizer,
                               probability_floor, stop_flag, check_signals, n_threads,
                               dropout_seed=dropout_seed)
        return trainer.run(self.params, optimizer, order)

    def __repr__(self):
        hidden = [a.name for a in self.activations[:-1]]
        dropout = f", dropout={list(self.dropout)}" if self.has_dropout else ""
        param = "" if self.loss_param is None else f", loss_param={self.loss_param!r}"
        return (f"Network(layer_sizes={self.layer_sizes}, hidden_activation={hidden}, "
                f"loss={self.loss!r}, dtype={self.dtype.name}{dropout}{param})")


def _dropout_rates(dropout, n_hidden):
    if isinstance(dropout, (numbers.Real, bool)):
        rates = [dropout] * n_hidden
    else:
        rates = list(dropout)
        if len(rates) != n_hidden:
            raise ValueError(f"got {len(rates)} dropout rates for {n_hidden} hidden layers")
    for rate in rates:
        if (not isinstance(rate, numbers.Real) or isinstance(rate, bool)
                or not 0 <= rate < 1):
            raise ValueError(f"dropout rates must be floats in [0, 1), got {rates!r}")
    return tuple(float(rate) for rate in rates)


def _hash_into(digest, value):
    # A canonical byte form of a random state's state (nested dicts of
    # names, integers, floats and integer arrays), the same on every platform.
    if isinstance(value, dict):
        for name in sorted(value):
            digest.update(repr(name).encode())
            _hash_into(digest, value[name])
    elif isinstance(value, np.ndarray):
        digest.update(value.dtype.str.encode())
        digest.update(value.astype(value.dtype.newbyteorder("<")).tobytes())
    elif isinstance(value, float):
        digest.update(value.hex().encode())
    else:
        digest.update(repr(value).encode())


def dropout_seed(random_state):
    """A 128-bit key for dropout masks, hashed from ``random_state``'s state.

    Nothing is drawn: ``random_state`` goes on to draw what it would have
    drawn without dropout (the early-stopping split, the epoch orders). The
    key is BLAKE2b (16 bytes) of the state, so the same state gives the same
    key everywhere, and a different state, for practical purposes, an
    unrelated one.

    Parameters
    ----------
    random_state : numpy.random.RandomState
        The generator whose state is hashed; it is not advanced.

    Returns
    -------
    key : ndarray of uint64, shape (2,)
        The key the dropout masks of ``fastnn._kernels.dropout`` are drawn by.
    """
    digest = hashlib.blake2b(digest_size=16, person=b"fastnn dropout")
    _hash_into(digest, random_state.get_state(legacy=False))
    return np.frombuffer(digest.digest(), dtype="<u8").astype(np.uint64)


@contextlib.contextmanager
def continued_stream(random_state):
    """A numpy bit generator that continues ``random_state``'s stream inside the block.

    Compiled code draws from the bit generator (through its C interface), as
    if ``random_state`` made the draws itself: the generator is
    ``random_state``'s own, or, where numpy does not expose it, a copy whose
    state ``random_state`` takes over when the block ends.

    Parameters
    ----------
    random_state : numpy.random.RandomState

    Yields
    ------
    numpy.random.BitGenerator
        Of the same kind as ``random_state``'s (MT19937 for scikit-learn's).
    """
    # numpy's RandomState draws from a BitGenerator it holds as
    # ``_bit_generator``; drawing from that one directly is what its own
    # methods do, and costs nothing, where a copy of the state costs a few
    # hundred microseconds (a new generator, a state read and two writes).
    own = getattr(random_state, "_bit_generator", None)
    if isinstance(own, np.random.BitGenerator):
        yield own
        return
    state = random_state.get_state(legacy=False)
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    try:
        yield bit_generator
    finally:
        random_state.set_state({**bit_generator.state, "has_gauss": state["has_gauss"],
                                "gauss": state["gauss"]})


class EpochTrainer:
    """Epochs of minibatch training for one network and one prepared data set.

    Built by :meth:`Network.trainer`. Holds the compiled epoch team (data,
    batching, buffers) and picks the threads for each epoch.

    Parameters
    ----------
    team : fastnn._kernels.epoch.EpochTeam
        The compiled epoch: the plan, the prepared data, the batching and
        the buffers.
    dtype : numpy.dtype
        The network's dtype (of the parameters and optimizer state).
    adaptive : bool
        Whether the threads of each epoch follow the contention policy of
        ``fastnn._parallel`` (True) or stay at the team's parts (False, when
        ``n_threads`` was given).

    Attributes
    ----------
    batch_size : int
        Rows per batch.
    """

    def __init__(self, team, dtype, adaptive):
        self.team = team
        self.dtype = dtype
        self.adaptive = adaptive

    @property
    def batch_size(self):
        """Rows per batch (int)."""
        return self.team.batch_size

    def run(self, params, optimizer, order, samples_seen=0):
        """One epoch, updating ``params`` and the optimizer's state in place.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
            The parameters, in the network's dtype, updated in place.
        optimizer : fastnn.optimizers.SGD or fastnn.optimizers.Adam
            Its state is created on first use and updated in place.
        order : ndarray of int, shape (n_samples,)
            Sample order of this epoch; batch ``k`` is
            ``order[k * batch_size:(k + 1) * batch_size]``.
        samples_seen : int, default=0
            Samples trained on before this epoch: its key in the dropout masks.

        Returns
        -------
        status : {"complete", "stopped", "diverged"}
            After "stopped" or "diverged" the parameters hold a partial epoch.
        loss : float
            Mean over the epoch's batches of the batch objective, weighted by
            batch rows (scikit-learn's reported training loss).
        """
        order = np.ascontiguousarray(order, dtype=np.intp)
        with self._compiled_call(optimizer) as call:
            status, total, _, call.waited = self.team.run(params, call.rule, call.state, order,
                                                          call.n_threads, samples_seen)
        return _STATUS_NAMES[status], total / self.team.data.n_rows

    def run_epochs(self, params, optimizer, order, rules, losses, kept_params=None,
                   kept_state=None):
        """Run epochs in one compiled call, following ``rules`` between them.

        Parameters
        ----------
        params : ndarray of shape (n_params,), the network's dtype
            Updated in place.
        optimizer : fastnn.optimizers.SGD or fastnn.optimizers.Adam
            Its state, step count and learning rate advance (also when the
            run raises: then as of the last complete epoch, with its state
            vectors in ``kept_state`` if given).
        order : ndarray of intp, shape (n_samples,)
            Shuffled in place before every epoch when ``rules`` draws orders.
        rules : EpochRules
            The order, the learning-rate schedule and the plateau stop;
            ``rules.n_epochs`` tells how many epochs completed.
        losses : ndarray of float64
            Receives the losses of the completed epochs (each as :meth:`run`
            returns it); its length caps the epochs.
        kept_params, kept_state : ndarray, optional
            Copies of the parameters and the optimizer's state after every
            completed epoch (see ``EpochTeam.run_epochs`` of
            ``fastnn._kernels.epoch``).

        Returns
        -------
        status : {"complete", "plateau", "paused", "stopped", "diverged"}
            "complete": ``len(losses)`` epochs ran; "plateau": the plateau
            rule ended training; "paused": ``rules.pause_after`` seconds
            passed; after "stopped" or "diverged" ``params`` hold a partial
            epoch.
        """
        with self._compiled_call(optimizer) as call:
            status, call.waited = self.team.run_epochs(
                params, call.rule, call.state, order, call.n_threads, rules, losses,
                kept_params, kept_state)
        return _STATUS_NAMES[status]

    @contextlib.contextmanager
    def _compiled_call(self, optimizer):
        """The threads, BLAS limit and update rule of one call into the team.

        The body sets ``call.waited`` to the seconds the team waited; the
        optimizer takes back what the rule advanced even when the body raises.
        """
        team = self.team
        if self.adaptive:
            allowed = training_threads(team.batch_size)
            n_threads = contention.threads(allowed)
        else:
            allowed = n_threads = team.n_parts
        call = types.SimpleNamespace(
            rule=optimizer.update_rule(), n_threads=n_threads, waited=0.0,
            state=optimizer.ensure_state(team.plan.n_params, self.dtype))
        started = time.perf_counter()
        try:
            # BLAS stays on one thread whenever threads may share the parts, also
            # when the contention policy runs them on one thread: a threaded BLAS
            # would meet the other cores at every product instead. With OpenMP
            # limited to one thread, BLAS threads as it is allowed to.
            with single_threaded_blas(allowed > 1):
                yield call
        finally:
            optimizer.applied(call.rule)
        if self.adaptive:
            contention.record(n_threads, time.perf_counter() - started, call.waited)
