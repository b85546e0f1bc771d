"""Which declared kernel instantiations have executed on the emulator in this process."""

from ._module import executed

#: The label under which launches of a blasfast kernel family are counted.
FAMILY_LABEL = "family:{}"


def execution_report():
    """``{(family, name_expression): launches}`` for every instantiation blasfast declares.

    Counts launches on the emulator in this process since import (0: never ran here).
    """
    import blasfast  # noqa: F401  (importing the ops declares their kernel families)
    from ..kernels import _compile

    return {(fam.name, expr): executed.get((FAMILY_LABEL.format(fam.name), expr), 0)
            for fam in _compile.families().values() for expr in fam.name_expressions}
