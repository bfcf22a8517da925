"""schemathesis hooks for the API fuzz test (test/api.fuzz.test.ts).

A 400 for a schema-valid request fails the run (ST202) unless the operation's document names
that error code under `x-rules` on its 400 answer: the rules JSON Schema cannot state, such as
a currency pair with no exchange rate or a bank file's grammar. Clients read the same list.
A 402 `payment_error` where the operation documents 402 is a decline (a risk rule the run set
may block the payment): an answer to valid input, not a refusal of it.
schemathesis counts what this drops in its summary.
"""
import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if not isinstance(failure, RejectedPositiveData) or response.status_code not in (400, 402):
        return True
    responses = case.operation.definition.raw.get("responses", {})
    try:
        error = response.json()["error"]
        code, kind = error["code"], error["type"]
    except (ValueError, KeyError, TypeError):
        return True
    if response.status_code == 402:
        return not ("402" in responses and kind == "payment_error")
    return code not in responses.get("400", {}).get("x-rules", {})
