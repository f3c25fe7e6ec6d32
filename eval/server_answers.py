"""Answers from a running server: POST /chat with each follow-up's history, for `rag eval --server URL`, so the
figures are those of the endpoint users call (the same chain entry, behind the HTTP layer)."""
from __future__ import annotations

import httpx

from rag.core.errors import BackendError


class ServedAnswer:
    """The answer JSON a server returned, with the `to_dict()` the runner reads."""

    def __init__(self, data: dict):
        self.data = data

    def to_dict(self) -> dict:
        """The answer JSON."""
        return self.data


class ServerAnswerer:
    """`answer(question, history=None)` through POST {url}/chat."""

    def __init__(self, url: str, api_key: str = "", timeout_s: float = 600.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)
        try:
            health = self.http.get("/health").json()
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendError(f"no notes-rag server at {url}: {exc}") from exc
        self.backend_name = f"server:{health.get('backend', '?')}"
        self.gaps = None

    def answer(self, question: str, history=None) -> ServedAnswer:
        """The server's answer JSON for one question (with its earlier turns)."""
        body = {"question": question, **({"history": list(history)} if history else {})}
        response = self.http.post("/chat", json=body)
        if response.status_code != 200:
            raise BackendError(f"POST /chat answered {response.status_code}: {response.text[:300]}")
        return ServedAnswer(response.json())
