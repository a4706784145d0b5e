"""Label and target handling shared by the classifiers and by the regressors.

Mixins for :class:`fastnn._base.BaseNetworkEstimator`: how targets become the
network's ``Y``, which loss they call for, how outputs become predictions, and
the public methods whose signature depends on the kind of target:
``partial_fit`` (classifiers take ``classes``) and the predictions.
"""

import numbers

import numpy as np
from sklearn.base import _fit_context
from sklearn.metrics import r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_array, column_or_1d

#: The regressors' loss parameters and their scikit-learn constraints.
REGRESSION_LOSS_CONSTRAINTS = {
    "loss": [StrOptions({"squared_error", "poisson", "absolute_error", "huber", "quantile"})],
    "huber_delta": [Interval(numbers.Real, 0, None, closed="neither")],
    "quantile": [Interval(numbers.Real, 0, 1, closed="neither")],
}

#: The documentation (numpydoc) of ``loss``, for the regressors' docstrings.
REGRESSION_LOSS_DOC = """
    loss : {'squared_error', 'poisson', 'absolute_error', 'huber', 'quantile'}, \
default='squared_error'
        The loss minimised (the output is the identity, ``exp`` for 'poisson'),
        with residual ``r = prediction - y``: half squared error ``r**2 / 2``,
        half Poisson deviance, absolute error ``|r|``, Huber's loss (``r**2 / 2``
        for ``|r| <= huber_delta``, ``huber_delta * (|r| - huber_delta / 2)``
        beyond: Keras's ``Huber(delta)``), or the pinball loss of ``quantile``
        (``quantile * -r`` where ``r < 0``, ``(1 - quantile) * r`` elsewhere;
        its minimiser predicts that quantile of ``y``, as
        :class:`sklearn.linear_model.QuantileRegressor` does). Where the
        absolute and pinball losses have no derivative (``r = 0``), the
        solvers take the subgradient 0. ``loss_curve_`` reports the
        ``sample_weight``-weighted mean over samples, and over outputs for all
        but 'poisson' (summed over outputs, as scikit-learn does)."""

#: The documentation of the two loss parameters.
LOSS_PARAMETERS_DOC = """
    huber_delta : float, default=1.0
        Where the Huber loss turns from quadratic to linear (> 0); only read
        with ``loss='huber'``.
    quantile : float, default=0.5
        The quantile the pinball loss estimates, in (0, 1); only read with
        ``loss='quantile'`` (the name of
        :class:`sklearn.ensemble.HistGradientBoostingRegressor`'s)."""


def check_label_types(labels, name):
    """Refuse labels mixing strings and numbers, saying so.

    scikit-learn's checks sort the labels first and fail inside the sort with
    a TypeError that does not say what is wrong.
    """
    labels = np.asarray(labels)
    if labels.dtype == object and len({isinstance(v, str) for v in labels.flat}) > 1:
        raise ValueError(f"Mix of label input types (string and number) in {name}: "
                         f"give labels of one type, e.g. {name}.astype(str).")


def _binarized(binarizer, y):
    """``binarizer.transform(y)`` for labels already checked against its classes.

    A binary target's one column is ``y == classes_[1]`` (int64, as
    ``label_binarize`` gives); skipping its validation saves about half a
    millisecond a fit, a visible share of a small data set's fit.
    """
    if binarizer.y_type_ == "binary" and y.ndim == 1 and len(binarizer.classes_) == 2:
        return (y == binarizer.classes_[1]).astype(np.int64).reshape(-1, 1)
    return binarizer.transform(y)


class ClassifierTargets:
    """Labels through a ``LabelBinarizer``: sigmoid outputs for binary and
    multilabel targets, softmax for multiclass; ``class_weight`` support."""

    _is_classifier = True

    def _validate_targets(self, y, incremental, first_pass, classes):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_label_types(y, "y")
        check_classification_targets(y)
        committed = None if first_pass else self.__dict__.get("_label_binarizer")
        if incremental:
            if committed is None:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to "
                                     "partial_fit.")
                binarizer = LabelBinarizer()
                multilabel = type_of_target(y).startswith("multilabel")
                binarizer.fit(y if multilabel else classes)
                # A multilabel y's classes are its columns; like scikit-learn,
                # refuse a ``classes`` that leaves some of them out.
                missing = np.setdiff1d(unique_labels(y), classes) if multilabel else ()
                if len(missing):
                    raise ValueError("`y` has classes not in `classes`: `classes` has "
                                     f"{np.unique(classes)}. 'y' has {unique_labels(y)}.")
            else:
                if classes is not None and not np.array_equal(
                        np.unique(classes), committed.classes_):
                    raise ValueError(f"`classes={classes!r}` is not the same as on last "
                                     f"call to partial_fit, was: {committed.classes_!r}")
                binarizer = committed
            present = unique_labels(y)
            if len(np.setdiff1d(present, binarizer.classes_, assume_unique=True)):
                raise ValueError("`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {binarizer.classes_}. 'y' has {present}.")
        elif first_pass:
            binarizer = LabelBinarizer().fit(y)
        else:
            binarizer = committed
            present = unique_labels(y)
            if set(present) != set(binarizer.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {binarizer.classes_}, `y` has "
                    f"{present}")
        if binarizer.y_type_ == "multiclass":
            # Each sample's class, not its one-hot row: the training loop builds
            # the rows of one batch at a time, so no (n_samples, n_classes)
            # matrix (nor LabelBinarizer's int64 one) is ever allocated.
            classes = np.searchsorted(binarizer.classes_, y).astype(np.intp, copy=False)
            return y, self._smoothed(classes, binarizer), binarizer
        return y, self._smoothed(_binarized(binarizer, y), binarizer), binarizer

    def _label_smoothing(self):
        """Keras's ``label_smoothing`` of the loss's targets; 0 is none."""
        return 0.0

    def _smoothed(self, Y, binarizer):
        # Keras's definitions: y (1 - e) + e / K over a softmax's K classes,
        # y (1 - e) + e / 2 for each sigmoid output (its two classes). The
        # smoothed rows of a multiclass target are a dense matrix: only
        # without smoothing can the loop build one-hot rows from the classes.
        smoothing = self._label_smoothing()
        if smoothing == 0:
            return Y
        if binarizer.y_type_ != "multiclass":
            return Y * (1.0 - smoothing) + 0.5 * smoothing
        n_classes = len(binarizer.classes_)
        if Y.ndim == 1:
            one_hot = np.zeros((Y.shape[0], n_classes))
            one_hot[np.arange(Y.shape[0]), Y] = 1.0
            Y = one_hot
        return Y * (1.0 - smoothing) + smoothing / n_classes

    def _encode_targets(self, model, y):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_label_types(y, "y")
        binarizer = model.labels
        present = unique_labels(y)
        unknown = np.setdiff1d(present, binarizer.classes_)
        if len(unknown):
            raise ValueError(f"`y` has classes not in `classes_`: {unknown}. `classes_` "
                             f"has {binarizer.classes_}.")
        return y, self._smoothed(_binarized(binarizer, y), binarizer)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data ('sgd', 'adam').

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training samples of this call.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Their class labels (label-indicator rows for multilabel targets).
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss; None weighs them equally.
        classes : array of shape (n_classes,), default=None
            All classes across the calls; required on the first call.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if classes is not None and "_model" not in self.__dict__:
            # Checked before X and y, as scikit-learn checks them, so a call
            # with several faults reports the same one.
            check_label_types(classes, "classes")
            unique_labels(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True,
                         classes=classes)

    def _class_sample_weight(self, y, sample_weight, labels, incremental, dtype):
        if self.class_weight is None:
            return sample_weight
        if labels.y_type_ == "multilabel-indicator":
            raise ValueError("class_weight is not supported for multilabel targets.")
        if incremental and self.class_weight == "balanced":
            raise ValueError("class_weight 'balanced' is not supported for partial_fit: "
                             "pass the weights as a dict computed on all the data.")
        weights = compute_sample_weight(self.class_weight, y).astype(dtype)
        return weights if sample_weight is None else sample_weight * weights

    def _loss_name(self, n_outputs, labels):
        return ("categorical_cross_entropy" if labels.y_type_ == "multiclass"
                else "binary_cross_entropy")

    def _decode(self, model, output):
        # LabelBinarizer.inverse_transform's rules, without its input checks.
        binarizer = model.labels
        if binarizer.y_type_ == "multiclass":
            return binarizer.classes_.take(output.argmax(axis=1), mode="clip")
        if binarizer.y_type_ == "binary":
            if len(binarizer.classes_) == 1:
                # One class seen: the network learnt the negative label, and
                # every prediction is that class (as scikit-learn predicts).
                return np.repeat(binarizer.classes_, output.shape[0])
            return binarizer.classes_[(output[:, 0] > 0.5).astype(int)]
        return (output > 0.5).astype(int)

    def _validation_score(self, y_val, prediction, sample_weight):
        # accuracy_score's value (the weighted share of rows predicted
        # exactly, every label of a multilabel row), through the same
        # numpy.average, without its input checks, which cost ~0.5 ms an
        # epoch: both sides are this estimator's own labels, checked once.
        correct = np.asarray(y_val) == np.asarray(prediction)
        if correct.ndim == 2:
            correct = correct.all(axis=1)
        return float(np.average(correct, weights=sample_weight))

    def predict(self, X):
        """Predict class labels (label-indicator rows for multilabel targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            One label of ``classes_`` per sample, or 0/1 indicator rows.
        """
        model, output = self._forward(X)
        return self._decode(model, output)

    def predict_proba(self, X):
        """Probability of each class, in the order of ``classes_``.

        A model fitted on a single class has one column, all ones: that class
        is certain. scikit-learn's MLP returns two columns there, the second
        for a class it never saw.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Each sample's probabilities; a row sums to 1 except for
            multilabel targets, whose columns are independent.
        """
        model, output = self._forward(X)
        if model.labels.y_type_ == "binary" and len(model.labels.classes_) == 1:
            return np.ones_like(output)
        if output.shape[1] == 1:
            return np.column_stack([1 - output[:, 0], output[:, 0]])
        return output

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The natural logarithm of each probability.
        """
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class RegressorTargets:
    """Real targets, one or several outputs; the estimator's ``loss``: squared
    error, Poisson deviance, absolute error, Huber (``huber_delta``) or
    pinball (``quantile``)."""

    def _validate_targets(self, y, incremental, first_pass, classes):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        self._check_target_values(y)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return y, Y, None

    def _check_target_values(self, y):
        if y.dtype.kind in "USV":
            # Refused as scikit-learn's check_array refuses a string X at
            # predict (scikit-learn's MLP fails later, inside its loss).
            check_array(y, dtype="numeric", ensure_2d=False)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")

    def _loss_param(self, loss):
        if loss == "huber":
            return float(self.huber_delta)
        if loss == "quantile":
            return float(self.quantile)
        return None

    def _encode_targets(self, model, y):
        y, Y, _ = self._validate_targets(y, False, False, None)
        return y, Y

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over the given data ('sgd', 'adam').

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training samples of this call.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Their target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss; None weighs them equally.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _loss_name(self, n_outputs, labels):
        return self.loss

    def _decode(self, model, output):
        return output.ravel() if output.shape[1] == 1 else output

    def _validation_score(self, y_val, prediction, sample_weight):
        return r2_score(y_val, prediction, sample_weight=sample_weight)

    def predict(self, X):
        """Predict with the network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values (one column per output).
        """
        model, output = self._forward(X)
        return self._decode(model, output)
