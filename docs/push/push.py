#!/usr/bin/env python3
"""Pushes prices to a tickertape push feed, with Python's standard library only.

Start tickertape with a push feed and the symbols it serves:

    tickertape --feed push:desk --symbols AAPL,MSFT

then run `python3 docs/push/push.py` (or give the server's address and the
feed's name: `push.py http://127.0.0.1:3000 desk`). Set TICKERTAPE_PUSH_TOKEN
when the server has `--push-token`; without one it takes pushes from this
machine only.
"""

import json
import os
import random
import sys
import time
import urllib.error
import urllib.request

SERVER = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
FEED = sys.argv[2] if len(sys.argv) > 2 else "desk"
TOKEN = os.environ.get("TICKERTAPE_PUSH_TOKEN")


def push(trades):
    """POSTs trades as NDJSON (one object per line); returns how many were taken."""
    body = "".join(json.dumps(t) + "\n" for t in trades).encode()
    request = urllib.request.Request(
        f"{SERVER}/api/feeds/{FEED}/ticks",
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-ndjson"},
    )
    if TOKEN:
        request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.load(answer)["accepted"]
    except urllib.error.HTTPError as refused:
        # 400 names the first bad line (nothing was taken); 429 asks to wait.
        reason = json.load(refused).get("error")
        if refused.code == 429:
            time.sleep(float(refused.headers.get("Retry-After", "1")))
            return 0
        sys.exit(f"{refused.code}: {reason}")


def main():
    prices = {"AAPL": 230.0, "MSFT": 420.0}
    while True:
        trades = []
        for symbol, price in prices.items():
            price = round(price * (1 + random.gauss(0, 0.0005)), 2)
            prices[symbol] = price
            trades.append({
                "symbol": symbol,
                "price": price,
                "size": random.choice([100, 200, 500]),
                "bid": round(price - 0.01, 2),
                "ask": round(price + 0.01, 2),
                "ts": int(time.time() * 1000),
            })
        print(f"pushed {push(trades)} trades", flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
