"""Build the compiled core: every csrc/_*.pyx becomes a module of the fastnn package.

Cython directives live here, in one place. ``FASTNN_DEBUG=1`` at build time turns
bounds checks, wraparound and initialisation checks back on for a debug run.

A template ``csrc/X.pyx.tp`` (Tempita, which ships with Cython) is rendered to
``csrc/X.pyx`` first, whenever the template is newer; the rendered file is
generated (git-ignored), the template is the source.
"""

import os
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from Cython.Tempita import sub
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTNN_DEBUG", "0") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

# -fno-trapping-math and -fno-math-errno let the compiler vectorise the kernels'
# selects (sigmoid, clamps) and square roots: fastnn never reads floating-point
# exception flags or errno. NaN and inf still behave as IEEE says.
# -fopenmp-simd honours the `#pragma omp simd` loops of csrc/simd_kernels.h
# (no OpenMP runtime is linked). -ffp-contract=off forbids fusing a * b + c into
# one FMA: csrc/simd_kernels.h compiles its kernels for the baseline, AVX2 and
# AVX-512 (chosen at run time, never -march), and only without contraction do
# all of them round every operation the same way, so that results are bitwise
# identical whichever instruction set runs.
SIMD_ARGS = ["-fopenmp-simd", "-ffp-contract=off"]
# -pthread: csrc/team.h starts a helper thread (POSIX threads).
COMPILE_ARGS = ((["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math", "-fno-math-errno"])
                + SIMD_ARGS + ["-pthread"])



def render_templates(folder="csrc"):
    """Render every folder/*.tp next to itself, without the .tp suffix."""
    for template in sorted(Path(folder).glob("*.tp")):
        target = template.with_suffix("")
        if DEBUG or not target.exists() or target.stat().st_mtime < template.stat().st_mtime:
            text = sub(template.read_text(), name=template.name)
            header = f"# Generated from {template.name} by setup.py: edit the template.\n"
            target.write_text(header + text)


render_templates()

extensions = [
    Extension(
        f"fastnn.{path.stem}",
        [str(path)],
        include_dirs=[np.get_include(), "csrc"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=COMPILE_ARGS,
        extra_link_args=["-pthread"],
        # The C headers (simd_kernels.h includes simd_loops.h) are not seen by
        # Cython's dependency tracking: an edit to one must still recompile.
        depends=[str(h) for h in sorted(Path("csrc").glob("*.h"))],
    )
    for path in sorted(Path("csrc").glob("_*.pyx"))
]
if not extensions:
    raise SystemExit(f"setup.py: no csrc/_*.pyx found under {Path.cwd()}: the compiled core "
                     f"cannot be built (an sdist without its Cython sources?)")

# The directives are baked into the generated C, which cythonize only redoes
# for a changed source: remember the mode of the last build and redo all of it
# when the mode changes (a normal build after a debug one must lose the checks).
MODE_STAMP = Path("build") / "fastnn-build-mode"
mode = "debug" if DEBUG else "release"
last_mode = MODE_STAMP.read_text() if MODE_STAMP.exists() else None

modules = cythonize(extensions, include_path=["csrc"], compiler_directives=DIRECTIVES,
                    force=DEBUG or last_mode != mode)
MODE_STAMP.parent.mkdir(exist_ok=True)
MODE_STAMP.write_text(mode)

setup(ext_modules=modules)
