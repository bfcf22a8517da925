"""schemathesis hooks for the API fuzz test (test/api.fuzz.test.ts).

A 400 for a schema-valid request fails the run (ST202) unless the operation's document names
that error code under `x-rules` on its 400 answer: the rules JSON Schema cannot state, such as
a currency pair with no exchange rate or a bank file's grammar. Clients read the same list.
schemathesis counts what this drops in its summary.
"""
import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    rules = case.operation.definition.raw.get("responses", {}).get("400", {}).get("x-rules", {})
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return True
    return code not in rules
