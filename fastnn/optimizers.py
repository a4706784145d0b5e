"""Optimizers: their hyper-parameters and the state they carry between steps.

An optimizer object owns its state vectors (velocities, or Adam's moments),
laid out like the network's flat parameters, and hands its configuration to
the compiled epoch loop, which updates both in place. Hyper-parameters such
as ``learning_rate`` may be changed between epochs (learning-rate schedules,
the notebook dashboard).
"""

import numbers

import numpy as np

from fastnn._kernels import optimizers as _kernels


def _check_real(name, value, low, high, low_open=False, high_open=False):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value!r}")
    return float(value)


class _Optimizer:
    """State handling shared by the optimizers (not public)."""

    solver = None
    n_state_vectors = 1

    def __init__(self):
        self.state = None

    def reset(self):
        """Forget the state (velocities, moments, step count)."""
        self.state = None

    def ensure_state(self, n_params, dtype):
        """Allocate zeroed state for ``n_params`` parameters, or keep a matching one.

        Parameters
        ----------
        n_params : int
            Length of the network's flat parameter vector.
        dtype : numpy.dtype
            The parameters' dtype.

        Returns
        -------
        state : ndarray of shape (n_state_vectors * n_params,)
            The state vectors, one after the other, updated in place by steps.
        """
        size = self.n_state_vectors * n_params
        if self.state is None or self.state.shape != (size,) or self.state.dtype != dtype:
            self.state = np.zeros(size, dtype=dtype)
        return self.state

    def state_snapshot(self):
        """A copy of the state (vectors and step count), for :meth:`restore_state`.

        Returns
        -------
        snapshot : dict
            The state vectors (copied, or None before the first step) and, for
            Adam, the step count.
        """
        return {"state": None if self.state is None else self.state.copy()}

    def restore_state(self, snapshot):
        """Return to a :meth:`state_snapshot` (the snapshot itself is not adopted).

        Parameters
        ----------
        snapshot : dict
            What :meth:`state_snapshot` returned; its arrays are copied.
        """
        self.state = None if snapshot["state"] is None else snapshot["state"].copy()

    def update_rule(self):
        """The update as the compiled epoch applies it.

        Returns
        -------
        rule : fastnn._kernels.optimizers.SGDRule or fastnn._kernels.optimizers.AdamRule
            The hyper-parameters (and Adam's step count) as of now, typed for
            the compiled loop.
        """
        raise NotImplementedError

    def applied(self, rule):
        """Take back what epochs advanced in ``rule`` (step count, scheduled learning rate).

        Parameters
        ----------
        rule : fastnn._kernels.optimizers.SGDRule or fastnn._kernels.optimizers.AdamRule
            The rule :meth:`update_rule` returned, after the compiled epochs
            ran with it.
        """
        self.learning_rate = rule.learning_rate


class SGD(_Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum.

    ``velocity <- momentum * velocity - learning_rate * grad``, then
    ``params += velocity``, or with Nesterov momentum
    ``params += momentum * velocity - learning_rate * grad``
    (scikit-learn's formulation).

    Parameters
    ----------
    learning_rate : float, default=0.001
        Step size (> 0); schedules change it between epochs.
    momentum : float in [0, 1], default=0.9
        Share of the previous velocity kept at each step.
    nesterov : bool, default=True
        Whether the step looks ahead along the velocity (Nesterov's momentum).

    Attributes
    ----------
    state : ndarray of shape (n_params,) or None
        The velocity, laid out like the network's parameters (None before
        the first step).
    """

    solver = "sgd"
    n_state_vectors = 1

    def __init__(self, learning_rate=0.001, momentum=0.9, nesterov=True):
        super().__init__()
        self.learning_rate = _check_real("learning_rate", learning_rate, 0, np.inf, low_open=True)
        self.momentum = _check_real("momentum", momentum, 0, 1)
        self.nesterov = bool(nesterov)

    def update_rule(self):
        """The update as the compiled epoch applies it.

        Returns
        -------
        rule : fastnn._kernels.optimizers.SGDRule
            The learning rate, momentum and Nesterov flag as of now.
        """
        return _kernels.SGDRule(self.learning_rate, self.momentum, self.nesterov)

    def step(self, params, grads):
        """Apply one update to ``params`` (in place) from ``grads``.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
            The parameters, updated in place.
        grads : ndarray of shape (n_params,)
            The gradient of the objective at ``params``, same dtype.
        """
        velocity = self.ensure_state(params.shape[0], params.dtype)
        _kernels.sgd(params, grads, velocity, self.learning_rate, self.momentum, self.nesterov)

    def __repr__(self):
        return (f"SGD(learning_rate={self.learning_rate!r}, momentum={self.momentum!r}, "
                f"nesterov={self.nesterov!r})")


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2015) with bias-corrected step size.

    Parameters
    ----------
    learning_rate : float, default=0.001
        Step size (> 0) before the bias correction.
    beta1 : float in [0, 1), default=0.9
        Decay rate of the first-moment (mean) estimate.
    beta2 : float in [0, 1), default=0.999
        Decay rate of the second-moment (uncentred variance) estimate.
    epsilon : float, default=1e-8
        Added to the root of the second moment, against division by zero.

    Attributes
    ----------
    t : int
        Number of updates applied so far.
    state : ndarray of shape (2 * n_params,) or None
        The first moments, then the second moments (None before the first
        step).
    """

    solver = "adam"
    n_state_vectors = 2

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
        super().__init__()
        self.learning_rate = _check_real("learning_rate", learning_rate, 0, np.inf, low_open=True)
        self.beta1 = _check_real("beta1", beta1, 0, 1, high_open=True)
        self.beta2 = _check_real("beta2", beta2, 0, 1, high_open=True)
        self.epsilon = _check_real("epsilon", epsilon, 0, np.inf, low_open=True)
        self.t = 0

    def reset(self):
        """Forget the moments and the step count."""
        super().reset()
        self.t = 0

    def update_rule(self):
        """The update as the compiled epoch applies it.

        Returns
        -------
        rule : fastnn._kernels.optimizers.AdamRule
            The hyper-parameters and the step count as of now.
        """
        return _kernels.AdamRule(self.learning_rate, self.beta1, self.beta2, self.epsilon,
                                 self.t)

    def applied(self, rule):
        """Take back the step count and learning rate the compiled epochs advanced.

        Parameters
        ----------
        rule : fastnn._kernels.optimizers.AdamRule
            The rule :meth:`update_rule` returned, after the epochs ran.
        """
        super().applied(rule)
        self.t = rule.step

    def state_snapshot(self):
        """A copy of the moments and the step count, for :meth:`restore_state`.

        Returns
        -------
        snapshot : dict
            The moments (copied, or None before the first step) and ``t``.
        """
        return {**super().state_snapshot(), "t": self.t}

    def restore_state(self, snapshot):
        """Return to a :meth:`state_snapshot` (the snapshot itself is not adopted).

        Parameters
        ----------
        snapshot : dict
            What :meth:`state_snapshot` returned.
        """
        super().restore_state(snapshot)
        self.t = snapshot["t"]

    def step(self, params, grads):
        """Apply one update to ``params`` (in place) from ``grads``.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
            The parameters, updated in place.
        grads : ndarray of shape (n_params,)
            The gradient of the objective at ``params``, same dtype.
        """
        state = self.ensure_state(params.shape[0], params.dtype)
        n = params.shape[0]
        _kernels.adam(params, grads, state[:n], state[n:], self.t + 1, self.learning_rate,
                      self.beta1, self.beta2, self.epsilon)
        self.t += 1

    def __repr__(self):
        return (f"Adam(learning_rate={self.learning_rate!r}, beta1={self.beta1!r}, "
                f"beta2={self.beta2!r}, epsilon={self.epsilon!r})")


