"""Build script for fastnn's compiled kernels.

Metadata lives in ``pyproject.toml``; this file only describes the Cython
extensions. Every ``fastnn/**/*.pyx`` becomes one extension module. Templates
(``*.pyx.tp``, ``*.pxd.tp``) are rendered to ``.pyx`` and ``.pxd`` first with
Cython's bundled Tempita, given the activation kinds table
(``fastnn/_kernels/activation_kinds.py``).

Environment switches
--------------------
FASTNN_DEBUG=1
    Turn Cython's bounds, wraparound and initialisation checks back on and
    compile with ``-O0 -g``: the whole test suite runs once like that in CI so
    an out-of-bounds index cannot hide behind ``boundscheck=False``.
FASTNN_NO_OPENMP=1
    Build without OpenMP even when the compiler supports it.
FASTNN_NO_TARGET_CLONES=1
    Compile the vectorised activation loops for the baseline target only,
    without the AVX2/AVX-512 copies chosen at load time.
"""

import os
import runpy
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy
from Cython.Build import cythonize
from Cython.Tempita import Template
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
DEBUG = os.environ.get("FASTNN_DEBUG", "0") not in ("", "0")
# setuptools builds with MSVC on Windows: its options are spelt differently,
# and it always has OpenMP (2.0, all prange needs).
MSVC = sys.platform == "win32"


def template_namespace(package_dir):
    """The names every template sees: the public names of the kinds table.

    The table is read from its file: the package cannot be imported before
    its kernels are built.
    """
    table = runpy.run_path(str(package_dir / "_kernels" / "activation_kinds.py"))
    return {name: table[name] for name in table["__all__"]}


def render_templates(package_dir):
    """Render every ``*.pyx.tp`` and ``*.pxd.tp`` under ``package_dir``.

    The rendered file is rewritten only when its text changes, so an unchanged
    template does not force Cython to recompile.
    """
    namespace = template_namespace(package_dir)
    templates = [*package_dir.rglob("*.pyx.tp"), *package_dir.rglob("*.pxd.tp")]
    for template_path in sorted(templates):
        target = template_path.with_suffix("")
        text = Template(template_path.read_text(), name=str(template_path)).substitute(namespace)
        header = (
            f"# Generated from {template_path.name} by setup.py; edit the template.\n"
        )
        text = header + text
        if not target.exists() or target.read_text() != text:
            target.write_text(text)


def openmp_flags():
    """Return (compile, link) flags for OpenMP, or empty lists without it.

    The probe compiles and links a tiny OpenMP program with the compiler
    Python was built with; any failure means a serial build, never a failed
    one (``prange`` then compiles to an ordinary loop).
    """
    if os.environ.get("FASTNN_NO_OPENMP", "0") not in ("", "0"):
        return [], []
    if MSVC:
        return ["/openmp"], []
    compiler = (sysconfig.get_config_var("CC") or "cc").split()
    if shutil.which(compiler[0]) is None:
        return [], []
    flag = "-fopenmp"
    program = (
        "#include <omp.h>\n"
        "int main(void) { int n = 0;\n"
        "#pragma omp parallel reduction(+:n)\n"
        "n += 1; return n > 0 ? 0 : 1; }\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "probe.c")
        source.write_text(program)
        try:
            result = subprocess.run(
                [*compiler, flag, str(source), "-o", str(Path(tmp, "probe"))],
                capture_output=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            return [], []
    if result.returncode != 0:
        print("fastnn: OpenMP not available, building serial kernels", file=sys.stderr)
        return [], []
    return [flag], [flag]


def target_clones_flags():
    """Return the macros enabling function multi-versioning, or none.

    The vectorised activation loops (``fastnn/_kernels/activations_simd.h``)
    carry ``target_clones`` when ``FASTNN_HAVE_TARGET_CLONES`` is defined:
    gcc emits a baseline, an AVX2+FMA and an AVX-512 copy, and an ifunc
    resolver picks one on the running CPU, so the wheel still runs on any
    x86-64. The probe compiles, links and runs a program using exactly the
    header's attribute; compilers or platforms without it (clang on macOS,
    other architectures, no ifunc) get portable single-target loops.
    """
    if MSVC or os.environ.get("FASTNN_NO_TARGET_CLONES", "0") not in ("", "0"):
        return []
    compiler = (sysconfig.get_config_var("CC") or "cc").split()
    if shutil.which(compiler[0]) is None:
        return []
    program = (
        '#include "simd_math.h"\n'
        "FNN_CLONES static double twice(const double* x, long n) {\n"
        "    double s = 0; long i; for (i = 0; i < n; i++) s += fnn_exp_d(x[i]);\n"
        "    return s; }\n"
        "int main(void) { double x[3] = {0, 0, 0};\n"
        "    return twice(x, 3) == 3.0 ? 0 : 1; }\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "probe.c")
        source.write_text(program)
        binary = Path(tmp, "probe")
        try:
            result = subprocess.run(
                [*compiler, "-O2", "-DFASTNN_HAVE_TARGET_CLONES",
                 "-I", str(HERE / "fastnn" / "_kernels"), str(source),
                 "-o", str(binary), "-lm"],
                capture_output=True,
                timeout=60,
            )
            if result.returncode == 0:
                result = subprocess.run([str(binary)], capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return []
    if result.returncode != 0:
        print("fastnn: no target_clones, building single-target activation loops",
              file=sys.stderr)
        return []
    return [("FASTNN_HAVE_TARGET_CLONES", "1")]


def extensions():
    package_dir = HERE / "fastnn"
    render_templates(package_dir)
    omp_compile, omp_link = openmp_flags()
    clone_macros = target_clones_flags()
    if MSVC:
        optimisation = ["/Od", "/Zi"] if DEBUG else ["/O2"]
    elif DEBUG:
        optimisation = ["-O0", "-g"]
    else:
        # -fno-math-errno lets gcc vectorise sqrt (Adam's update) without
        # -ffast-math, which would break the activations' careful tails.
        optimisation = ["-O3", "-fno-math-errno"]
    modules = []
    for pyx in sorted(package_dir.rglob("*.pyx")):
        relative = pyx.relative_to(HERE).with_suffix("")
        name = ".".join(relative.parts)
        simd_macros, simd_flags = [], []
        if name == "fastnn._kernels.activations":
            # The vectorised activation loops (activations_simd.h): loop copies
            # per instruction set; fma contraction in the copies that have fma
            # (1.4-1.6x on the polynomials; see simd_math.h); and no FP traps
            # assumed, without which gcc will not if-convert a select whose
            # arms convert between float and double (results are unchanged:
            # same rounding, NaN and infinities; only trap flags may differ).
            simd_macros = clone_macros
            simd_flags = ["/fp:contract"] if MSVC else ["-ffp-contract=fast",
                                                         "-fno-trapping-math"]
        elif name == "fastnn._kernels.optimizers":
            # The update loops (update_loops.h): copies per instruction set,
            # and no fma contraction, so every copy rounds like the baseline.
            simd_macros = clone_macros
            # (MSVC's default /fp:precise does not contract.)
            simd_flags = [] if MSVC else ["-ffp-contract=off"]
        modules.append(
            Extension(
                name,
                [str(pyx.relative_to(HERE))],
                # The kernels' own directory, for their C headers (the debug
                # build writes its C files elsewhere).
                include_dirs=[numpy.get_include(), str(pyx.parent.relative_to(HERE))],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                               ("FASTNN_DEBUG_BUILD", "1" if DEBUG else "0")]
                + simd_macros,
                extra_compile_args=optimisation + omp_compile + simd_flags,
                extra_link_args=omp_link,
            )
        )
    directives = {
        "language_level": 3,
        "boundscheck": DEBUG,
        "wraparound": DEBUG,
        "initializedcheck": DEBUG,
        "cdivision": True,
        "embedsignature": True,
    }
    return cythonize(
        modules,
        compiler_directives=directives,
        # Separate build trees keep a debug build from reusing optimised C.
        build_dir="build/cython-debug" if DEBUG else None,
        quiet=True,
    )


setup(ext_modules=extensions())
