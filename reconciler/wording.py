"""How pcr counts things in its sentences: "1 customer", "2 customers", never "1 customers"
nor "customer(s)". Its own module, with nothing behind it: the planner's reasons, the
renderers and the commands all count."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`count` and `noun`, in the plural (`many`, else noun + "s") unless it is one."""
    return f"{count} {noun}" if count == 1 else f"{count} {many or noun + 's'}"
