"""Bounded generation queue: the chain runs in worker threads, events flow back to the event loop."""
from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from rag.core.errors import OverloadedError, RequestTimeoutError

_END = "end"
_ERROR = "error"


class StreamingChain(Protocol):
    """What the service needs from an AnswerChain."""

    backend_name: str

    def stream_events(self, question: str, **options) -> Iterator[tuple[str, Any]]: ...


class Job:
    """One queued generation: a cancel flag for the worker, an asyncio queue for the request."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float):
        self.loop = loop
        self.deadline = deadline          # loop.time() after which the request gives up
        self.cancelled = threading.Event()
        self._events: asyncio.Queue = asyncio.Queue()

    def put(self, item: tuple[str, Any]) -> None:
        """Hand an event to the request's loop (called from the worker thread)."""
        try:
            self.loop.call_soon_threadsafe(self._events.put_nowait, item)
        except RuntimeError:          # the loop is closed: the server is shutting down
            self.cancelled.set()

    def cancel(self) -> None:
        """Ask the worker to stop; it closes the chain's generator at the next event."""
        self.cancelled.set()

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        """The chain's events in order; raises the chain's error, or RequestTimeoutError past the deadline."""
        try:
            while True:
                remaining = self.deadline - self.loop.time()
                if remaining <= 0:
                    raise _timeout()
                try:
                    kind, payload = await asyncio.wait_for(self._events.get(), remaining)
                except TimeoutError:
                    raise _timeout() from None
                if kind == _END:
                    return
                if kind == _ERROR:
                    raise payload
                yield kind, payload
        finally:
            self.cancel()


def _timeout() -> RequestTimeoutError:
    return RequestTimeoutError("the answer took longer than the server's time limit; "
                               "try again or ask a shorter question")


class GenerationQueue:
    """At most `max_queue` generations waiting or running; `workers` of them run at once."""

    def __init__(self, max_queue: int, workers: int, timeout_s: float):
        self.max_queue = max(1, max_queue)
        self.workers = max(1, workers)
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="rag-generate")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._durations: deque[float] = deque(maxlen=32)
        self._running: dict[int, float] = {}     # id(job) -> perf_counter at start, for jobs in a worker
        self.completed = 0
        self.rejected = 0
        self.cancelled = 0

    @property
    def in_flight(self) -> int:
        """Generations waiting or running."""
        return self._in_flight

    def _recent_s(self) -> float | None:
        """Seconds per answer: the recent mean, or longer if a running answer has already taken longer."""
        mean = sum(self._durations) / len(self._durations) if self._durations else 0.0
        now = time.perf_counter()
        longest = max((now - t for t in self._running.values()), default=0.0)
        return max(mean, longest) or None

    def retry_after_s(self) -> int:
        """Seconds a refused client should wait: the time to drain the queue at the recent pace."""
        return max(1, math.ceil((self._recent_s() or 1.0) * self._in_flight / self.workers))

    def _full(self) -> bool:
        """No room: the queue bound is reached, or at the recent pace a new job would miss its time limit."""
        if self._in_flight >= self.max_queue:
            return True
        recent = self._recent_s()
        return bool(self._in_flight) and recent is not None and \
            recent * (self._in_flight // self.workers + 1) > self.timeout_s

    def submit(self, chain: StreamingChain, question: str, on_finish: Callable[[], None] | None = None,
               **options) -> Job:
        """Queue a generation (`options`, e.g. history and filters, go to chain.stream_events), or raise
        OverloadedError (429) when there is no room for it; `on_finish` runs once the generation has ended."""
        with self._lock:
            if self._full():
                self.rejected += 1
                error = OverloadedError(f"the server is busy ({self._in_flight} answers queued); retry shortly")
                error.retry_after = self.retry_after_s()
                raise error
            self._in_flight += 1
        loop = asyncio.get_running_loop()
        job = Job(loop, loop.time() + self.timeout_s)
        try:
            self._executor.submit(self._run, job, chain, question, on_finish, options)
        except RuntimeError:
            self._release(id(job), 0.0, cancelled=False, paced=False)
            raise
        return job

    def _run(self, job: Job, chain: StreamingChain, question: str, on_finish, options: dict) -> None:
        """Worker thread: drive the chain's generator until done, error or cancellation."""
        started = time.perf_counter()
        try:
            if job.cancelled.is_set():
                return
            with self._lock:
                self._running[id(job)] = started
            events = chain.stream_events(question, **options)
            try:
                for event in events:
                    if job.cancelled.is_set():
                        break
                    job.put(event)
            finally:
                events.close()
        except Exception as exc:  # noqa: BLE001 - handed to the request, which logs and translates it
            job.put((_ERROR, exc))
        finally:
            cancelled = job.cancelled.is_set()
            ran_to_limit = job.loop.time() >= job.deadline
            self._release(id(job), time.perf_counter() - started, cancelled, paced=not cancelled or ran_to_limit)
            if on_finish is not None:
                on_finish()
            job.put((_END, None))

    def _release(self, key: int, duration: float, cancelled: bool, paced: bool) -> None:
        """Free a slot; answers that ran to the end or into the time limit count towards the pace."""
        with self._lock:
            self._in_flight -= 1
            started = self._running.pop(key, None) is not None
            self.cancelled += cancelled
            self.completed += not cancelled
            if paced and started:
                self._durations.append(duration)

    def stats(self) -> dict:
        """Counters for /health."""
        return {"in_flight": self._in_flight, "max_queue": self.max_queue, "workers": self.workers,
                "completed": self.completed, "rejected": self.rejected, "cancelled": self.cancelled}

    def shutdown(self) -> None:
        """Stop accepting work; running generations finish in their threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
