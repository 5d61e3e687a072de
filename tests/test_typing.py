"""Every public signature of fastnn is annotated, and its annotations resolve.

Checked: each class and function named in ``fastnn.__all__`` and in the
``__all__`` of the modules listed in ``MODULES``, and every public method of
those classes that the fastnn package defines (inherited ones included,
``__init__`` and ``__call__`` too; a property by its getter and setter):
``inspect.signature`` must show an annotation on every parameter except
self/cls/*args/**kwargs, and a return annotation (``__init__`` may omit it).
``typing.get_type_hints`` must then resolve every annotation.

The annotations are strings (``from __future__ import annotations``) and the
names used only in them are imported under ``if TYPE_CHECKING:`` (no import
cost, no import cycles), which a plain ``get_type_hints`` cannot see. They are
resolved here in each module's *typing namespace*: its globals plus what its
module-level ``TYPE_CHECKING`` blocks bind, run by this test. Names imported
there from slow optional third-party packages (``STAND_INS``: scipy.optimize
alone takes 0.4 s to import, mpi4py 1 s) are bound to stand-in classes rather
than imported, so for them the check is that the annotation names something
the module imports, not that the package defines it.
"""

import ast
import importlib
import importlib.util
import inspect
import sys
import typing

import pytest

import fastnn

#: Modules whose ``__all__`` is checked besides ``fastnn.__all__``.
MODULES = ("fastnn.sequential", "fastnn.optimizers", "fastnn.solvers", "fastnn.callbacks",
           "fastnn.diagnostics", "fastnn.checkpoints", "fastnn.data", "fastnn.initializers",
           "fastnn.layers", "fastnn.tensor", "fastnn.autograd", "fastnn.model")

#: Top-level packages whose names a TYPE_CHECKING block may import and that
#: this test does not import (see the module docstring).
STAND_INS = ("scipy", "matplotlib", "mpi4py")

#: Classes whose methods are not checked, and why: a method is skipped when
#: the class that defines it is listed here (subclasses' own methods are
#: checked). test_the_allow_list_is_needed fails when an entry is no longer needed.
ALLOWED = {
    "fastnn._kernels.Rng": "a Cython cdef class (csrc/_kernels.pyx): compiled methods carry "
                           "no annotations; csrc/ is not edited here",
    "fastnn._train.DataSet": "a Cython cdef class (csrc/_train.pyx.tp), as Rng",
}

_EMPTY = inspect.Parameter.empty
_UNCHECKED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


# ------------------------------------------------------------- discovery ---

def _in_fastnn(obj):
    module = getattr(obj, "__module__", None) or ""
    return module == "fastnn" or module.startswith("fastnn.")


def _public_names():
    """(qualified name, object) of every public class and function checked."""
    found = {}
    modules = [fastnn] + [importlib.import_module(name) for name in MODULES]
    for module in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            if (inspect.isclass(obj) or callable(obj)) and _in_fastnn(obj):
                found.setdefault(id(obj), (f"{module.__name__}.{name}", obj))
    return sorted(found.values(), key=lambda entry: entry[0])


def _owner_name(klass):
    return f"{klass.__module__}.{klass.__qualname__}"


def _members(cls):
    """(name, function, is __init__, defining class) of the public methods
    fastnn defines on ``cls`` or its bases, the most derived definition of
    each name."""
    seen = set()
    for klass in cls.__mro__:
        if not _in_fastnn(klass):
            continue                      # object, Exception, ...: not fastnn's API
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("_") and name not in ("__init__", "__call__"):
                continue
            if isinstance(value, (staticmethod, classmethod)):
                yield name, value.__func__, False, klass
            elif isinstance(value, property):
                for part, func in (("getter", value.fget), ("setter", value.fset)):
                    if func is not None:
                        yield f"{name} ({part})", func, False, klass
            elif callable(value) and not inspect.isclass(value):
                yield name, value, name == "__init__", klass


def _callables():
    """(label, function, is __init__, defining class name or None) of everything checked."""
    out = []
    for qualname, obj in _public_names():
        if inspect.isclass(obj):
            out.extend((f"{qualname}.{member}", func, is_init, _owner_name(owner))
                       for member, func, is_init, owner in _members(obj))
        else:
            out.append((qualname, obj, False, None))
    return out


# -------------------------------------------------------------- checks ---

def _missing(func, is_init=False):
    """What ``func``'s signature lacks: unannotated parameter names, and
    "return" when it has no return annotation (not required of __init__)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        return [f"no signature ({exc})"]
    missing = [p.name for p in signature.parameters.values()
               if p.name not in ("self", "cls") and p.kind not in _UNCHECKED_KINDS
               and p.annotation is _EMPTY]
    if signature.return_annotation is _EMPTY and not is_init:
        missing.append("return")
    return missing


def _is_type_checking(test):
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _stand_in(name, module):
    return type(name, (), {"__module__": module, "__qualname__": name})


_NAMESPACES = {}


def typing_namespace(module_name):
    """The globals of ``module_name`` plus the names its module-level
    ``if TYPE_CHECKING:`` blocks bind (imports, type aliases)."""
    if module_name in _NAMESPACES:
        return _NAMESPACES[module_name]
    module = importlib.import_module(module_name)
    # Registered before its blocks run: a cycle of TYPE_CHECKING imports sees
    # the namespace as it is so far, as Python's import system would.
    ns = _NAMESPACES[module_name] = dict(vars(module))
    # The type aliases' own annotations (``X: TypeAlias = ...``) go to a copy.
    ns["__annotations__"] = dict(ns.get("__annotations__", {}))
    if not module.__file__.endswith(".py"):
        return ns                         # a compiled extension: no TYPE_CHECKING blocks
    try:
        tree = ast.parse(inspect.getsource(module), filename=module.__file__)
        package = module.__package__ or module_name.rpartition(".")[0]
        for node in tree.body:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                for statement in node.body:
                    _bind(statement, ns, package, module.__file__)
    except BaseException:
        del _NAMESPACES[module_name]      # no half-built namespace for the next caller
        raise
    return ns


def _bind(statement, ns, package, filename):
    if isinstance(statement, ast.ImportFrom):
        base = importlib.util.resolve_name("." * statement.level + (statement.module or ""),
                                           package)
        top = base.partition(".")[0]
        for alias in statement.names:
            target = alias.asname or alias.name
            if top in STAND_INS:
                ns[target] = _stand_in(alias.name, base)
            elif top == "fastnn":
                ns[target] = typing_namespace(base)[alias.name]
            else:
                ns[target] = getattr(importlib.import_module(base), alias.name)
    elif isinstance(statement, ast.Import):
        for alias in statement.names:
            top = alias.name.partition(".")[0]
            if top in STAND_INS:
                ns[alias.asname or top] = _stand_in(alias.asname or top, alias.name)
            elif alias.asname:
                ns[alias.asname] = importlib.import_module(alias.name)
            else:
                importlib.import_module(alias.name)
                ns[top] = sys.modules[top]
    else:                                  # a type alias, or anything else: run it
        exec(compile(ast.Module([statement], type_ignores=[]), filename, "exec"), ns)


def _unresolved(func):
    """The error of ``get_type_hints(func)`` in its module's typing namespace, or None."""
    if not inspect.isfunction(inspect.unwrap(func)):
        return f"not a Python function ({type(func).__name__})"
    try:
        typing.get_type_hints(func, globalns=typing_namespace(func.__module__))
    except Exception as exc:               # NameError, SyntaxError, TypeError, ...
        return f"{type(exc).__name__}: {exc}"
    return None


# --------------------------------------------------------------- tests ---

def test_every_public_signature_is_annotated():
    problems = [f"{label}: {', '.join(missing)}"
                for label, func, is_init, owner in _callables()
                if owner not in ALLOWED and (missing := _missing(func, is_init))]
    assert not problems, "missing annotations:\n" + "\n".join(problems)


def test_every_annotation_resolves():
    problems = [f"{label}: {error}" for label, func, _, owner in _callables()
                if owner not in ALLOWED and (error := _unresolved(func))]
    assert not problems, "annotations that do not resolve:\n" + "\n".join(problems)


def test_the_allow_list_is_needed():
    """Each allowed class is reached by the checks and really fails them."""
    results = {owner: [] for owner in ALLOWED}
    for _, func, is_init, owner in _callables():
        if owner in results:
            results[owner].append(_missing(func, is_init) or _unresolved(func))
    for owner, found in results.items():
        assert found, f"{owner} is in ALLOWED but no public name reaches it: drop it"
        assert any(found), f"{owner} is in ALLOWED but passes the checks: drop it"


def test_the_checks_can_fail():
    def bare(x, y: int = 0, *args, **kwargs):
        pass

    def annotated(x: int, *args, **kwargs) -> None:
        pass

    def typo(x: "Tensr") -> None:      # noqa: F821 (the point of the test)
        pass

    class Probe:
        def __init__(self, a):
            pass

        @property
        def size(self):
            return 0

    assert _missing(bare) == ["x", "return"]
    assert _missing(annotated) == []
    assert _missing(Probe.__init__, is_init=True) == ["a"]
    assert _missing(Probe.size.fget) == ["return"]
    assert _unresolved(annotated) is None
    assert "NameError" in _unresolved(typo)


@pytest.mark.parametrize("module, alias, values", [
    ("fastnn.losses", "LossName", lambda m: tuple(m.LOSSES)),
    ("fastnn.optimizers", "ScheduleName", lambda m: tuple(m.SCHEDULES)),
    ("fastnn.optimizers", "WeightDecayPer", lambda m: m.WEIGHT_DECAY_PER),
])
def test_literal_aliases_list_the_accepted_names(module, alias, values):
    """The Literal types of the string options name exactly what is accepted."""
    literal = typing_namespace(module)[alias]
    assert typing.get_args(literal) == values(importlib.import_module(module))
