"""scikit-learn's learning-rate schedules and stopping rule, around an optimizer.

A :class:`Schedule` is kept between ``partial_fit`` calls (and saved in model
files), as scikit-learn keeps its ``_optimizer``, so a stream of
``partial_fit`` calls follows the schedule one ``fit`` would.
"""

import copy

from fastnn.optimizers import SGD, Adam

__all__ = ["Schedule"]


class Schedule:
    """An optimizer plus scikit-learn's learning-rate schedule and stopping rule.

    Parameters
    ----------
    solver : {"sgd", "adam"}
    learning_rate_init : float
        Initial step size.
    lr_schedule : {"constant", "invscaling", "adaptive"}
        Schedule of 'sgd' (Adam's is constant).
    momentum : float
        Momentum of 'sgd'.
    nesterov : bool
        Nesterov's momentum ('sgd').
    power_t : float
        Exponent of the 'invscaling' schedule.
    beta_1, beta_2 : float
        Adam's decay rates.
    epsilon : float
        Adam's numerical-stability term.

    Attributes
    ----------
    optimizer : fastnn.optimizers.SGD or fastnn.optimizers.Adam
        The optimizer, its state and current learning rate.
    """

    def __init__(self, solver, learning_rate_init, lr_schedule, momentum, nesterov,
                 power_t, beta_1, beta_2, epsilon):
        self.learning_rate_init = float(learning_rate_init)
        self.lr_schedule = lr_schedule if solver == "sgd" else "constant"
        self.power_t = power_t
        if solver == "sgd":
            self.optimizer = SGD(learning_rate_init, momentum, nesterov)
        else:
            self.optimizer = Adam(learning_rate_init, beta_1, beta_2, epsilon)

    def iteration_ends(self, t):
        """Update the learning rate after an epoch, ``t`` samples seen so far.

        Parameters
        ----------
        t : int
        """
        if self.lr_schedule == "invscaling":
            self.optimizer.learning_rate = self.learning_rate_init / (t + 1) ** self.power_t

    def trigger_stopping(self, message, verbose):
        """Whether to stop after ``n_iter_no_change`` epochs without progress.

        The adaptive schedule divides the learning rate by 5 instead, until it falls
        to 1e-6 (scikit-learn's rule).

        Parameters
        ----------
        message : str
            What to print (with ``verbose``) before the decision.
        verbose : bool

        Returns
        -------
        bool
        """
        if self.lr_schedule != "adaptive":
            if verbose:
                print(message + " Stopping.")
            return True
        if self.optimizer.learning_rate <= 1e-6:
            if verbose:
                print(message + " Learning rate too small. Stopping.")
            return True
        self.optimizer.learning_rate /= 5.0
        if verbose:
            print(message + " Setting learning rate to %f" % self.optimizer.learning_rate)
        return False

    def set_learning_rate_init(self, learning_rate_init, t):
        """Take a ``learning_rate_init`` changed by ``set_params`` between ``partial_fit`` calls.

        The optimizer's state (momentum, Adam's moments and step count) is kept; only
        the step size changes, placed where the schedule would have it after ``t``
        samples. An unchanged value leaves everything (the adaptive schedule's
        divisions included) as it is.

        Parameters
        ----------
        learning_rate_init : float
        t : int
            Samples seen so far.
        """
        learning_rate_init = float(learning_rate_init)
        if learning_rate_init == self.learning_rate_init:
            return
        self.learning_rate_init = learning_rate_init
        if self.lr_schedule == "invscaling":
            learning_rate_init /= (t + 1) ** self.power_t
        self.optimizer.learning_rate = learning_rate_init

    def snapshot(self):
        """A deep copy: fits work on a copy, so a failed fit leaves the original.

        Returns
        -------
        Schedule
        """
        return copy.deepcopy(self)
