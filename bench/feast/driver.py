"""
Feast beside featurestream in the benches: a long-lived process driven from
bench/feast/driver.ts over JSON lines (one request on stdin, one reply on
stdout). Timing happens here, in Python, so the pipe costs nothing measured.

  {"op": "setup", "repo": dir, "redis": "host:port", "project": name,
   "entity": name, "join_key": key, "view": name,
   "features": [{"name", "type"}], "rows": [{join_key: id, feature: value, ...}]}
      writes feature_store.yaml, applies the entity and the feature view, and
      writes the rows through Feast's own path (write_to_online_store)
  {"op": "check", "ids": [...]}      -> {"rows": [{feature: value}]} as Feast serves them
  {"op": "time", "batch": n, "iterations": n, "warmup": n, "ids": [...]}
      -> {"samples_us": [...]}: get_online_features(...).to_dict() per call
  {"op": "teardown"}                 deletes the project's keys (Feast's teardown)
"""

import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

STORE = None
REFS = []
JOIN_KEY = None

# Feature type of the registry -> Feast type (Int64 / Float64 / String / lists).
def feast_type(name):
    from feast.types import Array, Float32, Float64, Int64, String

    return {"int": Int64, "float": Float64, "string": String, "string_list": Array(String), "vector": Array(Float32)}[name]


def setup(req):
    global STORE, REFS, JOIN_KEY
    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import String
    from feast.value_type import ValueType

    repo = req["repo"]
    JOIN_KEY = req["join_key"]
    view = req["view"]
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        # key_ttl_seconds: should teardown never run, the keys still go away.
        f.write(
            "\n".join(
                [
                    f"project: {req['project']}",
                    "provider: local",
                    "registry: registry.db",
                    "online_store:",
                    "  type: redis",
                    f"  connection_string: \"{req['redis']}\"",
                    "  key_ttl_seconds: 1800",
                    "offline_store:",
                    "  type: file",
                    "entity_key_serialization_version: 3",
                    "",
                ]
            )
        )
    frame = pd.DataFrame(req["rows"])
    now = datetime.now(timezone.utc)
    frame["event_timestamp"] = now
    source_path = os.path.join(repo, "rows.parquet")
    frame.to_parquet(source_path)
    entity = Entity(name=req["entity"], join_keys=[JOIN_KEY], value_type=ValueType.STRING)
    fv = FeatureView(
        name=view,
        entities=[entity],
        ttl=timedelta(days=1),
        schema=[Field(name=JOIN_KEY, dtype=String)] + [Field(name=f["name"], dtype=feast_type(f["type"])) for f in req["features"]],
        online=True,
        source=FileSource(path=source_path, timestamp_field="event_timestamp"),
    )
    STORE = FeatureStore(repo_path=repo)
    STORE.apply([entity, fv])
    STORE.write_to_online_store(view, frame)
    REFS = [f"{view}:{f['name']}" for f in req["features"]]
    return {"refs": REFS}


def fetch(ids):
    return STORE.get_online_features(features=REFS, entity_rows=[{JOIN_KEY: i} for i in ids]).to_dict()


def plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def check(req):
    result = fetch(req["ids"])
    names = [r.split(":", 1)[1] for r in REFS]
    return {"rows": [{n: plain(result[n][i]) for n in names} for i in range(len(req["ids"]))]}


def timed(req):
    ids = req["ids"]
    batch = req["batch"]
    samples = []
    for i in range(-req["warmup"], req["iterations"]):
        # The same rows the reader bench asks for: the first `batch` ids.
        rows = ids[:batch]
        t0 = time.perf_counter_ns()
        fetch(rows)
        elapsed = time.perf_counter_ns() - t0
        if i >= 0:
            samples.append(elapsed / 1000)
    return {"samples_us": samples}


def teardown(_req):
    if STORE is not None:
        STORE.teardown()
    return {}


OPS = {"setup": setup, "check": check, "time": timed, "teardown": teardown}


def main():
    out = sys.stdout
    # Feast and its libraries may print; keep stdout for replies only.
    sys.stdout = sys.stderr
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            reply = {"ok": True, **OPS[req["op"]](req)}
        except Exception as err:  # the TS side reports it; the process stays up for teardown
            reply = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
