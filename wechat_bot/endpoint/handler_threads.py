"""The threads that run handlers that are not pure, under the reply window: a push handed over with a queue and a
one-shot lock, half the CPU of a ThreadPoolExecutor's submit and Future (bench/README.md)."""
from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from ..logs import logger

log = logger("wechat_bot.push")


class Job:
    """One call handed to a handler thread; `wait` for it, or have it call you back when it is done."""

    __slots__ = ("_call", "_args", "_result", "_error", "_done", "_guard", "_finished", "_then")

    def __init__(self, call: Callable[..., Any], args: tuple) -> None:
        self._call, self._args = call, args
        self._result: Any = None
        self._error: BaseException | None = None
        self._done = threading.Lock()
        self._done.acquire()
        self._guard = threading.Lock()
        self._finished = False
        self._then: Callable[[Job], None] | None = None

    def wait(self, timeout: float) -> bool:
        """True when the call finished within `timeout` seconds."""
        return self._done.acquire(timeout=max(timeout, 0.0))

    def result(self) -> Any:
        """What the call returned (what it raised, raised again); only once it finished."""
        if self._error is not None:
            raise self._error
        return self._result

    def then(self, callback: Callable[[Job], None]) -> None:
        """Call `callback(job)` in the handler thread when the call finishes (at once if it already has)."""
        with self._guard:
            if not self._finished:
                self._then = callback
                return
        callback(self)

    def _run(self) -> None:
        try:
            self._result = self._call(*self._args)
        except BaseException as error:  # noqa: BLE001 - handed to whoever asks for the result
            self._error = error
        with self._guard:
            self._finished, callback = True, self._then
        self._done.release()
        if callback is not None:
            try:
                callback(self)
            except Exception as error:  # noqa: BLE001 - the thread goes on to the next job
                log.error("a handler's late answer failed (%s: %s); the handler thread carries on",
                          type(error).__name__, error)


class HandlerThreads:
    """Up to `size` daemon threads, started as pushes need them, in each worker process."""

    def __init__(self, size: int, name: str = "wechat-handler") -> None:
        self._size, self._name = size, name
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._started = self._idle = 0
        self._pid = os.getpid()

    def submit(self, call: Callable[..., Any], *args: Any) -> Job:
        job = Job(call, args)
        if self._pid != os.getpid():  # a forked worker: the parent's threads are not here
            with self._lock:
                self._reset()
        self._queue.put(job)
        if self._idle == 0 and self._started < self._size:
            with self._lock:
                if self._started < self._size:
                    self._started += 1
                    threading.Thread(target=self._work, name=f"{self._name}-{self._started}", daemon=True).start()
        return job

    def _work(self) -> None:
        jobs = self._queue
        while True:
            with self._lock:
                self._idle += 1
            job = jobs.get()
            with self._lock:
                self._idle -= 1
            try:
                job._run()
            except BaseException as error:  # noqa: BLE001 - nothing a job raises ends the thread that ran it
                log.error("handler thread: %s escaped a job; the thread carries on", type(error).__name__)
