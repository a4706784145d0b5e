"""Epoch orders drawn in compiled code (fastnn/_kernels/orders.pyx).

The reference is numpy itself: ``RandomState.shuffle`` on the same stream,
the draw scikit-learn's ``shuffle`` makes before every epoch.
"""

import numpy as np
import pytest
from sklearn.utils import shuffle as sklearn_shuffle

from fastnn._kernels.orders import shuffle
from fastnn.network import continued_stream


class _StateOnly:
    """A random state seen only through get_state/set_state (the copying path)."""

    def __init__(self, random_state):
        self.random_state = random_state

    def get_state(self, legacy=True):
        return self.random_state.get_state(legacy=legacy)

    def set_state(self, state):
        self.random_state.set_state(state)


WAYS = pytest.mark.parametrize("way", [lambda rs: rs, _StateOnly],
                               ids=["own-generator", "copied-state"])


def _same_state(a, b):
    sa, sb = a.get_state(legacy=False), b.get_state(legacy=False)
    assert sa["bit_generator"] == sb["bit_generator"]
    for key, value in sa["state"].items():
        np.testing.assert_array_equal(value, sb["state"][key])
    assert {k: v for k, v in sa.items() if k != "state"} == \
        {k: v for k, v in sb.items() if k != "state"}


@WAYS
@pytest.mark.parametrize("n", [0, 1, 2, 3, 32, 150, 1797, 100_003])
@pytest.mark.parametrize("seed", [0, 1, 42])
def test_shuffle_draws_what_random_state_shuffle_draws(n, seed, way):
    mine, reference = np.random.RandomState(seed), np.random.RandomState(seed)
    mine.standard_normal(3)  # a stream already drawn from (with a cached Gaussian)
    reference.standard_normal(3)
    start = np.random.default_rng(seed).permutation(n).astype(np.intp)
    order = start.copy()
    for _ in range(3):  # three epochs, each shuffling the last order
        with continued_stream(way(mine)) as stream:
            shuffle(stream, order)
        expected = np.arange(n)
        reference.shuffle(expected)
        start = start[expected]
        np.testing.assert_array_equal(order, start)
    _same_state(mine, reference)
    # The stream goes on from where both left it.
    assert mine.standard_normal() == reference.standard_normal()


def test_shuffle_is_scikit_learns_epoch_shuffle():
    order = np.arange(500, dtype=np.intp)[::-1].copy()
    rs, rs_ref = np.random.RandomState(7), np.random.RandomState(7)
    expected = sklearn_shuffle(order, random_state=rs_ref)
    with continued_stream(rs) as stream:
        shuffle(stream, order)
    np.testing.assert_array_equal(order, expected)
    _same_state(rs, rs_ref)


@WAYS
def test_a_random_state_over_another_bit_generator_continues_too(way):
    mine = np.random.RandomState(np.random.PCG64(3))
    reference = np.random.RandomState(np.random.PCG64(3))
    mine.randint(10)
    reference.randint(10)
    order = np.arange(1000, dtype=np.intp)
    with continued_stream(way(mine)) as stream:
        assert isinstance(stream, np.random.PCG64)
        shuffle(stream, order)
    expected = np.arange(1000)
    reference.shuffle(expected)
    np.testing.assert_array_equal(order, expected)
    _same_state(mine, reference)


@WAYS
def test_the_stream_returns_to_the_random_state_when_the_block_raises(way):
    rs, reference = np.random.RandomState(5), np.random.RandomState(5)
    order = np.arange(10, dtype=np.intp)
    with pytest.raises(RuntimeError):
        with continued_stream(way(rs)) as stream:
            shuffle(stream, order)
            raise RuntimeError
    reference.shuffle(np.arange(10))
    _same_state(rs, reference)
