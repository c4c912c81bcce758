"""The organization's notification contacts as pcr reads and changes them: the partner's
addresses only, each list sent back whole without that one address, and the privacy
contact cleared with its statement URL kept."""

from __future__ import annotations

from reconciler.live.tenant import ContactList
from reconciler.live.tenant import Contacts
from reconciler.live.tenant import partners_contacts

ORG = "0f0f0f0f-0000-4000-8000-000000000001"
CONTACTS = Contacts(
    ORG,
    technical=("ops@partner.example", "it@customer.example", "noc@partner.example"),
    security=("soc@Partner.Example",),
    privacy="privacy@partner.example",
    privacy_statement="https://customer.example/privacy",
)


def test_only_the_partners_addresses_are_its_own() -> None:
    assert partners_contacts(CONTACTS, ["partner.example"]) == [
        (ContactList.TECHNICAL, "ops@partner.example"),
        (ContactList.TECHNICAL, "noc@partner.example"),
        (ContactList.SECURITY, "soc@Partner.Example"),
        (ContactList.PRIVACY, "privacy@partner.example"),
    ]
    assert partners_contacts(CONTACTS, ["customer.example.partner"]) == []


def test_a_list_goes_back_whole_without_the_one_address() -> None:
    body = CONTACTS.without(ContactList.TECHNICAL, "OPS@partner.example")
    assert body == {"technicalNotificationMails": ["it@customer.example", "noc@partner.example"]}
    assert CONTACTS.without(ContactList.SECURITY, "soc@partner.example") == {
        "securityComplianceNotificationMails": []
    }


def test_the_privacy_contact_is_cleared_and_its_statement_kept() -> None:
    assert CONTACTS.without(ContactList.PRIVACY, "privacy@partner.example") == {
        "privacyProfile": {"contactEmail": "", "statementUrl": "https://customer.example/privacy"}
    }
    assert CONTACTS.holds(ContactList.PRIVACY, "PRIVACY@partner.example")
    assert not CONTACTS.holds(ContactList.SECURITY, "ops@partner.example")
