"""Render a plan: text for a terminal, JSON for machines, Markdown for a pull request.

The vocabulary the text and Markdown renderers share lives here (what each
action type is called, its terminal symbol, the order the summary counts them
in, how a plan's items group by customer), so that both say the same thing.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.plan import Action, ActionType, Blocked, Deferred, Plan

FORMATS = ("text", "json", "markdown")

NO_CHANGES = "No changes. Partner Center matches the desired state."
NOT_APPLIED = "This plan will not be applied: apply refuses it until these errors are fixed."
IRREVERSIBLE_LEAD = "Cannot be undone from the partner's side. Removing the relationship:"
EXPIRY_REASON = "an NCE cancellation window closes"


@dataclass(frozen=True)
class Verb:
    """How people read one action type."""

    symbol: str  # the Terraform-like marker in the terminal
    text: str  # what the action does, on its own line
    short: str  # its name in the summary counts


# In the order the summary counts them: what takes something away first.
VERBS: dict[ActionType, Verb] = {
    ActionType.SUSPEND: Verb("~", "suspend", "suspend"),
    ActionType.CANCEL: Verb("-", "cancel", "cancel"),
    ActionType.REMOVE_RELATIONSHIP: Verb("!!", "remove relationship", "remove"),
    ActionType.DISABLE_AUTO_RENEW: Verb("~", "auto-renew off", "auto-renew off"),
    ActionType.REACTIVATE: Verb("+", "reactivate", "reactivate"),
    ActionType.ENABLE_AUTO_RENEW: Verb("+", "auto-renew on", "auto-renew on"),
}


def verb_of(action_type: ActionType) -> Verb:
    # A type added to the plan later still renders, under its own name.
    return VERBS.get(action_type) or Verb("*", str(action_type), str(action_type))


@dataclass
class CustomerItems:
    """Everything a plan has for one customer, each list in plan order."""

    actions: list[Action] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)


def by_customer(plan: Plan) -> dict[str, CustomerItems]:
    """The plan's items grouped by customer, customers in `plan.customer_ids()` order."""
    groups = {cid: CustomerItems() for cid in plan.customer_ids()}
    for action in plan.actions:
        groups[action.customer_id].actions.append(action)
    for item in plan.deferred:
        groups[item.customer_id].deferred.append(item)
    for blocked in plan.blocked:
        groups[blocked.customer_id].blocked.append(blocked)
    return groups


def counts_by_type(actions: Iterable[Action]) -> list[tuple[Verb, int]]:
    """Non-zero counts per action type, in `VERBS` order (unknown types last)."""
    counts = Counter(a.type for a in actions)
    order = [*VERBS, *sorted(t for t in counts if t not in VERBS)]
    return [(verb_of(t), counts[t]) for t in order if counts[t]]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def removal_limit_message(plan: Plan) -> str:
    return (
        f"This plan removes {plan.removals} relationships, more than "
        f"max_removals_per_run ({plan.max_removals}): apply will refuse it."
    )


class TTYStream(Protocol):
    def isatty(self) -> bool: ...


def _set(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")


def use_color(stream: TTYStream) -> bool:
    """ANSI colour only on a terminal, never when NO_COLOR is set (no-color.org).

    FORCE_COLOR turns it on where output is not a TTY but is shown in colour
    anyway (CI logs); NO_COLOR wins over it, being the reader's own choice.
    """
    if os.environ.get("NO_COLOR"):
        return False
    if _set("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except ValueError:  # a closed stream is no terminal
        return False


def render(plan: Plan, fmt: str, *, color: bool = False) -> str:
    """The plan in one of FORMATS; `color` only affects text."""
    # Imported here: the renderers import the shared vocabulary from this module.
    from reconciler.render import json as json_format
    from reconciler.render import markdown, text

    if fmt == "text":
        return text.render(plan, color=color)
    if fmt == "json":
        return json_format.render(plan)
    if fmt == "markdown":
        return markdown.render(plan)
    raise ValueError(f"unknown plan format {fmt!r}; use one of: {', '.join(FORMATS)}")
