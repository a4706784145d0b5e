"""The activation kinds table against what is built from it.

``fastnn/_kernels/activation_kinds.py`` is the one list of kinds: the compiled
module's enum and dispatch are rendered from it at build time, the registry of
``fastnn.activations`` is built from it at import. These tests catch a build
older than the table and a registry that drops or invents a kind.
"""

import pytest

from fastnn import activations
from fastnn._kernels import activation_kinds as table
from fastnn._kernels import activations as kernels


def _required_values(kind):
    return {param.name: 0.0 for param in kind.params if param.default is table.REQUIRED}


def _kind_named(name):
    # The table entry a registry name (or alias) stands for.
    for kind in table.TABLE:
        if kind.variant_of is None and (name == kind.name or name in kind.aliases):
            return kind
    raise AssertionError(f"{name!r} is no kind of the table nor an alias")


def test_every_kind_has_a_name_and_every_name_a_kind():
    reached = set()
    for name in activations.names():
        reached.add(activations.get(name, **_required_values(_kind_named(name))).kind)
    for code, kind in enumerate(table.TABLE):
        if kind.variant_of is not None:
            name, flag = kind.variant_of
            variant = activations.get(name, **{flag: True})
            assert variant.kind == code and variant.name == name
            reached.add(variant.kind)
    assert reached == set(range(len(table.TABLE)))


@pytest.mark.parametrize("code", range(len(table.TABLE)),
                         ids=[kind.name for kind in table.TABLE])
def test_the_compiled_kernels_match_the_table(code):
    kind = table.TABLE[code]
    assert kernels.KINDS[kind.name] == code
    assert kernels.rowwise(code) == kind.rowwise
    assert (code in kernels.ROWWISE_KINDS) == kind.rowwise
    assert kernels.output_width(code, 6) == (3 if kind.halves_width else 6)


def test_the_compiled_kernels_have_no_other_kinds():
    assert kernels.N_KINDS == len(table.TABLE) == len(kernels.KINDS)
    with pytest.raises(ValueError, match="unknown activation kind"):
        kernels.rowwise(len(table.TABLE))


@pytest.mark.parametrize("kind", [kind for kind in table.TABLE if kind.variant_of is None],
                         ids=lambda kind: kind.name)
def test_a_kind_takes_the_parameters_of_its_entry(kind):
    act = activations.get(kind.name, **_required_values(kind))
    expected = [param.name for param in kind.params]
    expected += [flag for other in table.TABLE if other.variant_of
                 for name, flag in [other.variant_of] if name == kind.name]
    if kind.rowwise:
        expected.append("axis")
    assert list(act.params) == expected
    assert act.kind == table.TABLE.index(kind)
    assert act.is_rowwise == kind.rowwise
    for param in kind.params:
        if param.default is not table.REQUIRED:
            assert act.params[param.name] == param.default
    for alias in kind.aliases:
        assert activations.get(alias, **_required_values(kind)) == act


def test_kernel_parameters_are_read_in_table_order():
    # spec.param[i] is the entry's i-th parameter; no bound reaches them as inf.
    relu = activations.get("relu", negative_slope=0.1, max_value=None, threshold=0.5)
    assert list(relu.spec_params) == [0.1, float("inf"), 0.5]
    threshold = activations.get("threshold", threshold=0.3, default_value=-2.0)
    assert list(threshold.spec_params) == [0.3, -2.0, 0.0]
