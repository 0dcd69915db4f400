"""Conformance of uni1's Replicate-style predictions with the official
`replicate` Python client, unmodified (issue 17).

Run by server/tests/api/replicate_api.rs against a real uni1 router on
loopback, with the client from the pinned venv that `scripts/setup.sh
--test` makes (~/.cache/uni1/replicate-<version>). Reads:

  UNI1_API_ORIGIN  e.g. http://127.0.0.1:41234 (the client's base_url)
  UNI1_API_KEY     a key with the `generate`, `read` and `webhooks` scopes
  UNI1_PHASE       "idle" (no worker runs: wait ends first, cancel, errors),
                   "run" (a worker runs: client.run, create + wait, list)
                   or "models" (a worker runs: models.get, versions,
                   client.run with owner/name:version)

Prints one line per check and exits non-zero at the first failure.
"""

import os
import sys
import time
import urllib.request

import replicate
from replicate.exceptions import ReplicateError

PNG = b"\x89PNG\r\n\x1a\n"


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail else ""))
    if not ok:
        sys.exit(1)


def opens(url, origin):
    check("output on our origin", url.startswith(origin + "/v1/files/"), url)
    # A signed URL ignores an Authorization header (the client's own
    # download sends one).
    request = urllib.request.Request(url, headers={"Authorization": "Bearer not-a-key"})
    with urllib.request.urlopen(request) as answer:
        check("output opens without a key", answer.status == 200 and answer.read().startswith(PNG))


def idle(client):
    # Prefer: wait=1 with no worker: the wait ends first, answered as
    # "starting" so a caller knows to poll.
    began = time.monotonic()
    p = client.predictions.create(
        version="builtin", input={"prompt": "a kite nobody makes", "num_outputs": 2}, wait=1
    )
    check("wait=1: held about a second", time.monotonic() - began >= 0.8)
    check("wait=1: still starting", p.status == "starting", p.status)
    check("model and version", p.model == "uni1/builtin" and p.version == "builtin", p.model)
    check("input echoed", p.input["prompt"] == "a kite nobody makes", repr(p.input))
    check("urls", p.urls["get"].endswith("/v1/predictions/" + p.id), repr(p.urls))

    # Cancel: the prediction says canceled.
    p.cancel()
    check("cancel: canceled", p.status == "canceled", p.status)
    p.reload()
    check("cancel: stays canceled", p.status == "canceled" and p.output is None, p.status)
    again = client.predictions.cancel(p.id)
    check("cancel again: harmless", again.status == "canceled", again.status)

    # Errors are problem details the client parses into ReplicateError.
    try:
        client.predictions.get("0190c0de00007000800000000000dead")
        check("404 raises", False)
    except ReplicateError as e:
        check("404: ReplicateError", e.status == 404 and bool(e.title) and bool(e.detail), repr(e))
    try:
        client.models.predictions.create(model="uni1/no-such-model", input={"prompt": "k"})
        check("unknown model raises", False)
    except ReplicateError as e:
        check("unknown model: 404", e.status == 404 and "uni1/builtin" in (e.detail or ""), repr(e))
    try:
        client.predictions.create(version="builtin", input={"num_outputs": 1})
        check("422 raises", False)
    except ReplicateError as e:
        check(
            "422: names the input",
            e.status == 422 and e.title == "Input validation failed" and "prompt" in (e.detail or ""),
            repr(e),
        )

    # The default webhook signing secret, which predictions' webhooks are
    # signed with (the key has the `webhooks` scope).
    secret = client.webhooks.default.secret()
    check("default webhook secret", secret.key.startswith("whsec_"), secret.key[:6])
    check("the same on every read", client.webhooks.default.secret().key == secret.key)
    try:
        client.predictions.create(version="builtin", input={"prompt": "k"}, webhook="https://10.0.0.1/hook")
        check("private webhook raises", False)
    except ReplicateError as e:
        check("private webhook: 422", e.status == 422 and "webhook" in (e.detail or ""), repr(e))


def run(client, origin):
    # client.run waits (Prefer: wait) and returns the output URLs.
    out = client.run("uni1/builtin", input={"prompt": "a red kite", "num_outputs": 2})
    check("run: two outputs", isinstance(out, list) and len(out) == 2, repr(out))
    for url in out:
        opens(str(url), origin)

    # Without waiting: the client polls until the end.
    out = client.run("uni1/builtin", input={"prompt": "a blue kite", "aspect_ratio": "16:9"}, wait=False)
    check("run, no wait: one output", isinstance(out, list) and len(out) == 1, repr(out))
    opens(str(out[0]), origin)

    # create, then wait (polls reload) to succeeded.
    p = client.predictions.create(version="builtin", input={"prompt": "a green kite", "seed": 7})
    check("create: not final yet or done", p.status in ("starting", "processing", "succeeded"), p.status)
    p.wait()
    check("wait: succeeded", p.status == "succeeded" and p.error is None, p.status)
    check("wait: completed_at", bool(p.completed_at) and bool(p.created_at))
    p.reload()
    check("reload: one output", isinstance(p.output, list) and len(p.output) == 1, repr(p.output))
    opens(p.output[0], origin)

    # The listing holds them, newest first.
    page = client.predictions.list()
    ids = [x.id for x in page.results]
    check("list: newest first", ids and ids[0] == p.id, repr(ids))


def models(client, origin):
    # The model, with its one version and the schema of its input.
    model = client.models.get("uni1/builtin")
    check("model", model.owner == "uni1" and model.name == "builtin" and model.id == "uni1/builtin", model.id)
    check("model: public", model.visibility == "public" and model.run_count == 0)
    version = model.latest_version
    check("latest version", version is not None and version.id == "builtin", version and version.id)
    inputs = version.openapi_schema["components"]["schemas"]["Input"]["properties"]
    check("input schema", "prompt" in inputs and "16:9" in inputs["aspect_ratio"]["enum"], ", ".join(inputs))
    versions = model.versions.list()
    check("versions.list", [v.id for v in versions] == ["builtin"], repr([v.id for v in versions]))
    again = model.versions.get("builtin")
    check("versions.get", again.id == "builtin" and again.created_at == version.created_at, again.id)
    model.reload()
    check("reload", model.name == "builtin" and model.run_count == 0)
    try:
        client.models.get("uni1/no-such-model")
        check("unknown model raises", False)
    except ReplicateError as e:
        check("unknown model: 404", e.status == 404 and "uni1/builtin" in (e.detail or ""), repr(e))
    try:
        model.versions.get("0123abcd")
        check("unknown version raises", False)
    except ReplicateError as e:
        check("unknown version: 404", e.status == 404, repr(e))

    # run with owner/name:version creates with it, then reads the version.
    out = client.run("uni1/builtin:builtin", input={"prompt": "a kite by version"})
    check("run by version: one output", isinstance(out, list) and len(out) == 1, repr(out))
    opens(str(out[0]), origin)


def main():
    origin = os.environ["UNI1_API_ORIGIN"]
    client = replicate.Client(api_token=os.environ["UNI1_API_KEY"], base_url=origin)
    client.poll_interval = 0.2
    phase = os.environ.get("UNI1_PHASE")
    if phase == "idle":
        idle(client)
    elif phase == "models":
        models(client, origin)
    else:
        run(client, origin)
    print("all checks passed")


if __name__ == "__main__":
    main()
