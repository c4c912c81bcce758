"""Importing: the desired state as Partner Center has it now, as customer files.

One customer file per reseller customer, each declaring the customer and its
subscriptions exactly as they are, so that right after an import `pcr
validate` is clean and `pcr plan` has nothing to do: a starting point that
people then edit. Values are written by PyYAML's emitter, so any company name
(quotes, colons, `#`, non-ASCII, control characters as YAML escapes) reads back
as it was; what the schema cannot hold (a pending subscription, an id that is no
GUID) becomes a comment. Text from Partner Center goes into a comment on one
line, with every character a comment cannot show (a control character, a lone
surrogate, a bidirectional override) as a visible escape such as `\x1b`; a
company name that YAML cannot hold at all (a lone surrogate) is left out, with a
comment that says why.

Pure: builds file names and contents from the live model; `pcr import`
(`commands/import_state.py`) reads Partner Center and writes the files.
"""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from reconciler.desired.load import schema_path
from reconciler.desired.marked_yaml import LoadError
from reconciler.desired.marked_yaml import load_yaml
from reconciler.live.lifecycle import term_end_day
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.models import Subscription
from reconciler.printable import escape_hidden

CUSTOMER_MODELINE = "# yaml-language-server: $schema=../../schemas/customer.schema.json"
PARTNER_MODELINE = "# yaml-language-server: $schema=../schemas/partner.schema.json"
# Partner Center statuses a file can declare, by the name the schema gives them.
DECLARABLE = {"active": "active", "suspended": "suspended", "deleted": "cancelled"}
MAX_STEM = 60
_STR = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class CustomerFile:
    tenant_id: str
    name: str  # the file name under customers/
    text: str


# --- what the schema accepts ----------------------------------------------------------------


@cache
def _customer_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_path("customer").read_text(encoding="utf-8"))
    return schema


def _matches(pattern_owner: dict[str, Any], text: str) -> bool:
    # The whole text: `$` alone would also match before a final newline.
    return re.fullmatch(pattern_owner["pattern"], text) is not None


def is_guid(text: str) -> bool:
    return _matches(_customer_schema()["$defs"]["guid"], text)


def is_domain(text: str) -> bool:
    return _matches(_customer_schema()["properties"]["domain"], text)


# --- file names -----------------------------------------------------------------------------


def file_stem(company: str, tenant_id: str) -> str:
    """A safe file name from a company name: lowercase ASCII letters, digits and hyphens."""
    ascii_name = unicodedata.normalize("NFKD", company).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_STEM].rstrip("-")
    return stem or f"customer-{tenant_id[:8].lower()}"


def file_names(customers: Iterable[Customer]) -> dict[str, str]:
    """A unique `<stem>.yaml` per tenant id; on a clash the later tenant ids get -2, -3, ..."""
    taken: set[str] = set()
    names: dict[str, str] = {}
    # Sorted so that the same estate always gets the same names.
    for customer in sorted(customers, key=lambda c: (file_stem(c.name, c.id), c.id.lower())):
        stem = candidate = file_stem(customer.name, customer.id)
        number = 1
        while candidate in taken:
            number += 1
            candidate = f"{stem}-{number}"
        taken.add(candidate)
        names[customer.id.lower()] = f"{candidate}.yaml"
    return names


# --- file contents --------------------------------------------------------------------------


ESCAPES_NOTE = (
    "# \\x1b, \\ud800 and the like in the comments below stand for characters from Partner\n"
    "# Center that a comment cannot show (control characters, lone surrogates); \\\\ is a \\."
)


def printable(text: str) -> str:
    """Text from Partner Center as one visible line, for a comment or a terminal.

    Every control character, lone surrogate and bidirectional override becomes an
    escape (`\\x1b`, `\\ud800`), and then, so that those read one way, every backslash
    `\\\\`; text with none of them only has its whitespace collapsed.
    """
    return _one_line(escape_hidden(text))


def _one_line(text: str) -> str:
    # str.split() also splits at U+2028, U+2029 and the other line breaks YAML knows.
    return " ".join(text.split())


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _dump(data: Any) -> str:
    # A very wide line: a long company name stays one scalar on one line.
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1_000_000)


class _Shown:
    """`printable` for the comments of one file, remembering whether it escaped anything."""

    def __init__(self) -> None:
        self.escaped = False

    def __call__(self, text: str) -> str:
        shown = printable(text)
        self.escaped = self.escaped or shown != _one_line(text)
        return shown


def _subscription_comment(sub: Subscription, shown: _Shown) -> str:
    facts = [f"{shown(sub.offer_name or sub.offer_id)} ({sub.kind.value})"]
    if sub.quantity:
        facts.append(f"quantity {sub.quantity}")
    if (last_day := term_end_day(sub)) is not None:
        facts.append(f"term ends {last_day.isoformat()}")
    elif sub.open_ended:
        facts.append("no end date")
    return "# " + ", ".join(facts)


def _subscription_entry(sub: Subscription) -> dict[str, Any] | None:
    """The override that keeps this subscription as it is, or None if none can be written."""
    status = DECLARABLE.get(sub.status.value)
    if status is None or not is_guid(sub.id):
        return None
    entry: dict[str, Any] = {"id": sub.id.lower(), "status": status}
    if status != "cancelled":  # a cancelled subscription does not renew (the schema's rule)
        entry["auto_renew"] = sub.auto_renew
    return entry


def _subscriptions_block(subscriptions: Iterable[Subscription], shown: _Shown) -> list[str]:
    declared: list[str] = []
    left_out: list[str] = []
    for sub in sorted(subscriptions, key=lambda s: (s.offer_name, s.id)):
        entry = _subscription_entry(sub)
        if entry is None:
            why = f"status {sub.status.value}" if is_guid(sub.id) else "its id is not a GUID"
            what = shown(f"{sub.id} {sub.offer_name or sub.offer_id}")
            left_out.append(f"#   {what}: not declared ({why})")
            continue
        declared += [
            "  " + _subscription_comment(sub, shown),
            textwrap.indent(_dump([entry]), "  ").rstrip("\n"),
        ]
    lines = []
    if left_out:
        lines += ["# Subscriptions a file cannot declare, left alone by pcr:", *left_out]
    if declared:
        lines += ["subscriptions:", *declared]
    return lines


def customer_yaml(customer: Customer, detail: CustomerDetail) -> str:
    """The customer file that declares this customer exactly as Partner Center has it."""
    shown = _Shown()
    lines = [
        _dump({"tenant_id": customer.id.lower()}).rstrip("\n"),
        *_name_lines(customer.name, shown),
        *_domain_lines(customer.domain, shown),
        "relationship: reseller",
        *_subscriptions_block(detail.subscriptions, shown),
    ]
    header = [
        CUSTOMER_MODELINE,
        "# Imported from Partner Center by `pcr import`. Every subscription listed is kept as it",
        "# is now: remove the entries pcr should leave alone; change one to change it.",
    ]
    if shown.escaped:
        header.append(ESCAPES_NOTE)
    return "\n".join(header + lines) + "\n"


def _name_lines(name: str, shown: _Shown) -> list[str]:
    """`name`, exactly as Partner Center has it, or a comment when YAML cannot hold it.

    Control characters are written as YAML escapes ("\\0", "\\e"); a lone surrogate
    has no escape that YAML readers accept, so such a name is left out: pcr takes the
    name from Partner Center, and one declared in the file is only compared with it.
    """
    if not name:
        return []
    line = _dump({"name": name}).rstrip("\n")
    if name.isascii() and name.isprintable():
        return [line]
    # PyYAML may pick a style that libyaml reads otherwise (a NEL in single quotes becomes
    # a line break); double quotes escape every such character.
    for candidate in (line, _double_quoted("name", name)):
        if _reads_back(candidate, name):
            return [candidate]
    why = (
        "has a lone surrogate, which YAML cannot hold"
        if _has_surrogate(name)
        else "does not read back the same from YAML"
    )
    return [
        f"# name: left out: Partner Center's company name {why}. Escaped, it reads:",
        f"# {shown(name)}",
        "# (pcr takes the name from Partner Center; a name declared here is only compared.)",
    ]


def _double_quoted(key: str, value: str) -> str:
    node = yaml.MappingNode(
        "tag:yaml.org,2002:map",
        [(yaml.ScalarNode(_STR, key), yaml.ScalarNode(_STR, value, style='"'))],
    )
    text = yaml.serialize(node, Dumper=yaml.SafeDumper, allow_unicode=True, width=1_000_000)
    return text.rstrip("\n")


def _reads_back(line: str, name: str) -> bool:
    if _has_surrogate(name):
        return False
    try:
        data = load_yaml(line, "name")
    except LoadError:
        return False
    return isinstance(data, dict) and data.get("name") == name


def _domain_lines(domain: str, shown: _Shown) -> list[str]:
    """`domain`, the second key that offboarding needs (policy.require_domain_for_removal).

    Written whenever Partner Center gives one a file can hold (case and a final dot
    do not matter to DNS); otherwise a comment says what to add before offboarding.
    """
    normal = domain.strip().rstrip(".").lower()
    if is_domain(normal):
        return [_dump({"domain": normal}).rstrip("\n")]
    what = (
        f"not a valid domain name: {shown(domain)}"
        if domain.strip()
        else "Partner Center reports none"
    )
    return [
        f"# domain: {what}. Declare the customer's domain here before offboarding it",
        "# (relationship: none needs it, as a second key beside tenant_id).",
    ]


def customer_files(
    customers: Iterable[Customer], details: dict[str, CustomerDetail]
) -> list[CustomerFile]:
    chosen = list(customers)
    names = file_names(chosen)
    return [
        CustomerFile(
            c.id.lower(),
            names[c.id.lower()],
            customer_yaml(c, details.get(c.id.lower(), CustomerDetail())),
        )
        for c in sorted(chosen, key=lambda c: names[c.id.lower()])
    ]


def importable(customers: Iterable[Customer]) -> tuple[list[Customer], list[str]]:
    """Reseller customers a file can declare, and a note for every other one."""
    chosen, notes = [], []
    for customer in customers:
        if customer.relationship != "reseller":
            relationship = printable(customer.relationship)
            notes.append(f"{describe(customer)}: relationship {relationship}")
        elif not is_guid(customer.id):
            notes.append(f"{describe(customer)}: the customer id is not a GUID")
        else:
            chosen.append(customer)
    return chosen, notes


def describe(customer: Customer) -> str:
    """`id (name)` for a terminal line: Partner Center's text, with nothing hidden in it."""
    return f"{printable(customer.id)} ({printable(customer.name)})"
