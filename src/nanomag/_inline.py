"""LLVM-level inlining for small numba helpers, without numba's ``inline="always"``.

``inline="always"`` inlines at the level of numba's IR: every call site deep-copies the
callee's IR and runs numba's untyped passes on it again, recursively through the callee's own
inlined helpers.  In the Langevin kernel that was 3 of its 5 s of compile time.  A helper that
calls :func:`always_inline` in its body is compiled once as an ordinary function instead, and
its LLVM function carries the ``alwaysinline`` attribute: LLVM inlines it into every caller
(also where its own cost model would not, e.g. helpers with many array arguments), so the
machine code of the hot loops is that of the numba-inlined version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from numba import njit
from numba.core import types
from numba.extending import intrinsic

F = TypeVar("F", bound=Callable[..., Any])


@intrinsic
def _always_inline(typingctx: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        builder.function.attributes.add("alwaysinline")
        return context.get_dummy_value()

    return types.none(), codegen


#: Call as the first statement of a numba function to mark it ``alwaysinline`` for LLVM.
always_inline = cast(Callable[[], None], _always_inline)


def inlined(func: F) -> F:
    """``njit(cache=True)`` for a helper that calls :func:`always_inline`, without reference counting.

    Without numba's reference counting (``_nrt=False``: the helper must not allocate arrays) the
    array arguments cost no atomic increments and decrements once the helper is inlined; with
    them the inlined exact-coefficient step of the Langevin kernel ran 1.6 times slower.
    """
    jit: Any = njit  # _nrt is not in numba's type stubs
    return cast(F, jit(cache=True, _nrt=False)(func))


def private_inlined(func: F) -> F:
    """:func:`inlined` for a helper called only from other kernels: no Python entry point either.

    Saves the wrapper that unboxes the arguments from Python objects (see :func:`internal`): calling
    such a helper from Python crashes the interpreter.
    """
    jit: Any = njit  # _nrt and no_cpython_wrapper are not in numba's type stubs
    return cast(F, jit(cache=True, _nrt=False, no_cpython_wrapper=True)(func))


def internal(**options: Any) -> Callable[[F], F]:
    """``njit(cache=True, **options)`` for a kernel called only from other kernels: no Python entry point.

    Numba then compiles no wrapper that unboxes the arguments from Python objects (~0.08 s of a
    cold start for a function of some twenty arguments).  Calling such a function from Python
    crashes the interpreter: keep it to private helpers that no Python code calls.
    """
    jit: Any = njit  # no_cpython_wrapper is not in numba's type stubs
    return cast(Callable[[F], F], jit(cache=True, no_cpython_wrapper=True, **options))
