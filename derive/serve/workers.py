"""Derivations in worker processes, each with a time limit after which it is stopped.

A formula can make derive run for a long time (definitions that reuse each other grow
the result exponentially). A thread cannot be stopped, a process can: each derivation
runs in one of a few worker processes, and one that overruns its time limit is killed
and replaced, while the other workers go on answering. The workers are forked from a
forkserver that has already imported derive, so a replacement is ready in milliseconds
(forking the threaded server itself is unsafe).
"""
from __future__ import annotations

import multiprocessing
import queue
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection

from .request import Request, answer

CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["derive.serve.request", "derive.api", "derive.render",
                                "derive.numcheck", "derive.diff.second_order"])


MEMORY = 2 << 30    # bytes of address space a worker may add to what it starts with


def _limit_memory() -> None:
    """A formula whose result grows without end meets MemoryError (a 422), not the machine's
    limit."""
    try:
        import resource
        with open("/proc/self/status") as status:
            size = next(int(line.split()[1]) * 1024 for line in status
                        if line.startswith("VmSize:"))
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or size + MEMORY < hard:
            resource.setrlimit(resource.RLIMIT_AS, (size + MEMORY, hard))
    except (ImportError, OSError, ValueError, StopIteration):  # not Linux: the time limit only
        pass


def _work(connection: Connection) -> None:
    """A worker's life: answer requests until the server closes the pipe."""
    _limit_memory()
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        connection.send(answer(request))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection

    def stop(self) -> None:
        self.process.kill()
        self.process.join()
        self.connection.close()


class Stopped(Exception):
    """The derivation was stopped (time limit, or the worker died) or never started (the
    server is busy): an HTTP status and a message that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Workers:
    """A pool of ``count`` worker processes; ``run`` derives a request in a free one."""

    def __init__(self, count: int = 2, time_limit: float = 10.0, wait_limit: float = 120.0,
                 most_waiting: int = 64):
        self.time_limit = time_limit
        self.wait_limit = wait_limit
        # Requests beyond these wait for nothing: a flood gets 503s, not a thread each.
        self._waiting = threading.BoundedSemaphore(most_waiting)
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._all: list[_Worker] = []
        self._closed = False
        for _ in range(count):
            self._idle.put(self._start())

    def _start(self) -> _Worker:
        ours, theirs = CONTEXT.Pipe()
        process = CONTEXT.Process(target=_work, args=(theirs,), daemon=True,
                                  name="derive-serve-worker")
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        with self._lock:
            self._all.append(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._all.remove(worker)
            closed = self._closed
        if not closed:
            self._idle.put(self._start())

    def run(self, request: Request) -> tuple[int, bytes]:
        """The status and body of the answer; Stopped if the time limit cut it off or no
        worker came free."""
        busy = Stopped(503, "the server is busy: try again in a moment")
        if not self._waiting.acquire(blocking=False):
            raise busy
        try:
            worker = self._idle.get(timeout=self.wait_limit)
        except queue.Empty:
            raise busy from None
        finally:
            self._waiting.release()
        try:
            worker.connection.send(request)
            if worker.connection.poll(self.time_limit):
                result = worker.connection.recv()
                self._idle.put(worker)
                return result
        except (EOFError, OSError):
            self._replace(worker)
            raise Stopped(422, "the derivation stopped its worker (the formula may be too "
                               "large)") from None
        self._replace(worker)
        raise Stopped(422, f"the derivation took longer than {self.time_limit:g} s and was "
                           f"stopped (a formula whose result grows very large does this)")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
        for worker in workers:
            worker.stop()
