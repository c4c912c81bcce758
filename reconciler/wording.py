"""How pcr counts things in its sentences: "1 customer", "2 customers", never "1 customers"
nor "customer(s)". Its own module, with nothing behind it: the planner's reasons, the
renderers and the commands all count."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`count` and `noun`, in the plural (`many`, else noun + "s") unless it is one."""
    return f"{count} {noun}" if count == 1 else f"{count} {many or noun + 's'}"


def in_words(seconds: float) -> str:
    """A length of time as a sentence says it: "90 seconds", "15 minutes" (from two
    minutes on, rounded to the minute)."""
    if seconds < 120:
        return plural(round(seconds), "second")
    return plural(round(seconds / 60), "minute")


def named(name: str | None, identifier: str) -> str:
    """Something by its name and, for copying, its identifier: "Contoso Ltd (cfc52cfc-…)";
    the identifier alone when it has no name of its own."""
    return f"{name} ({identifier})" if name and name != identifier else identifier


def listed(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return " and ".join(filter(None, [", ".join(items[:-1]), *items[-1:]]))
