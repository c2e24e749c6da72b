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

from numba.core import types
from numba.extending import intrinsic


@intrinsic
def always_inline(typingctx):  # type: ignore[no-untyped-def]
    """Mark the numba function that calls this (as a statement) ``alwaysinline`` for LLVM."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        builder.function.attributes.add("alwaysinline")
        return context.get_dummy_value()

    return types.none(), codegen
