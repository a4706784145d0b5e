"""What fastnn's ``callbacks=`` parameter hands to user code during a fit.

A callback is any callable taking one :class:`FitInfo`; it runs after every
epoch of 'sgd'/'adam' (every iteration of 'lbfgs'), and returning True stops
the fit there. The fit commits everything up to that epoch, as it does when
it ends by itself.
"""

__all__ = ["FitInfo"]


class FitInfo:
    """What a ``callbacks=`` callable receives after each epoch (or L-BFGS iteration).

    Parameters
    ----------
    epoch : int
        See Attributes.
    loss : float
        See Attributes.
    validation_score : float or None
        See Attributes.
    validation_loss : float or None
        See Attributes.
    estimator : estimator
        See Attributes.

    Attributes
    ----------
    epoch : int
        Epochs completed in this call to ``fit``/``partial_fit`` (``n_iter_`` so far).
    loss : float
        Training loss of the epoch (the last entry of ``loss_curve_``).
    validation_score : float or None
        Score on the validation set (with ``early_stopping=True``).
    validation_loss : float or None
        Loss on the validation set (with ``early_stopping=True``).
    estimator : estimator
        The estimator being fitted. Its ``predict`` already uses the parameters of
        this epoch; its other fitted attributes are set when the fit returns.
    """

    __slots__ = ("epoch", "loss", "validation_score", "validation_loss", "estimator")

    def __init__(self, epoch, loss, validation_score, validation_loss, estimator):
        self.epoch = epoch
        self.loss = loss
        self.validation_score = validation_score
        self.validation_loss = validation_loss
        self.estimator = estimator

    def __repr__(self):
        return (f"FitInfo(epoch={self.epoch}, loss={self.loss!r}, "
                f"validation_score={self.validation_score!r}, "
                f"validation_loss={self.validation_loss!r})")
