"""The installed package: where it comes from, what it needs, what it ships."""

import importlib
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

import fastnn
from conftest import python_command

KERNELS = ["runtime", "activations", "dense", "losses", "optimizers", "data", "plan", "epoch",
           "objective"]
# The kernels other modules cimport: their declarations ship, for Cython
# users building on them.
DECLARED = ["runtime", "activations", "dense", "losses", "optimizers", "data", "plan"]


def test_imported_from_the_installed_location():
    # CI sets this to the virtual environment it installed the wheel into, so
    # the tests provably run against the installed package, not the source tree.
    expected = os.environ.get("FASTNN_EXPECT_INSTALLED_IN")
    if not expected:
        pytest.skip("FASTNN_EXPECT_INSTALLED_IN not set (set by .ci/run)")
    location = Path(fastnn.__file__).resolve()
    assert Path(expected).resolve() in location.parents, location


@pytest.mark.parametrize("name", KERNELS)
def test_kernels_are_compiled_extensions(name):
    module = importlib.import_module(f"fastnn._kernels.{name}")
    assert Path(module.__file__).suffix in (".so", ".pyd"), module.__file__


def test_build_kind_is_the_expected_one():
    # CI's debug step sets FASTNN_EXPECT_DEBUG_BUILD=1: the suite then provably
    # runs with Cython's bounds checks on.
    from fastnn._kernels import runtime
    expected = os.environ.get("FASTNN_EXPECT_DEBUG_BUILD")
    if expected is None:
        pytest.skip("FASTNN_EXPECT_DEBUG_BUILD not set (set by .ci/run)")
    assert runtime.DEBUG_BUILD == (expected == "1")


def test_kernel_sources_ship_with_the_package():
    kernels_dir = Path(fastnn.__file__).parent / "_kernels"
    for name in DECLARED:
        assert (kernels_dir / f"{name}.pxd").exists()
    assert (kernels_dir / "runtime.h").exists()


def test_import_works_without_notebook_extras():
    # Make ipywidgets, matplotlib and skops (the persist extra) unimportable,
    # then import everything public.
    script = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("ipywidgets", "matplotlib", "skops"):
                    raise ImportError(f"{name} blocked for this test")
        sys.meta_path.insert(0, Block())
        import fastnn, fastnn.network, fastnn.activations, fastnn.optimizers
        import fastnn.__main__, fastnn.persistence
        assert not {"matplotlib", "ipywidgets", "skops"} & set(sys.modules)
        print("ok")
    """)
    argv, env = python_command("-c", script)
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert result.stdout.strip() == "ok", result.stderr


def test_version():
    # One source: the package metadata reads fastnn._version at build time.
    import importlib.metadata

    assert fastnn.__version__ == importlib.metadata.version("fastnn") == "0.1.0"
