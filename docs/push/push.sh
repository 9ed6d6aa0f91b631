#!/bin/sh
# Pushes two trades to a tickertape push feed with curl.
#   tickertape --feed push:desk --symbols AAPL,MSFT
#   sh docs/push/push.sh [http://127.0.0.1:3000] [desk]
# With --push-token on the server, set TICKERTAPE_PUSH_TOKEN here.
server=${1:-http://127.0.0.1:3000}
feed=${2:-desk}
auth=${TICKERTAPE_PUSH_TOKEN:+Authorization: Bearer $TICKERTAPE_PUSH_TOKEN}

# A JSON array (ts: Unix ms; without it, the time the server receives it).
curl -sS -X POST "$server/api/feeds/$feed/ticks" ${auth:+-H "$auth"} \
  -H 'Content-Type: application/json' \
  -d '[{"symbol":"AAPL","price":230.15,"size":100},{"symbol":"MSFT","price":421.4,"size":50,"bid":421.35,"ask":421.45}]'
echo

# NDJSON: one trade per line, e.g. from a file: --data-binary @trades.ndjson
printf '%s\n' '{"symbol":"AAPL","price":230.2,"size":300}' |
  curl -sS -X POST "$server/api/feeds/$feed/ticks" ${auth:+-H "$auth"} \
    -H 'Content-Type: application/x-ndjson' --data-binary @-
echo
