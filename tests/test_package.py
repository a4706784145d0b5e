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


def _shared_libraries(extension):
    """``ldd``'s ``name => path`` pairs of one compiled extension module."""
    result = subprocess.run(["/usr/bin/ldd", str(extension)], capture_output=True, text=True,
                            check=True)
    pairs = {}
    for line in result.stdout.splitlines():
        name, arrow, rest = line.strip().partition(" => ")
        if arrow:
            pairs[name] = rest.split(" (")[0]
    return pairs


def test_manylinux_wheel_vendors_its_openmp_runtime():
    # CI sets FASTNN_EXPECT_MANYLINUX=1 for the auditwheel-repaired wheel: its
    # tag is manylinux, every kernel that links libgomp links the copy the
    # wheel ships in fastnn.libs (never the system's), and none links a BLAS
    # (the kernels call scipy's through cython_blas at run time).
    if os.environ.get("FASTNN_EXPECT_MANYLINUX") != "1":
        pytest.skip("FASTNN_EXPECT_MANYLINUX not set (set by .ci/run)")
    import importlib.metadata

    # None for an in-place build or an egg: no wheel was installed.
    wheel = importlib.metadata.distribution("fastnn").read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines()
            if line.startswith("Tag:")]
    assert tags and all("manylinux" in tag for tag in tags), tags
    package = Path(fastnn.__file__).resolve().parent
    vendored = package.parent / "fastnn.libs"
    assert any(path.name.startswith("libgomp") for path in vendored.iterdir()), vendored
    openmp_users = 0
    for name in KERNELS:
        extension = Path(importlib.import_module(f"fastnn._kernels.{name}").__file__)
        libraries = _shared_libraries(extension)
        assert not [n for n in libraries if "blas" in n or "lapack" in n], libraries
        for library, path in libraries.items():
            if library.startswith("libgomp"):
                openmp_users += 1
                assert Path(path).resolve().parent == vendored.resolve(), (extension, path)
    assert openmp_users > 0
