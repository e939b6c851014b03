"""The Python client against the real `featurestream serve` (Node), with a user seeded in the
test Redis (REDIS_URL, default redis://127.0.0.1:16379) under a random key prefix.

Run from the repository root:  python3 -m pytest clients/python/tests -q
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from featurestream_client import FeatureStreamClient, FeatureStreamError  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:16379")
TOKEN = "py-" + uuid.uuid4().hex


def redis_cli(*args: str) -> str:
    url = urlsplit(REDIS_URL)
    return subprocess.check_output(["redis-cli", "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 6379), *args], text=True)


# The per-field layout, so that redis-cli can seed a vector as plain fields (the default, packed,
# is one binary field that only the project's own codec writes).
REGISTRY = {
    "layout": "fields",
    "entities": [{"name": "user"}],
    "sources": [{"name": "transactions", "entity": "user", "keyField": "user_id", "timeField": "ts", "schema": "transactions"}],
    "features": [
        {"name": "tx_count_1h", "source": "transactions", "op": "count", "window": "1h", "type": "int", "default": 0},
        {"name": "recent_merchants", "source": "transactions", "op": "last_k", "field": "merchant_id", "k": 10,
         "type": "string_list", "default": [], "freshness": "7d"},
    ],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    prefix = f"fs-py-{uuid.uuid4().hex[:8]}:"
    key = f"{prefix}user:u1:features"
    redis_cli("HSET", key, "_version", "1", "_updated_ms", str(int(time.time() * 1000)), "tx_count_1h", "7")
    redis_cli("PEXPIRE", key, "600000")
    config = tmp_path_factory.mktemp("registry") / "registry.json"
    config.write_text(json.dumps(REGISTRY))
    env = {**os.environ, "REDIS_URL": REDIS_URL, "FEATURESTREAM_KEY_PREFIX": prefix, "FEATURESTREAM_SERVER_TOKEN": TOKEN, "LOG_LEVEL": "info"}
    env.pop("REDIS_CLUSTER_NODES", None)
    # node itself, not an `npx tsx` wrapper: terminate() must reach the server, or it outlives the test.
    proc = subprocess.Popen(
        ["node", "--import", "tsx", "src/cli/main.ts", "serve", "--port", "0", "--max-ids", "10", "--deadline", "500", "--config", str(config)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    port = None
    deadline = time.time() + 60
    while port is None and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("msg") == "feature server listening":
            port = record["port"]
    if port is None:
        proc.kill()
        raise RuntimeError("featurestream serve did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        redis_cli("DEL", key)


def test_reads_vectors_in_order(server):
    with FeatureStreamClient(server, token=TOKEN) as client:
        assert client.healthy()
        rows = client.get_features("user", ["u1", "nobody"])
        assert [r["entity_id"] for r in rows] == ["u1", "nobody"]
        assert rows[0]["source"] == "redis"
        assert rows[0]["features"]["tx_count_1h"] == 7
        assert rows[1]["source"] == "default"
        assert rows[1]["features"]["recent_merchants"] == []
        assert rows[1]["age_ms"] is None
        subset = client.get_features("user", ["u1"], features=["tx_count_1h"])
        assert subset[0]["features"] == {"tx_count_1h": 7}
        # The same keep-alive connection serves every call.
        assert client.get_features("user", ["u1"])[0]["source"] in ("redis", "cache")


def test_refused_requests_raise_with_the_server_code(server):
    with FeatureStreamClient(server, token=TOKEN) as client:
        for args, code in [
            (("user", ["a b"]), "ENTITY_ID_INVALID"),
            (("account", ["u1"]), "NOT_FOUND"),
            (("user", [f"u{i}" for i in range(11)]), "BAD_REQUEST"),
            (("user", ["u1"], ["nope"]), "CONFIG_INVALID"),
        ]:
            with pytest.raises(FeatureStreamError) as err:
                client.get_features(*args)
            assert err.value.status == 400
            assert err.value.code == code


def test_wrong_token_is_401(server):
    with FeatureStreamClient(server, token="wrong") as client:
        with pytest.raises(FeatureStreamError) as err:
            client.get_features("user", ["u1"])
        assert err.value.status == 401
        assert err.value.code == "UNAUTHORIZED"
