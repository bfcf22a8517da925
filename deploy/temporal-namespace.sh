#!/bin/sh
# Registers the namespace (with its retention) and the search attributes the workflows set, on a
# running Temporal server. Idempotent: safe to re-run on every deploy; a changed retention is applied.
#
# docker-compose.yml runs it in temporalio/admin-tools once the server is healthy;
# `npm run temporal:server` runs the same file with the Temporal CLI it built.
set -eu
: "${TEMPORAL_ADDRESS:?host:port of the frontend}"
ns="${TEMPORAL_NAMESPACE:-default}"
# How long closed workflows stay inspectable in the UI (e.g. yesterday's payments): 30 days by default.
retention="${TEMPORAL_RETENTION:-720h}"
# Kept equal to PAYMENT_SEARCH_ATTRIBUTES in workflows/search-attributes.ts (test/deploy.test.ts checks).
attrs="PaymentStatus=Keyword MerchantId=Keyword Livemode=Bool RequiresAttention=Bool Provider=Keyword PaymentMethod=Keyword Currency=Keyword AmountMinor=Int CustomerId=Keyword SubscriptionId=Keyword SubscriptionStatus=Keyword"

wait_for() { # description, command...
  what="$1"; shift; n=0
  until "$@" >/dev/null 2>&1; do
    n=$((n + 1))
    if [ "$n" -ge 90 ]; then echo "gave up waiting for $what" >&2; exit 1; fi
    sleep 2
  done
  echo "$what: ok"
}
wait_for "Temporal frontend at $TEMPORAL_ADDRESS" temporal operator cluster health

if temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
  temporal operator namespace update --namespace "$ns" --retention "$retention" >/dev/null
  echo "namespace $ns: exists, retention $retention"
else
  temporal operator namespace create --namespace "$ns" --retention "$retention" >/dev/null
  echo "namespace $ns: created, retention $retention"
fi
wait_for "namespace $ns" temporal operator search-attribute list --namespace "$ns"

created=0
for spec in $attrs; do
  name="${spec%%=*}"; type="${spec#*=}"; n=0
  while :; do
    if out="$(temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type" 2>&1)"; then
      echo "$name ($type): created"; created=1; break
    fi
    case "$out" in
      *"different type"*) echo "$out" >&2; exit 1 ;;
      *"already exists"*|*"already exist"*) echo "$name ($type): already exists"; break ;;
    esac
    n=$((n + 1))
    if [ "$n" -ge 10 ]; then echo "$out" >&2; exit 1; fi
    echo "$name: retrying ($out)"; sleep 3
  done
done

for spec in $attrs; do
  name="${spec%%=*}"
  wait_for "$name listed" sh -c "temporal operator search-attribute list --namespace '$ns' | grep -qw '$name'"
done
# The other server roles' namespace caches pick new attributes up within about 10 s.
if [ "$created" = 1 ] && [ "${SKIP_CACHE_WAIT:-false}" != true ]; then sleep 12; fi
echo "namespace $ns ready"
