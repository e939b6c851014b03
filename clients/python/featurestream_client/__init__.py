"""A small client for the featurestream HTTP feature server (`featurestream serve`).

Standard library only. One keep-alive connection per client (http.client),
reopened once when the server closed it; a client is not thread-safe, so give
each thread (or worker process) its own.

    from featurestream_client import FeatureStreamClient

    client = FeatureStreamClient("http://127.0.0.1:8080", token=None, timeout=0.5)
    rows = client.get_features("user", ["u1", "u2"], features=["tx_count_1h"])
    rows[0]["features"]["tx_count_1h"], rows[0]["source"]  # 'redis' | 'dynamodb' | 'cache' | 'default'
"""

from __future__ import annotations

import http.client
import json
from typing import Any, Optional, Sequence
from urllib.parse import urlsplit

__all__ = ["FeatureStreamClient", "FeatureStreamError"]


class FeatureStreamError(Exception):
    """The server refused the request: `status` is the HTTP status, `code` the server's error code
    (BAD_JSON, BAD_REQUEST, NOT_FOUND, ENTITY_ID_INVALID, CONFIG_INVALID, TOO_LARGE, UNAUTHORIZED)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class FeatureStreamClient:
    def __init__(self, base_url: str = "http://127.0.0.1:8080", token: Optional[str] = None, timeout: float = 1.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"base_url must be http:// or https://, got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._conn: Optional[http.client.HTTPConnection] = None

    def get_features(self, entity: str, ids: Sequence[str], features: Optional[Sequence[str]] = None) -> list[dict[str, Any]]:
        """Feature vectors for `ids`, in order: dicts with entity_id, features, source, defaulted, age_ms.

        The server answers within its deadline even when its stores are down (then source is
        'default' and the values are the training-time defaults). Raises FeatureStreamError on a
        refused request (invalid id, unknown entity or feature, too many ids, bad token)."""
        body: dict[str, Any] = {"entity": entity, "ids": list(ids)}
        if features is not None:
            body["features"] = list(features)
        status, payload = self._request("POST", "/features", json.dumps(body).encode())
        if status != 200:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            raise FeatureStreamError(status, error.get("code", "HTTP_ERROR"), error.get("message", str(payload)))
        return payload["vectors"]

    def healthy(self) -> bool:
        return self._request("GET", "/healthz")[0] == 200

    def ready(self) -> bool:
        return self._request("GET", "/readyz")[0] == 200

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "FeatureStreamClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def _request(self, method: str, path: str, body: Optional[bytes] = None) -> tuple[int, Any]:
        # A kept-alive connection the server has since closed fails on first use: reopen once.
        for attempt in (0, 1):
            conn = self._connect()
            try:
                conn.request(method, path, body=body, headers=self._headers)
                response = conn.getresponse()
                raw = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 1:
                    raise
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")
