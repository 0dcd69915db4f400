"""The official `openai` Python client, unmodified, waits out uni1's 429
(a key over its request rate) and retries it to success (issue 17).

Run by server/tests/api/api_key_budgets.rs against a real uni1 router on
loopback whose keys may send one request a second, one at once
(UNI1_API_KEY_REQUESTS_PER_MINUTE=60, UNI1_API_KEY_BURST=1), with the
client from the pinned venv that `scripts/setup.sh --test` makes. Reads:

  UNI1_API_BASE   e.g. http://127.0.0.1:41234/v1
  UNI1_API_KEY    a key with the `generate` scope

The answers the client receives are observed through an httpx response
hook on the client's own default transport (`openai.DefaultHttpxClient`);
nothing of the client's behaviour is changed. Prints one line per check
and exits non-zero at the first failure.
"""

import base64
import os
import sys
import time

import openai
from openai import OpenAI

PNG = b"\x89PNG\r\n\x1a\n"


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail else ""))
    if not ok:
        sys.exit(1)


def main():
    base = os.environ["UNI1_API_BASE"]
    key = os.environ["UNI1_API_KEY"]
    seen = []

    def record(response):
        seen.append(
            (
                response.status_code,
                response.headers.get("retry-after"),
                response.headers.get("x-should-retry"),
            )
        )

    http = openai.DefaultHttpxClient(event_hooks={"response": [record]})
    client = OpenAI(base_url=base, api_key=key, max_retries=2, timeout=60, http_client=http)

    # The key's one request for this second: a bad size, refused at once
    # (400; it counts all the same).
    try:
        client.images.generate(model="builtin", prompt="a kite", size="3x1")
        check("a bad size is refused", False)
    except openai.BadRequestError as e:
        check("a bad size is refused", e.status_code == 400 and e.code == "invalid_value")

    # Without retries, the next request at once is a RateLimitError with
    # the code and retry-after of at most a minute.
    seen.clear()
    try:
        client.with_options(max_retries=0).images.generate(model="builtin", prompt="a kite")
        check("over the rate: refused", False)
    except openai.RateLimitError as e:
        check("over the rate: 429", e.status_code == 429, str(e))
        check("over the rate: code", e.code == "rate_limit_exceeded", repr(e.code))
        check("over the rate: type", e.type == "rate_limit_error", repr(e.type))
    check("over the rate: one answer, no retry", len(seen) == 1, repr(seen))
    status, retry_after, should_retry = seen[0]
    check("retry-after: 1 s", retry_after == "1", repr(retry_after))
    check("x-should-retry not false", should_retry != "false", repr(should_retry))

    # With the client's default retries: the 429 is waited out and the
    # same request sent again, which then makes the image.
    seen.clear()
    started = time.monotonic()
    r = client.images.generate(model="builtin", prompt="a patient kite", size="1024x1024")
    waited = time.monotonic() - started
    statuses = [s for s, _, _ in seen]
    check("retried: first a 429", statuses[:1] == [429], repr(seen))
    check("retried: then 200", statuses[-1] == 200, repr(seen))
    check("retried: at most the client's two retries", len(statuses) <= 3, repr(seen))
    check("retried: waited for retry-after", waited >= 0.5, f"{waited:.2f}s")
    check("retried: one image", len(r.data) == 1, repr(r)[:200])
    check("retried: a PNG", base64.b64decode(r.data[0].b64_json).startswith(PNG))

    print("all checks passed")


if __name__ == "__main__":
    main()
