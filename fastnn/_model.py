"""The fitted model: one immutable snapshot of a network's parameters.

Everything ``predict`` needs lives in one :class:`FittedModel`, held by one
attribute of the estimator. A fit publishes a new snapshot (new arrays) after
each complete epoch with one reference assignment, and ``predict`` reads that
reference once, so another thread never sees half an epoch. The snapshots of
one fit share its :class:`fastnn.network.Network` (the structure); each owns
its parameter vector, which nothing writes.

The objective is reported on scikit-learn's scale (:func:`loss_reporting`): ``loss_curve_``, the validation loss, tol-based
stopping and the estimators' ``objective`` all use it.
"""

import numbers

import numpy as np

from fastnn.network import Network

__all__ = ["FittedModel", "loss_reporting"]

# The losses reported as a mean over outputs, not a sum.
_MEAN_OVER_OUTPUTS = frozenset({"squared_error", "absolute_error", "huber", "quantile"})


def penalty_strengths(alpha, l1_ratio):
    """The L2 and L1 strengths of scikit-learn's elastic-net penalty.

    ``alpha / n * (l1_ratio * ||W||_1 + (1 - l1_ratio) / 2 * ||W||^2)`` is an
    L2 term of strength ``alpha * (1 - l1_ratio)`` and an L1 term of strength
    ``alpha * l1_ratio``, as the kernels take them (each over ``n``, the
    weight sum).

    Parameters
    ----------
    alpha : float
    l1_ratio : float in [0, 1]

    Returns
    -------
    l2, l1 : float
    """
    alpha, l1_ratio = float(alpha), float(l1_ratio)
    if l1_ratio == 0:
        return alpha, 0.0
    return alpha * (1.0 - l1_ratio), alpha * l1_ratio


def loss_reporting(network):
    """``(loss_normalizer, probability_floor)``: how the objective is reported.

    scikit-learn reports squared error averaged over outputs, so the data term
    is divided by ``n_outputs`` there; the robust regression losses (absolute
    error, Huber, pinball) are reported the same way, as the (weighted) mean
    over samples and outputs; the Poisson deviance and the cross-entropies are
    summed over outputs (divided by 1), as scikit-learn sums them. And it
    reports log losses of probabilities clipped at the dtype's machine
    epsilon, so the cross-entropies take that floor (0 for the other losses).
    The same two numbers keep ``loss_curve_``, tol-based stopping and L-BFGS's
    line search on scikit-learn's numbers.

    Parameters
    ----------
    network : fastnn.network.Network

    Returns
    -------
    loss_normalizer : float
    probability_floor : float
    """
    normalizer = float(network.n_outputs) if network.loss in _MEAN_OVER_OUTPUTS else 1.0
    floor = (float(np.finfo(network.dtype).eps)
             if network.loss in ("binary_cross_entropy", "categorical_cross_entropy")
             else 0.0)
    return normalizer, floor


class FittedModel:
    """Everything prediction needs: one immutable snapshot of a fitted network.

    Parameters
    ----------
    network : fastnn.network.Network
        Structure (layer sizes, activations, loss). Its own ``params`` are the
        fit's working vector and are not read here: ``params`` goes to every
        computation.
    params : ndarray of shape (n_params,)
        Flat parameters, owned by this snapshot (never written by a fit).
    n_features_in : int
        Features seen at fit.
    feature_names_in : ndarray of str or None
        Feature names seen at fit.
    labels : sklearn.preprocessing.LabelBinarizer or None
        The classifier's label binarizer (None for regressors).

    Attributes
    ----------
    coefs : list of ndarray
        Views into ``params``: ``coefs[l]`` of shape ``(n_in, n_z)``.
    intercepts : list of ndarray
        Views into ``params``: ``intercepts[l]`` of shape ``(n_z,)``.
    """

    __slots__ = ("network", "params", "coefs", "intercepts", "n_features_in",
                 "feature_names_in", "labels")

    def __init__(self, network, params, n_features_in, feature_names_in=None, labels=None):
        self.network = network
        self.params = params
        self.n_features_in = n_features_in
        self.feature_names_in = feature_names_in
        self.labels = labels
        self.coefs = [params[w:w + n_in * n_z].reshape(n_in, n_z)
                      for n_in, n_z, _, w, _ in network.layers]
        self.intercepts = [params[b:b + n_z] for _, n_z, _, _, b in network.layers]

    @property
    def dtype(self):
        """The dtype of the parameters and of all arithmetic."""
        return self.params.dtype

    def with_params(self, params):
        """A new snapshot of the same network holding ``params`` (not copied).

        Parameters
        ----------
        params : ndarray of shape (n_params,)

        Returns
        -------
        FittedModel
        """
        return FittedModel(self.network, params, self.n_features_in,
                           self.feature_names_in, self.labels)

    def forward(self, X):
        """The network's outputs for ``X`` (output activation included).

        Parameters
        ----------
        X : ndarray or scipy sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
        """
        return self.network.forward(X, params=self.params)

    def hidden_outputs(self, X):
        """Each hidden layer's output for ``X``.

        Parameters
        ----------
        X : ndarray or scipy sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        list of ndarray
            One ``(n_samples, units)`` array per hidden layer (none without).
        """
        return self.network.hidden_outputs(X, params=self.params)

    def objective(self, X, Y, sample_weight, alpha, l1=0.0):
        """The training objective on ``(X, Y)``, as ``loss_curve_`` reports it.

        Mean loss (on scikit-learn's scale, :func:`loss_reporting`) plus
        ``alpha / 2 * ||W||^2 / sum(w) + l1 * ||W||_1 / sum(w)``.

        Parameters
        ----------
        X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
            Or the rows, targets and weights already prepared by
            :meth:`fastnn.network.Network.training_data` (``Y`` and
            ``sample_weight`` None).
        Y : ndarray of shape (n_samples, n_outputs), or of class indices (n_samples,)
            Target matrix (one-hot rows for categorical cross-entropy, which
            may be given by their classes).
        sample_weight : ndarray of shape (n_samples,) or None
        alpha : float
            L2 penalty.
        l1 : float, default=0
            L1 penalty.

        Returns
        -------
        float
        """
        normalizer, floor = loss_reporting(self.network)
        return float(self.network.objective(X, Y, sample_weight, alpha, normalizer,
                                            params=self.params, probability_floor=floor,
                                            l1=l1))

    # The network is rebuilt on unpickling: it holds compiled-activation objects and
    # caches that have no business in a pickle.
    def __getstate__(self):
        net = self.network
        return {"layer_sizes": net.layer_sizes,
                "hidden_activation": [a.name for a in net.activations[:-1]],
                "loss": net.loss, "loss_param": net.loss_param, "dropout": list(net.dropout),
                "params": self.params,
                "n_features_in": self.n_features_in,
                "feature_names_in": self.feature_names_in, "labels": self.labels}

    def __setstate__(self, state):
        # The state may come from a model file (fastnn.load): check it before the
        # kernels read it. Network validates sizes, activation names, the loss
        # and its parameter.
        params, sizes = state["params"], state["layer_sizes"]
        if not (isinstance(params, np.ndarray) and params.ndim == 1
                and params.dtype in (np.float32, np.float64)):
            raise ValueError("a fitted model's parameters must be a 1-D float32 or "
                             f"float64 array, got {type(params).__name__} "
                             f"{getattr(params, 'dtype', '')}")
        # Weights and biases of plain layers are a lower bound on the parameter
        # count (glu layers have more): a file claiming huge layers around a small
        # array is refused before Network allocates for them.
        if not isinstance(sizes, (tuple, list)) or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes):
            raise ValueError(f"layer sizes must be a sequence of integers, got {sizes!r}")
        if sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])) > params.size:
            raise ValueError(f"{params.size} parameters cannot fill layers {tuple(sizes)}")
        # Files written before dropout existed hold networks without it, and
        # files written before losses took a parameter have no "loss_param":
        # their losses take none.
        network = Network(sizes, state["hidden_activation"], state["loss"], params.dtype,
                          state.get("dropout", 0.0), loss_param=state.get("loss_param"))
        if params.shape != (network.n_params,):
            raise ValueError(f"{network!r} has {network.n_params} parameters, "
                             f"got {params.size}")
        if state["n_features_in"] != network.n_features:
            raise ValueError(f"{network!r} takes {network.n_features} features, not "
                             f"{state['n_features_in']!r}")
        self.__init__(network, np.ascontiguousarray(params), state["n_features_in"],
                      state["feature_names_in"], state["labels"])
