"""Dropout masks (fastnn/_kernels/dropout.pyx) and their generator (philox.h).

Philox-4x64-10 is held against numpy's own implementation
(``numpy.random.Philox``); the masks against what they must be: values 0 or
``1 / (1 - rate)``, dropped shares within binomial tolerance, uniform draws
(chi-square), independent neighbouring units and keys (chi-square of
contingency tables), and masks fixed by the key alone (rows in any order or
grouping, any call).
"""

import numpy as np
import pytest
from scipy import stats

from fastnn._kernels.dropout import keep_mask, mulhilo64_portable, philox4x64

SEED = np.array([0x0123456789ABCDEF, 0xFEDCBA9876543210], dtype=np.uint64)


def test_philox_matches_numpys_philox():
    rng = np.random.default_rng(0)
    for _ in range(50):
        counter = rng.integers(1, 2 ** 64, 4, dtype=np.uint64, endpoint=False)
        key = rng.integers(0, 2 ** 64, 2, dtype=np.uint64, endpoint=False)
        # numpy's Philox adds one to the counter's first word before it draws.
        before = counter.copy()
        before[0] -= np.uint64(1)
        want = np.random.Philox(counter=before, key=key).random_raw(4)
        np.testing.assert_array_equal(philox4x64(counter, key), want)


def test_portable_128_bit_product_matches_python_integers():
    rng = np.random.default_rng(1)
    edge = [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 63, 2 ** 64 - 1]
    pairs = [(a, b) for a in edge for b in edge]
    pairs += [tuple(int(v) for v in rng.integers(0, 2 ** 64, 2, dtype=np.uint64))
              for _ in range(200)]
    for a, b in pairs:
        lo, hi = mulhilo64_portable(a, b)
        assert hi * 2 ** 64 + lo == a * b


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_masks_drop_the_rate_and_scale_the_survivors(rate, dtype):
    n_rows, n_units = 2000, 101
    mask = keep_mask(SEED, 3, 7, np.arange(n_rows), 1, n_units, rate, dtype)
    assert mask.shape == (n_rows, n_units) and mask.dtype == dtype
    scale = dtype(1.0 / (1.0 - rate))
    assert set(np.unique(mask)) == {0, scale}
    # Binomial: the dropped count is within 5 standard deviations of n * rate.
    n = mask.size
    dropped = np.count_nonzero(mask == 0)
    assert abs(dropped - n * rate) < 5 * np.sqrt(n * rate * (1 - rate))
    # Per unit too (every position in Philox's four output words).
    per_unit = np.count_nonzero(mask == 0, axis=0)
    assert np.all(np.abs(per_unit - n_rows * rate)
                  < 5 * np.sqrt(n_rows * rate * (1 - rate)))


def test_rate_zero_keeps_every_unit_unscaled():
    mask = keep_mask(SEED, 0, 0, np.arange(10), 0, 9, 0.0)
    np.testing.assert_array_equal(mask, np.ones((10, 9)))


def test_the_draws_are_uniform():
    # A unit is dropped when its uniform is below the rate, so the units
    # dropped at rate b but not at rate a are those whose uniform lies in
    # [a, b): the counts per decile are a chi-square test of uniformity.
    rows = np.arange(3000)
    edges = np.linspace(0, 1, 11)
    dropped = [np.zeros((3000, 40), bool)]
    dropped += [keep_mask(SEED, 1, 2, rows, 0, 40, rate) == 0 for rate in edges[1:-1]]
    dropped.append(np.ones((3000, 40), bool))
    for lower, upper in zip(dropped, dropped[1:]):
        assert not np.any(lower & ~upper)  # the same uniform at every rate
    counts = [np.count_nonzero(upper & ~lower) for lower, upper in zip(dropped, dropped[1:])]
    assert stats.chisquare(counts).pvalue > 1e-3
    # The same through a KS test of the empirical distribution at 99 rates.
    rates = np.linspace(0.01, 0.99, 99)
    shares = [np.mean(keep_mask(SEED, 1, 2, rows[:500], 0, 40, r) == 0) for r in rates]
    assert np.max(np.abs(np.array(shares) - rates)) < stats.kstwo.ppf(0.999, 500 * 40)


def _independent(a, b):
    # p > 1e-4 for each of the ~20 tables below: a sound generator fails
    # one of them by chance with probability ~0.2%.
    table = [[np.count_nonzero(a & b), np.count_nonzero(a & ~b)],
             [np.count_nonzero(~a & b), np.count_nonzero(~a & ~b)]]
    return stats.chi2_contingency(table).pvalue > 1e-4


def test_neighbouring_units_and_different_keys_draw_independently():
    rows = np.arange(4000)
    base = keep_mask(SEED, 5, 6, rows, 2, 16, 0.5) == 0
    # Units sharing one Philox block, and units of consecutive blocks.
    for j in range(15):
        assert _independent(base[:, j], base[:, j + 1])
    others = {
        "seed": keep_mask(SEED + np.uint64(1), 5, 6, rows, 2, 16, 0.5),
        "epoch": keep_mask(SEED, 6, 6, rows, 2, 16, 0.5),
        "batch": keep_mask(SEED, 5, 7, rows, 2, 16, 0.5),
        "layer": keep_mask(SEED, 5, 6, rows, 3, 16, 0.5),
        "row": keep_mask(SEED, 5, 6, rows + 4000, 2, 16, 0.5),
    }
    for name, other in others.items():
        assert _independent(base.ravel(), (other == 0).ravel()), name


def test_a_mask_is_fixed_by_its_key_alone(dtype):
    rows = np.random.default_rng(2).permutation(50)
    whole = keep_mask(SEED, 9, 4, np.arange(50), 1, 13, 0.3, dtype)
    # The same call again, the rows in another order, in two groups.
    np.testing.assert_array_equal(keep_mask(SEED, 9, 4, np.arange(50), 1, 13, 0.3, dtype),
                                  whole)
    np.testing.assert_array_equal(keep_mask(SEED, 9, 4, rows, 1, 13, 0.3, dtype), whole[rows])
    parts = [keep_mask(SEED, 9, 4, rows[:17], 1, 13, 0.3, dtype),
             keep_mask(SEED, 9, 4, rows[17:], 1, 13, 0.3, dtype)]
    np.testing.assert_array_equal(np.vstack(parts), whole[rows])
    # A narrower layer's units are the first units of a wider one's.
    np.testing.assert_array_equal(keep_mask(SEED, 9, 4, np.arange(50), 1, 6, 0.3, dtype),
                                  whole[:, :6])


def test_keep_mask_refuses_bad_arguments():
    for rate in (-0.1, 1.0, np.nan):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            keep_mask(SEED, 0, 0, [0], 0, 3, rate)
    with pytest.raises(ValueError, match="float32 or float64"):
        keep_mask(SEED, 0, 0, [0], 0, 3, 0.5, np.int64)
    assert keep_mask(SEED, 0, 0, [], 0, 3, 0.5).shape == (0, 3)
