"""Schemathesis hooks for Vigil's API tests (loaded by `tests/tests/schemathesis.rs`).

The OpenAPI document states every rule a single request must follow, and schemathesis
checks that the server keeps to it: what the document declares valid is never `400`,
what it declares invalid is never accepted. Some `400`s depend on what is stored or on
how two fields go together, which no schema of one request can say; this module lists
those refusals by their message, so `positive_data_acceptance` ignores exactly them and
nothing else. Each entry says why it cannot be a schema rule.
"""

import schemathesis
from schemathesis.specs.openapi.checks import (
    ensure_resource_availability,
    negative_data_rejection,
    positive_data_acceptance,
)

# 400s that depend on stored state: the request is well formed, the data it names is
# not what the server holds.
STATE = (
    # A cursor is opaque and signed: only one the list issued is accepted.
    "is not a cursor this list issued",
    # What a request names (a zone, role, site, sensor, endpoint...) must exist here.
    "no such ",
    "there is no ",
    "no sensor ",
    # Only a published release can be installed.
    "is not a published sensor software version",
    # An assignee must be one who may view the alert's site.
    "may not view alerts at site",
    # A close reason must be one of the subscription's list, which requests replace.
    "is not a close reason here",
    # A role's permissions are stored: one with only subscription-wide ones grants
    # nothing at a site.
    "grants only subscription-wide permissions",
    # Devices merge only within one site, and where each is is stored.
    "the devices are at different sites",
    # Whether an email is an API token's principal is stored (stateful runs reuse a
    # created token's): it gets its one role when it is created, never another.
    "names an API token",
    # A sensor's type is stored: only OT sensors recover a console password.
    "are recovered for OT sensors only",
    # A webhook's host must resolve, and not to the host's own network unless the
    # operator allows it.
    "does not resolve",
    "an address of the host's own network",
    # Instants are checked against the server's clock.
    "must be in the future",
    "days ahead",
)

# 400s of two fields that must go together: JSON Schema can state them only with
# conditionals that request generators do not follow.
ACROSS_FIELDS = (
    # A plan's commitment decides whether committed_devices is given, and its value.
    "for a monthly or annual commitment",
    "for a trial",
    # A sensor's type decides whether it has a site and zone.
    "is required for OT sensors",
    "must be omitted for Enterprise IoT sensors",
    # A merge keeps one of the devices it names.
    "survivor_id: must be one of device_ids",
    # escalate_after_minutes goes with alert.unacknowledged, and only with it.
    "applies only with alert.unacknowledged",
    "is required with alert.unacknowledged",
    # A reason goes with closing.
    "only closing an alert takes a reason",
    # A scope is the subscription, a site or a device group, never two.
    "site_id and device_group_id cannot both be set",
    # A rule matching everything would close every alert: one field, any field.
    "name at least one field",
    # Close reasons are objects; uniqueItems would compare them whole, not by id.
    "is listed twice",
)

# JSON Schema counts 5.0 as an integer; the server reads integers as clients write
# them, without a fraction.
NUMBERS = ("invalid type: floating point",)


def _message(response):
    try:
        return response.json()["error"]["message"]
    except Exception:  # noqa: BLE001 - not the contract's error body: not ours to excuse
        return ""


@schemathesis.check
def positive_data_acceptance_but_state(ctx, response, case):
    """`positive_data_acceptance`, but for the refusals listed above."""
    if response.status_code == 400:
        message = _message(response)
        if any(reason in message for reason in STATE + ACROSS_FIELDS + NUMBERS):
            return None
    return positive_data_acceptance(ctx, response, case)


@schemathesis.check
def negative_data_rejection_but_extra_query(ctx, response, case):
    """`negative_data_rejection`, but for unknown query parameters alone.

    Vigil ignores query parameters it does not know (proxies and caches add their own),
    which schemathesis means to allow too: it skips such cases, but not when a
    generated parameter has an empty name (`?=x`)."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AssertionError as failure:
        if "in query - violates `additionalProperties`" in getattr(failure, "message", ""):
            return None
        raise


# 404s of a sub-resource that exists only once something was sent to it, which links
# from the operation that created its parent reach first.
NOT_YET = (
    # A sensor's diagnostics archive exists once it was uploaded.
    "no diagnostics were sent for this sensor",
)


@schemathesis.check
def ensure_resource_availability_but_not_yet(ctx, response, case):
    """`ensure_resource_availability`, but for the sub-resources listed above."""
    if response.status_code == 404 and any(
        reason in _message(response) for reason in NOT_YET
    ):
        return None
    return ensure_resource_availability(ctx, response, case)
