"""Optimizer kernels and objects against updates computed by hand."""

import numpy as np
import pytest

from fastnn._kernels import optimizers as kernels
from fastnn.optimizers import SGD, Adam
from reference import adam_step
from conftest import tolerance


def test_sgd_hand_computed():
    params = np.array([1.0, -2.0])
    grads = np.array([0.5, 0.25])
    velocity = np.array([0.1, 0.0])
    kernels.sgd(params, grads, velocity, learning_rate=0.1, momentum=0.9, nesterov=False)
    # v = 0.9 * [0.1, 0] - 0.1 * [0.5, 0.25] = [0.04, -0.025]
    np.testing.assert_allclose(velocity, [0.04, -0.025], rtol=1e-15)
    np.testing.assert_allclose(params, [1.04, -2.025], rtol=1e-15)


def test_nesterov_hand_computed():
    params = np.array([1.0])
    velocity = np.array([0.1])
    kernels.sgd(params, np.array([0.5]), velocity, 0.1, 0.9, True)
    # v = 0.04; update = 0.9 * 0.04 - 0.1 * 0.5 = -0.014
    np.testing.assert_allclose(params, [0.986], rtol=1e-15)


def test_adam_hand_computed():
    params = np.array([1.0])
    m, v = np.zeros(1), np.zeros(1)
    kernels.adam(params, np.array([2.0]), m, v, t=1, learning_rate=0.1)
    # m = 0.2, v = 0.004; step = 0.1 * sqrt(0.001) / 0.1; update = step * 0.2 / (sqrt(0.004) + 1e-8)
    step = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    expected = 1.0 - step * 0.2 / (np.sqrt(0.004) + 1e-8)
    np.testing.assert_allclose(m, [0.2], rtol=1e-15)
    np.testing.assert_allclose(v, [0.004], rtol=1e-15)
    np.testing.assert_allclose(params, [expected], rtol=1e-15)
    # Bias correction makes the first step ~ learning_rate * sign(grad).
    assert params[0] == pytest.approx(0.9, rel=1e-6)


def test_adam_object_matches_textbook_over_steps(dtype):
    rng = np.random.default_rng(0)
    params = rng.standard_normal(50).astype(dtype)
    ref = params.astype(np.float64)
    m = np.zeros(50)
    v = np.zeros(50)
    opt = Adam(learning_rate=0.01, beta1=0.8, beta2=0.99, epsilon=1e-6)
    for t in range(1, 6):
        grads = rng.standard_normal(50)
        opt.step(params, grads.astype(dtype))
        ref, m, v = adam_step(ref, grads.astype(dtype), m, v, t, 0.01, 0.8, 0.99, 1e-6)
    assert opt.t == 5
    np.testing.assert_allclose(params, ref, rtol=tolerance(dtype) * 10)
    assert params.dtype == dtype


def test_sgd_object_state_and_reset():
    opt = SGD(learning_rate=0.5, momentum=0.5, nesterov=False)
    params = np.zeros(3)
    opt.step(params, np.ones(3))
    opt.step(params, np.ones(3))
    # v1 = -0.5, v2 = 0.5 * -0.5 - 0.5 = -0.75; params = -1.25
    np.testing.assert_allclose(params, -1.25)
    opt.reset()
    assert opt.state is None


@pytest.mark.parametrize("make", [
    lambda: SGD(learning_rate=0), lambda: SGD(momentum=1.5), lambda: SGD(learning_rate=np.nan),
    lambda: Adam(beta1=1.0), lambda: Adam(epsilon=-1), lambda: Adam(learning_rate="fast"),
])
def test_bad_hyper_parameters(make):
    with pytest.raises(ValueError, match="must be"):
        make()


def test_kernel_shape_checks():
    with pytest.raises(ValueError, match="grads has 2 entries"):
        kernels.sgd(np.zeros(3), np.zeros(2), np.zeros(3), 0.1)
    with pytest.raises(ValueError, match="t starts at 1"):
        kernels.adam(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), 0, 0.1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["sgd", "nesterov", "adam"])
def test_l2_term_in_the_update_is_the_penalized_gradient(dtype, solver):
    # The update adds l2 * params to the gradient as it reads params: the
    # same as a gradient computed beforehand as l2 * params + grads (in the
    # parameters' type), bit for bit.
    rng = np.random.default_rng(3)
    n, l2 = 37, 0.013
    params, grads = (rng.standard_normal(n).astype(dtype) for _ in range(2))
    state = [rng.standard_normal(n).astype(dtype) ** 2 for _ in range(2)]
    penalized = dtype(l2) * params + grads

    def step(p, g, s, l2_arg):
        if solver == "adam":
            kernels.adam(p, g, s[0], s[1], 3, 0.01, l2=l2_arg)
        else:
            kernels.sgd(p, g, s[0], 0.1, momentum=0.9, nesterov=solver == "nesterov",
                        l2=l2_arg)

    folded_p, folded_s = params.copy(), [s.copy() for s in state]
    step(folded_p, grads, folded_s, l2)
    given_p, given_s = params.copy(), [s.copy() for s in state]
    step(given_p, penalized, given_s, 0.0)
    np.testing.assert_array_equal(folded_p, given_p)
    for folded, given in zip(folded_s, given_s):
        np.testing.assert_array_equal(folded, given)
    assert not np.array_equal(folded_p, params)


@pytest.mark.parametrize("solver", ["sgd", "nesterov", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_l1_term_in_the_update_is_its_subgradient(dtype, solver):
    # With l1 the update's gradient is l2 * p + l1 * sign(p) + g: the same,
    # to rounding, as a numpy subgradient given beforehand (0 at p == 0).
    rng = np.random.default_rng(4)
    n, l2, l1 = 41, 0.02, 0.05
    params, grads = (rng.standard_normal(n).astype(dtype) for _ in range(2))
    params[::7] = 0
    state = [rng.standard_normal(n).astype(dtype) ** 2 for _ in range(2)]
    subgradient = (dtype(l2) * params + dtype(l1) * np.sign(params)) + grads

    def step(p, g, s, l2_arg, l1_arg):
        if solver == "adam":
            kernels.adam(p, g, s[0], s[1], 3, 0.01, l2=l2_arg, l1=l1_arg)
        else:
            kernels.sgd(p, g, s[0], 0.1, momentum=0.9, nesterov=solver == "nesterov",
                        l2=l2_arg, l1=l1_arg)

    folded_p, folded_s = params.copy(), [s.copy() for s in state]
    step(folded_p, grads, folded_s, l2, l1)
    given_p, given_s = params.copy(), [s.copy() for s in state]
    step(given_p, subgradient, given_s, 0.0, 0.0)
    np.testing.assert_array_equal(folded_p, given_p)
    for folded, given in zip(folded_s, given_s):
        np.testing.assert_array_equal(folded, given)
