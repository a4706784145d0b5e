"""fastnn.network.Network: shapes, initialisation, gradients, training.

References: scikit-learn's own MLP (initial weights and five epochs of
training, side by side) and central finite differences for the gradient.
"""

import warnings
import zlib

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, shuffle

from fastnn import activations, initializers
from fastnn.network import Network, OUTPUT_ACTIVATIONS, dropout_seed
from fastnn.optimizers import SGD, Adam
from reference import central_difference, make_targets

LOSSES = sorted(OUTPUT_ACTIVATIONS)


def test_loss_parameters_default_are_checked_and_reach_the_plan():
    from fastnn.network import LOSS_PARAM_DEFAULTS
    from fastnn._kernels.losses import LOSS_KINDS
    assert LOSS_PARAM_DEFAULTS == {"huber": 1.0, "quantile": 0.5}
    for loss, default in LOSS_PARAM_DEFAULTS.items():
        net = Network((3, 2), (), loss)
        assert net.loss_param == net.plan.loss_param == default
        assert net.plan.loss_kind == LOSS_KINDS[loss]
        assert f"loss_param={default}" in repr(net)
    assert Network((3, 2), (), "quantile", loss_param=0.25).plan.loss_param == 0.25
    net = Network((3, 2), (), "squared_error")
    assert net.loss_param is None and net.plan.loss_param == 0.0
    assert "loss_param" not in repr(net)
    with pytest.raises(ValueError, match="the huber loss needs delta > 0"):
        Network((3, 2), (), "huber", loss_param=0.0)
    with pytest.raises(ValueError, match="the quantile loss needs quantile in"):
        Network((3, 2), (), "quantile", loss_param=1.0)
    with pytest.raises(ValueError, match="takes no parameter"):
        Network((3, 2), (), "poisson", loss_param=0.5)


def test_the_loss_parameter_changes_the_objective_as_the_formula_says():
    # The same network and rows under two quantiles: the pinball objective is
    # q * sum(u+) + (1 - q) * sum(u-), linear in q, with u = y - output.
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 3)), rng.standard_normal((30, 2))
    params = Network((3, 4, 2), "tanh").initialize(0).params
    u = Y - Network((3, 4, 2), "tanh").forward(X, params=params)
    for q in (0.2, 0.7):
        net = Network((3, 4, 2), "tanh", "quantile", loss_param=q)
        expected = (q * np.maximum(u, 0) + (1 - q) * np.maximum(-u, 0)).sum() / 30
        assert net.objective(X, Y, params=params) == pytest.approx(expected, rel=1e-12)


def test_layout_and_views():
    net = Network((4, 3, 2), "tanh", "categorical_cross_entropy")
    assert net.n_layers == 2
    assert net.n_params == 4 * 3 + 3 * 2 + 3 + 2
    assert net.n_weights == 4 * 3 + 3 * 2
    assert [c.shape for c in net.coefs] == [(4, 3), (3, 2)]
    assert [b.shape for b in net.intercepts] == [(3,), (2,)]
    # Views: writing through them writes the flat vector, weights first.
    net.coefs[1][...] = 7
    net.intercepts[0][...] = 5
    assert (net.params[12:18] == 7).all() and (net.params[18:21] == 5).all()
    assert [a.name for a in net.activations] == ["tanh", "softmax"]


def test_glu_layer_has_double_width_pre_activation():
    net = Network((3, 4, 2), "glu").initialize(0)
    assert net.coefs[0].shape == (3, 8)
    assert net.coefs[1].shape == (4, 2)
    X = np.random.default_rng(0).standard_normal((5, 3))
    z = X @ net.coefs[0] + net.intercepts[0]
    hidden = z[:, :4] / (1 + np.exp(-z[:, 4:]))
    np.testing.assert_allclose(net.forward(X), hidden @ net.coefs[1] + net.intercepts[1],
                               rtol=1e-12)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_initial_weights_equal_scikit_learn(activation):
    X, y = load_digits(return_X_y=True)
    sk = MLPClassifier(hidden_layer_sizes=(20, 15), activation=activation, max_iter=1,
                       random_state=7)
    # partial_fit runs one update after initialising; compare the draws instead
    # by reproducing scikit-learn's initialisation order on our side.
    rng = check_random_state(7)
    net = Network((64, 20, 15, 10), activation, "categorical_cross_entropy")
    net.initialize(rng)
    sk._random_state = check_random_state(7)
    for l, (fan_in, fan_out) in enumerate([(64, 20), (20, 15), (15, 10)]):
        coef, intercept = sk._init_coef(fan_in, fan_out, np.float64)
        np.testing.assert_array_equal(net.coefs[l], coef)
        np.testing.assert_array_equal(net.intercepts[l], intercept)


def test_initializer_none_entries_draw_scikit_learn_layers_in_turn():
    # A mixed list: the None layers draw scikit-learn's _init_coef from the
    # state the Keras layers before them left (their W only, no bias draw).
    net = Network((64, 20, 15, 10), "tanh", "categorical_cross_entropy")
    net.initialize(check_random_state(7), kernel_initializer=["he_normal", None, "orthogonal"])
    sk = MLPClassifier(activation="tanh")
    sk._random_state = rng = check_random_state(7)
    np.testing.assert_array_equal(net.coefs[0], initializers.draw("he_normal", rng, (64, 20)))
    assert not net.intercepts[0].any()
    coef, intercept = sk._init_coef(20, 15, np.float64)
    np.testing.assert_array_equal(net.coefs[1], coef)
    np.testing.assert_array_equal(net.intercepts[1], intercept)
    np.testing.assert_array_equal(net.coefs[2], initializers.draw("orthogonal", rng, (15, 10)))
    assert not net.intercepts[2].any()


def test_initializer_default_and_all_none_are_todays_draws():
    default = Network((5, 4, 3), "selu").initialize(3)
    for spec in (None, [None, None]):
        net = Network((5, 4, 3), "selu").initialize(3, kernel_initializer=spec)
        np.testing.assert_array_equal(net.params, default.params)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_initializer_name_for_every_layer_glu_width_and_dtype(dtype):
    # A glu layer's W is (n_in, 2 * n_out): the initializer sees that shape.
    net = Network((6, 4, 3, 2), ["glu", "relu"], dtype=dtype)
    net.initialize(5, kernel_initializer="glorot_uniform")
    rng = check_random_state(5)
    for W, b, shape in zip(net.coefs, net.intercepts, [(6, 8), (4, 3), (3, 2)]):
        expected = initializers.draw("glorot_uniform", rng, shape).astype(dtype)
        assert W.dtype == dtype
        np.testing.assert_array_equal(W, expected)
        assert not b.any()


@pytest.mark.parametrize("spec, message", [
    (["zeros"], "1 entries; expected 2"),
    (["zeros", None, None], "3 entries; expected 2"),
    ("xavier", "unknown kernel initializer 'xavier'"),
    ([None, "he"], "unknown kernel initializer 'he'"),
])
def test_bad_initializer_draws_nothing(spec, message):
    net = Network((3, 2, 1)).initialize(0)
    before = net.params.copy()
    rng = check_random_state(1)
    with pytest.raises(ValueError, match=message):
        net.initialize(rng, kernel_initializer=spec)
    np.testing.assert_array_equal(net.params, before)
    assert rng.random_sample() == check_random_state(1).random_sample()


def _five_epochs_side_by_side(estimator, X, y, Y, loss, activation, solver):
    """Fit ``estimator`` on (X, y) and a Network on (X, Y), Y being y as the network sees it."""
    estimator.set_params(hidden_layer_sizes=(30, 20), activation=activation, solver=solver,
                         max_iter=5, random_state=0, tol=0, alpha=1e-3, batch_size=128,
                         n_iter_no_change=1000, learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    rng = check_random_state(0)
    net = Network((X.shape[1], 30, 20, Y.shape[1]), activation, loss).initialize(rng)
    optimizer = Adam(0.01) if solver == "adam" else SGD(0.01, momentum=0.9, nesterov=True)
    order = np.arange(X.shape[0])
    curve = []
    for _ in range(5):
        order = shuffle(order, random_state=rng)
        status, epoch_loss = net.train_epoch(
            X, Y, order, 128, optimizer, alpha=1e-3,
            loss_normalizer=Y.shape[1] if loss == "squared_error" else 1.0)
        assert status == "complete"
        curve.append(epoch_loss)
    for ours, theirs in zip(net.coefs + net.intercepts,
                            estimator.coefs_ + estimator.intercepts_):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(curve, estimator.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_five_epochs_equal_scikit_learn_classifier(activation, solver):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    Y = LabelBinarizer().fit_transform(y).astype(np.float64)
    _five_epochs_side_by_side(MLPClassifier(), X, y, Y, "categorical_cross_entropy",
                              activation, solver)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_five_epochs_equal_scikit_learn_regressor(solver):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    Y = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]])
    _five_epochs_side_by_side(MLPRegressor(), X, Y, Y, "squared_error", "tanh", solver)


# Activations whose parameters have no default (Keras's threshold).
REQUIRED_PARAMS = {"threshold": {"threshold": 0.1, "default_value": -0.5}}
CANONICAL_NAMES = sorted({activations.Activation(n, **REQUIRED_PARAMS.get(n, {})).name
                          for n in activations.names()})


# Kinks (relu at 0, shrink thresholds, hard clips) are measure-zero for random
# inputs; finite differences straddle one with probability ~h, negligible here.
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", CANONICAL_NAMES)
def test_gradient_matches_finite_differences(activation, loss):
    rng = np.random.default_rng(zlib.crc32(f"{activation}-{loss}".encode()))
    X = rng.standard_normal((9, 3))
    Y = make_targets(loss, rng, 9, 3)
    sw = rng.uniform(0.5, 1.5, 9)
    hidden = activations.get(activation, **REQUIRED_PARAMS.get(activation, {}))
    net = Network((3, 4, 4, 3), hidden, loss).initialize(int(rng.integers(2**31)))
    net.params *= 0.7  # keep poisson's exp outputs moderate
    objective, grad = net.loss_gradient(X, Y, sample_weight=sw, alpha=0.3)

    def f(p):
        return net.loss_gradient(X, Y, sample_weight=sw, alpha=0.3, params=p)[0]

    numeric = central_difference(f, net.params.copy(), 1e-6)
    assert np.isfinite(objective)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    Y = rng.standard_normal((40, 1)).astype(np.float32)
    net = Network((3, 5, 1), "relu", dtype=np.float32).initialize(0)
    assert net.params.dtype == np.float32
    net.train_epoch(X, Y, np.arange(40), 8, Adam())
    assert net.params.dtype == np.float32
    assert net.forward(X).dtype == np.float32
    _, grad = net.loss_gradient(X, Y)
    assert grad.dtype == np.float32


def test_single_neuron_is_linear_regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 2))
    net = Network((2, 1)).initialize(0)
    np.testing.assert_allclose(net.forward(X).ravel(),
                               X @ net.coefs[0].ravel() + net.intercepts[0][0], rtol=1e-14)


def test_fortran_and_strided_inputs_give_the_same_answer():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 6))
    net = Network((3, 4, 2), "tanh").initialize(0)
    expected = net.forward(np.ascontiguousarray(X[:, ::2]))
    np.testing.assert_array_equal(net.forward(X[:, ::2]), expected)
    np.testing.assert_array_equal(net.forward(np.asfortranarray(X[:, ::2])), expected)


@pytest.mark.parametrize("kwargs, message", [
    (dict(layer_sizes=(3,)), "at least the input and output"),
    (dict(layer_sizes=(3, 0, 1)), "positive integers"),
    (dict(layer_sizes=(3, 2.5, 1)), "positive integers"),
    (dict(layer_sizes=(3, 1), loss="hinge"), "valid losses"),
    (dict(layer_sizes=(3, 1), dtype=np.int64), "float32 or float64"),
    (dict(layer_sizes=(3, 2, 2, 1), hidden_activation=["relu"]), "2 hidden layers"),
    (dict(layer_sizes=(3, 2, 1), hidden_activation="no_such_thing"), "no_such_thing"),
])
def test_bad_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Network(**kwargs)


def test_bad_inputs():
    net = Network((3, 2, 1)).initialize(0)
    with pytest.raises(ValueError, match="X has 2 columns, the network expects 3"):
        net.forward(np.ones((4, 2)))
    with pytest.raises(ValueError, match="must be 2-D"):
        net.forward(np.ones((2, 2, 3)))
    with pytest.raises(ValueError, match="real numbers"):
        net.forward(np.array([["a", "b", "c"]]))
    with pytest.raises(ValueError, match="X has 4 rows but Y has 3"):
        net.loss_gradient(np.ones((4, 3)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="no rows"):
        net.train_epoch(np.ones((0, 3)), np.ones((0, 1)), np.arange(0), 1, Adam())
    with pytest.raises(ValueError, match="expected 11 parameters"):
        net.set_params(np.ones(3))
    with pytest.raises(ValueError, match="params must be"):
        net.forward(np.ones((1, 3)), params=np.ones(11, dtype=np.float32))
    # NaN input is not silently wrong: it shows in the output and stops training.
    assert np.isnan(net.forward(np.array([[np.nan, 0, 0]]))).all()
    status, _ = net.train_epoch(np.array([[np.nan, 0, 0]]), np.ones((1, 1)), np.arange(1),
                                1, Adam())
    assert status == "diverged"


def _sparse_problem(rng, n=60, d=12, density=0.2):
    dense = rng.standard_normal((n, d)) * (rng.random((n, d)) < density)
    dense[5] = 0  # a row with no non-zeros
    return dense


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("hidden", [(7,), ()])
def test_sparse_input_equals_dense(fmt, hidden, dtype):
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    X = _sparse_problem(rng).astype(dtype)
    Y = np.eye(3)[rng.integers(0, 3, 60)].astype(dtype)
    X_sparse = sp.csr_matrix(X).asformat(fmt)
    loss = "categorical_cross_entropy"
    dense_net = Network((12, *hidden, 3), "tanh", loss, dtype).initialize(0)
    sparse_net = Network((12, *hidden, 3), "tanh", loss, dtype).initialize(0)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(sparse_net.forward(X_sparse), dense_net.forward(X), rtol=rtol)
    obj_d, grad_d = dense_net.loss_gradient(X, Y, alpha=0.1)
    obj_s, grad_s = sparse_net.loss_gradient(X_sparse, Y, alpha=0.1)
    assert obj_s == pytest.approx(obj_d, rel=rtol)
    np.testing.assert_allclose(grad_s, grad_d, rtol=rtol, atol=rtol)
    order = rng.permutation(60)
    for net, inputs in ((dense_net, X), (sparse_net, X_sparse)):
        status, _ = net.train_epoch(inputs, Y, order, 16, Adam(0.01), alpha=0.1)
        assert status == "complete"
    np.testing.assert_allclose(sparse_net.params, dense_net.params, rtol=rtol * 10,
                               atol=rtol)


def test_sparse_input_is_not_densified():
    import scipy.sparse as sp
    # 100k columns: densifying 50 rows would take 40 MB; the kernels read the
    # non-zeros only, so this runs in a blink with a tiny first layer.
    X = sp.random(50, 100_000, density=1e-4, format="csr", random_state=0)
    net = Network((100_000, 4, 1)).initialize(0)
    W, b = net.coefs[0], net.intercepts[0]
    hidden = np.maximum(X @ W + b, 0)
    np.testing.assert_allclose(net.forward(X), hidden @ net.coefs[1] + net.intercepts[1],
                               rtol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_prepared_inputs_pass_through_unconverted(sparse):
    import scipy.sparse as sp
    rng = np.random.default_rng(2)
    X = rng.standard_normal((9, 5))
    X = sp.csr_matrix(np.where(X > 0.5, X, 0.0)) if sparse else X
    net = Network((5, 3, 2), "tanh").initialize(0)
    prepared = net.inputs(X)
    assert net.inputs(prepared) is prepared
    np.testing.assert_array_equal(net.forward(prepared), net.forward(X))
    with pytest.raises(ValueError, match="the network reads float32 rows of 5"):
        Network((5, 3, 2), dtype=np.float32).initialize(0).forward(prepared)
    with pytest.raises(ValueError, match="rows of 5 features; the network reads"):
        Network((4, 2)).initialize(0).forward(prepared)


def test_bad_sparse_input():
    import scipy.sparse as sp
    net = Network((4, 2, 1)).initialize(0)
    with pytest.raises(ValueError, match="expects 4 columns"):
        net.forward(sp.csr_matrix(np.ones((3, 5))))
    with pytest.raises(ValueError, match="real numbers"):
        net.forward(sp.csr_matrix(np.ones((3, 4), dtype=complex)))


@pytest.mark.parametrize("loss", LOSSES)
def test_objective_alone_equals_the_objective_of_loss_gradient(loss):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20, 3))
    Y = make_targets(loss, rng, 20, 2)
    sw = rng.uniform(0.5, 2, 20)
    net = Network((3, 4, 2), "tanh", loss).initialize(0)
    objective, _ = net.loss_gradient(X, Y, sw, alpha=0.3, loss_normalizer=2.0)
    assert net.objective(X, Y, sw, alpha=0.3, loss_normalizer=2.0) == pytest.approx(
        objective, rel=1e-14)


def test_gradient_of_a_non_finite_objective_is_nan_not_stale_memory():
    net = Network((2, 3, 1)).initialize(0)
    objective, grad = net.loss_gradient(np.array([[1.0, 2.0]]), np.array([[np.inf]]))
    assert not np.isfinite(objective)
    assert np.isnan(grad).all()


@pytest.mark.parametrize("activation", ["relu", "tanh", "glu", "softmax"])
def test_hidden_outputs_are_each_hidden_layers_output(activation):
    net = Network((3, 4, 2, 2), activation).initialize(0)
    X = np.random.default_rng(0).standard_normal((6, 3))
    outputs = net.hidden_outputs(X)
    assert [h.shape for h in outputs] == [(6, 4), (6, 2)]
    h = X
    for (W, b), g, out in zip(zip(net.coefs, net.intercepts), net.activations, outputs):
        h = g(h @ W + b)
        np.testing.assert_allclose(out, h, rtol=1e-12)
    # The output layer on the last hidden output is the forward pass.
    np.testing.assert_allclose(net.forward(X), outputs[-1] @ net.coefs[-1] + net.intercepts[-1],
                               rtol=1e-12, atol=1e-15)


def test_hidden_outputs_take_params_sparse_input_and_no_hidden_layer():
    net = Network((3, 5, 1), "tanh", dtype=np.float32).initialize(0)
    X = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    other = np.random.default_rng(2).standard_normal(net.n_params).astype(np.float32)
    with_other = net.hidden_outputs(X, params=other)
    assert with_other[0].dtype == np.float32
    assert not np.allclose(with_other[0], net.hidden_outputs(X)[0])
    np.testing.assert_allclose(net.hidden_outputs(sp.csr_matrix(X))[0],
                               net.hidden_outputs(X)[0], rtol=1e-6)
    assert Network((3, 2)).hidden_outputs(X) == []


# -- dropout --------------------------------------------------------------------


def test_dropout_rates_one_for_all_or_one_per_hidden_layer():
    assert Network((4, 3, 2, 1), dropout=0.25).dropout == (0.25, 0.25)
    net = Network((4, 3, 2, 1), dropout=[0.5, 0.0])
    assert net.dropout == (0.5, 0.0) and net.has_dropout
    assert net.plan.dropout == (0.5, 0.0, 0.0)
    assert "dropout=[0.5, 0.0]" in repr(net)
    assert Network((4, 1), dropout=0.5).dropout == () and not Network((4, 1)).has_dropout
    for dropout, message in [([0.1], "1 dropout rates for 2 hidden layers"),
                             (1.0, r"in \[0, 1\)"), ([0.1, -0.5], r"in \[0, 1\)"),
                             (True, r"in \[0, 1\)")]:
        with pytest.raises(ValueError, match=message):
            Network((4, 3, 2, 1), dropout=dropout)


def test_dropout_seed_reads_the_random_state_without_drawing():
    rng = check_random_state(3)
    state = rng.get_state(legacy=False)
    seed = dropout_seed(rng)
    assert seed.dtype == np.uint64 and seed.shape == (2,)
    after = rng.get_state(legacy=False)
    np.testing.assert_array_equal(after["state"]["key"], state["state"]["key"])
    assert after["state"]["pos"] == state["state"]["pos"]
    np.testing.assert_array_equal(dropout_seed(check_random_state(3)), seed)
    rng.random_sample()
    assert not np.array_equal(dropout_seed(rng), seed)
    assert not np.array_equal(dropout_seed(check_random_state(4)), seed)
    # Any bit generator a RandomState holds.
    pcg = np.random.RandomState(np.random.PCG64(0))
    np.testing.assert_array_equal(dropout_seed(pcg),
                                  dropout_seed(np.random.RandomState(np.random.PCG64(0))))
