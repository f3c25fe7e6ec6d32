"""Concurrency on a real uvicorn: bounded queue answers 429 with Retry-After, time limits, disconnects cancel."""
from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path

import httpx

from tests.waiting import wait_for

_spec = importlib.util.spec_from_file_location("serve_fakes", Path(__file__).with_name("conftest.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)

EMA = {"question": "what is EMA"}



def test_full_queue_answers_429_with_retry_after(live_server):
    chain = fakes.FakeChain(delay_s=0.04)
    server = live_server(fakes.make_settings(max_queue=2, workers=1), chain=chain)

    async def burst():
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            return await asyncio.gather(*(http.post("/chat", json=EMA) for _ in range(8)))

    responses = asyncio.run(burst())
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 2 and codes.count(429) >= 4 and set(codes) <= {200, 429}, codes
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert chain.started == codes.count(200)
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/chat", json=EMA).status_code == 200
        assert http.get("/health").json()["queue"]["rejected"] == codes.count(429)


def test_time_limit_gives_504_and_cancels(live_server, parse_sse):
    chain = fakes.FakeChain(delay_s=0.15)
    server = live_server(fakes.make_settings(request_timeout_s=0.4), chain=chain)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        response = http.post("/chat", json=EMA)
        assert response.status_code == 504 and "time limit" in response.json()["error"]["message"]
        assert wait_for(lambda: chain.closed == 1)
        streamed = http.post("/chat", json={**EMA, "stream": True})
        events = parse_sse(streamed.text)
        assert events[0][0] == "token" and events[-1][0] == "error"
        assert events[-1][1]["error"]["code"] == 504
        assert wait_for(lambda: chain.closed == 2)
        assert chain.finished == 0


def test_stream_disconnect_cancels_generation(live_server):
    chain = fakes.FakeChain(delay_s=0.2)
    server = live_server(chain=chain)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        with http.stream("POST", "/chat", json={**EMA, "stream": True}) as response:
            first = next(response.iter_lines())
            assert first == "event: token"
        assert wait_for(lambda: chain.closed == 1), "generator not closed after disconnect"
        assert chain.finished == 0
        assert wait_for(lambda: http.get("/health").json()["queue"]["in_flight"] == 0)


def test_plain_request_disconnect_cancels_generation(live_server):
    chain = fakes.FakeChain(delay_s=0.2)
    server = live_server(chain=chain)
    try:
        httpx.post(f"{server.url}/chat", json=EMA, timeout=0.5)
    except httpx.ReadTimeout:
        pass
    assert wait_for(lambda: chain.closed == 1), "generator not closed after the client went away"
    assert chain.finished == 0


def test_queue_refuses_work_that_would_miss_its_time_limit():
    from serve.services.generation import GenerationQueue

    queue = GenerationQueue(max_queue=8, workers=1, timeout_s=10)
    assert not queue._full()
    queue._durations.extend([4.0, 4.0])
    queue._in_flight = 2
    assert queue._full() and queue.retry_after_s() == 8
    queue._in_flight = 1
    assert not queue._full()
    queue._running[1] = time.perf_counter() - 12.0     # the answer in the worker has already run 12 s
    assert queue._full()
    queue.shutdown()
