"""The distributable: the sdist, the wheel built from it, and that wheel
installed into a fresh virtual environment, where it trains a network.

One module-scoped build serves every test (it is the slow part: Cython and
the C compiler on the three extension modules). The build runs
``python -m build --sdist`` on a clean copy of the checkout, then
``pip wheel`` on the sdist (so the wheel can only contain what the sdist
carries), both without build isolation: the build dependencies are the ones
this test environment already has (the ``test`` extra installs ``build``,
``setuptools`` and ``Cython``; numpy and scipy are fastnn's own dependencies).
It compiles with ``FASTNN_DEBUG=1`` (-O0, bounds checks): half the compile
time, and what is checked here is the packaging, not the optimiser (the rest
of the suite runs the release build).

The fresh environment is ``python -m venv --without-pip`` whose
``site-packages`` also sees this environment's packages through a ``.pth``
file (numpy and scipy are not reinstalled). The wheel is installed into it
by pip; the checks then run from an empty temporary directory and assert
that ``fastnn`` is the wheel's copy, not the checkout's nor one installed in
this environment.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# What a checkout may hold that is not source (see .gitignore).
_NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "*.so", "*.o", "*.c",
                                     "__pycache__", ".venv*", "results", ".benchmarks",
                                     ".pytest_cache", "*.npz", "_train.pyx")


def _run(args, cwd, env=None, timeout=900):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed ({done.returncode}):\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "FASTNN_DEBUG")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``(sdist path, wheel path, venv python)`` after building and installing."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    dist = root / "dist"
    _run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(dist),
          str(source)], cwd=root, env=_clean_env())
    sdist, = dist.glob("fastnn-*.tar.gz")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-cache-dir", "--wheel-dir", str(dist), str(sdist)], cwd=root,
         env=_clean_env(FASTNN_DEBUG="1"))
    wheel, = dist.glob("fastnn-*.whl")

    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                   cwd=root).stdout.strip()
    # This environment's packages after the venv's own (site appends .pth paths).
    Path(purelib, "_parent_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # --ignore-installed: the parent environment (seen through the .pth) may
    # hold an installed fastnn, which must not count as this one.
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "--no-compile", "--ignore-installed", str(wheel)], cwd=root,
         env=_clean_env())
    return sdist, wheel, python, Path(purelib)


def test_sdist_carries_the_sources_and_no_build_output(built):
    sdist, _, _, _ = built
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md",
                   "csrc/_blas.pyx", "csrc/_kernels.pyx", "csrc/_train.pyx.tp",
                   "csrc/blas.pxd", "csrc/kernels.pxd", "csrc/rng.pxd", "csrc/threads.pxd",
                   "fastnn/__init__.py", "fastnn/py.typed", "fastnn/onnx.py",
                   "tests/conftest.py"):
        assert needed in names, needed
    generated = [n for n in names if n.endswith((".c", ".so", ".o")) or n == "csrc/_train.pyx"]
    assert generated == []


def test_wheel_is_a_platform_wheel_with_the_compiled_core(built):
    _, wheel, _, _ = built
    tag = wheel.name[:-len(".whl")].split("-")[-3:]
    assert tag[0].startswith("cp") and tag[2] != "any", wheel.name
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        wheel_meta = zf.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
    for module in ("_blas", "_kernels", "_train"):
        assert any(n.startswith(f"fastnn/{module}.") and n.endswith(".so") for n in names), \
            module
    assert "fastnn/py.typed" in names
    assert "Root-Is-Purelib: false" in wheel_meta
    assert not any(n.startswith(("tests/", "csrc/")) for n in names)


def test_installed_wheel_trains_a_network(built, tmp_path):
    _, _, python, purelib = built
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        import fastnn, fastnn._train
        rng = np.random.default_rng(0)
        X = rng.standard_normal((400, 2)).astype(np.float32)
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)          # XOR of the signs
        model = fastnn.Sequential([fastnn.Dense(2, 16, "tanh"), fastnn.Dense(16, 2, "softmax")],
                                  seed=0)
        model.fit(X, y, epochs=60, batch_size=16, optimizer=fastnn.Adam(lr=0.01), verbose=0)
        print(json.dumps({"file": fastnn.__file__, "core": fastnn._train.__file__,
                          "version": fastnn.__version__,
                          "accuracy": model.evaluate(X, y)["accuracy"],
                          "path": sys.path}))
    """)
    done = _run([str(python), "-c", script], cwd=tmp_path, env=_clean_env())
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).resolve().parent == (purelib / "fastnn").resolve(), report
    assert Path(report["core"]).resolve().parent == (purelib / "fastnn").resolve()
    assert str(REPO) not in report["path"]
    assert report["version"] == _project_version()
    assert report["accuracy"] > 0.9, report


def test_console_script_and_typing_marker(built, tmp_path):
    _, _, python, purelib = built
    done = _run([str(python.parent / "fastnn"), "--version"], cwd=tmp_path, env=_clean_env())
    assert done.stdout.strip() == f"fastnn {_project_version()}"
    assert (purelib / "fastnn" / "py.typed").is_file()


def test_setup_py_fails_loudly_without_sources(tmp_path):
    shutil.copy(REPO / "setup.py", tmp_path)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    done = subprocess.run([sys.executable, "setup.py", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=_clean_env())
    assert done.returncode != 0
    assert "no csrc/_*.pyx found" in done.stderr


def _project_version():
    import re
    text = (REPO / "pyproject.toml").read_text()
    return re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE).group(1)


def test_version_of_a_checkout_is_marked_inplace():
    import fastnn
    # This suite runs from a checkout built in place, or from an installed
    # fastnn (then the metadata's version).
    assert fastnn.__version__ in (f"{_project_version()}+inplace", _project_version())
