"""Partner Center's refusals: the classic error body, and the codes the fake answers with.

The codes follow Microsoft's error-codes page as docs/partner-center.md ("Error codes")
lists them; where the real service's code for a case is not documented, the choice is
marked as a guess.
"""

from __future__ import annotations

from typing import Any

# Documented codes (docs/partner-center.md, "Error codes"); 900117 is documented for
# software purchases, and only a candidate for a new-commerce cancellation.
CODE_WINDOW_PASSED = 900117  # 400: the 7-day cancellation window has passed
CODE_DELETED = 2011  # 400: a deleted subscription can't be updated
CODE_SUSPENDED = 800091  # 400: a suspended subscription can't be updated
CODE_NOT_SOFTWARE = 800063  # 400: not cancellable through the order; use a subscription PATCH
# Microsoft lists 3000 as "Invalid property"; no code is documented for a customer that
# is no longer the partner's, so the fake's 404 with 3000 for it is a guess.
CODE_NO_RELATIONSHIP = 3000
CODE_PENDING_OPERATION = 900278  # 409: another operation is pending on the resource
# Documented codes for Azure plans, savings plans and SaaS (docs/partner-center.md,
# "Error codes").
CODE_MISSING_BODY = 800002  # 400: the request id or body is missing
CODE_BAD_CANCEL_REASON = 900307  # 400: not a valid cancellationReason
CODE_AZURE_ENTITLEMENT_NOT_FOUND = 800111  # 404
CODE_CANNOT_REACTIVATE = 900337  # 400: the Azure entitlement can't be reactivated
CODE_USAGE_ASSETS_ACTIVE = 900115  # 403: the Azure plan still has active usage assets
CODE_SAVINGS_PLAN_FINAL = 900321  # 400: savings plans are managed in the Azure portal
CODE_SAAS_WINDOW_PASSED = 900213  # 400: the hour-based SaaS cancellation window has passed
CODE_SAAS_CANCEL_ONLY = 800077  # 403: seat-based SaaS is cancelled with a subscription PATCH
# Guesses: the real service's code for these cases is not documented.
# 400: "can't update status": a candidate (docs/partner-center.md, "Error codes").
CODE_STATUS_NOT_UPDATABLE = 800096
CODE_INVALID_REQUEST = 800061  # 400: malformed or unsupported request body
CODE_NOT_FOUND = 600008  # 404: unknown customer, subscription or order
# No code is documented for a refused relationship removal; 3001 sits next to 3000, which
# Microsoft lists as "Invalid property". A guess.
CODE_RELATIONSHIP_BLOCKED = 3001
# No code is documented for cancelling or suspending a base with live add-ons (whether the
# service refuses it at all is unconfirmed). 900219/900221 mean "migration blocked by
# add-ons" and 800029 "add-on not related to parent"; 900220 sits between the first two.
# A guess.
CODE_ADDONS_LIVE = 900220

MAX_DESCRIPTION = 1024  # the service caps error descriptions at this length


class FakeApiError(Exception):
    """A refusal, in the classic Partner Center error body."""

    def __init__(self, status: int, code: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description[:MAX_DESCRIPTION]

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "description": self.description,
            "data": [],
            "source": "PartnerFD",
        }
