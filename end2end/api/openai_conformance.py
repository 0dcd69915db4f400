"""Conformance of uni1's OpenAI Images API with the official `openai`
Python client, unmodified (issue 17).

Run by server/tests/api/developer_api.rs against a real uni1 router on
loopback, with the client from the pinned venv that `scripts/setup.sh
--test` makes (~/.cache/uni1/openai-<version>). Reads:

  UNI1_API_BASE   e.g. http://127.0.0.1:41234/v1
  UNI1_API_KEY    a key with the `generate` scope

Prints one line per check and exits non-zero at the first failure.
"""

import base64
import os
import sys
import urllib.request

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
    client = OpenAI(base_url=base, api_key=key, max_retries=2, timeout=60)

    # Generate, base64 (the default).
    r = client.images.generate(model="builtin", prompt="a red kite", n=2, size="1024x1024")
    check("b64: two images", len(r.data) == 2, repr(r)[:200])
    png = base64.b64decode(r.data[0].b64_json)
    check("b64: a PNG", png.startswith(PNG))
    check("b64: revised_prompt", r.data[0].revised_prompt == "a red kite", r.data[0].revised_prompt)
    check("b64: created", isinstance(r.created, int) and r.created > 1_700_000_000)

    # Generate, as a signed URL on our origin that opens without a key.
    r = client.images.generate(
        model="builtin", prompt="a blue kite", size="1792x1024", response_format="url"
    )
    url = r.data[0].url
    check("url: on our origin", url.startswith(base.rsplit("/v1", 1)[0] + "/v1/files/"), url)
    with urllib.request.urlopen(url) as answer:
        check("url: opens without a key", answer.status == 200 and answer.read().startswith(PNG))

    # Edit: the image as a multipart file part.
    r = client.images.edit(
        model="builtin", image=("kite.png", png, "image/png"), prompt="the kite, in blue"
    )
    check("edit: a PNG", base64.b64decode(r.data[0].b64_json).startswith(PNG))

    # The same Idempotency-Key: the first answer again, no second job.
    headers = {"Idempotency-Key": "conformance-1"}
    first = client.images.generate(model="builtin", prompt="one kite", extra_headers=headers)
    again = client.images.with_raw_response.generate(
        model="builtin", prompt="one kite", extra_headers=headers
    )
    check("idempotency: replayed", again.headers.get("idempotent-replayed") == "true")
    check("idempotency: same answer", again.parse().data[0].b64_json == first.data[0].b64_json)

    # A 400 parsed into BadRequestError with code and param.
    try:
        client.images.generate(model="builtin", prompt="a kite", size="1536x1024")
        check("400: raised", False)
    except openai.BadRequestError as e:
        check("400: BadRequestError", e.status_code == 400)
        check("400: code", e.code == "invalid_value", str(e.code))
        check("400: param", e.param == "size", str(e.param))
        check("400: type", e.type == "invalid_request_error", str(e.type))
        check("400: x-request-id", bool(e.response.headers.get("x-request-id")))
        check("400: request_id", bool(e.request_id), str(e.request_id))

    # An unknown key: AuthenticationError.
    wrong = OpenAI(base_url=base, api_key="uni1_sk_not_a_real_key", max_retries=0)
    try:
        wrong.images.generate(model="builtin", prompt="a kite")
        check("401: raised", False)
    except openai.AuthenticationError as e:
        check("401: AuthenticationError", e.status_code == 401)
        check("401: code", e.code == "invalid_api_key", str(e.code))

    print(f"openai {openai.__version__}: all checks passed")


if __name__ == "__main__":
    main()
