"""A local event source mapping: SQS queues polled into handlers the way Lambda does it.

moto runs no Lambda code without Docker, so the real handlers run here. Per mapping:
batches of up to ``batch_size`` records in the JSON shape Lambda sends (a FIFO queue's
with their message group), ``ReportBatchItemFailures`` honoured (only the failed records
come back), failed records hidden for ``retry_after`` seconds (the queue's visibility
timeout in the cloud), and the queue's redrive policy moving a record that keeps failing
to its dead-letter queue.

Concurrency as Lambda has it: the mapping's pollers (five, as Lambda starts with, or the
mapping's ``MaximumConcurrency``) each hold at most one batch in flight, and whenever
some are free they each receive a batch before any of those runs, so a FIFO queue holds
each group that has one in flight. A function with reserved concurrency below the
batches in flight is throttled: the batches beyond it go back to the queue with their
receive counted, as Lambda's do, and reach the dead-letter queue if that keeps
happening.

Where the invocations run:

- inline (the default): one after another in this process, each as it is received. The
  tests with moto in this process use it; their bucket calls are not interleaved (the
  convergence oracle interleaves them).
- ``side_by_side``: each in an execution environment of its own, as Lambda runs them: a
  process per environment, started when every warm one is busy (its cold start imports
  the handler) and kept warm after, at most one per poller. Every function's pollers run
  at once, so validate, render and index work beside each other while a commit flows
  through, and a round does not wait for its slowest batch before the next is received.
  The handlers reach moto over loopback (``AWS_ENDPOINT_URL``), so this needs moto as a
  server: ``make run`` and the bench use it. An environment that dies (killed, out of
  memory) fails its whole batch, as a crashed invocation does, and a new one starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]
POLLERS = 5  # the batches Lambda's SQS event source receives at once, to begin with


@dataclass
class FunctionMapping:
    name: str
    queue_url: str
    handler: Handler
    environment: Mapping[str, str] = field(default_factory=dict)
    batch_size: int = 10
    retry_after: int = 0
    # A batching window: the function waits to gather a batch. Locally it waits until
    # the functions without one have nothing left to do, then takes a whole batch.
    window: int = 0
    concurrency: int | None = None  # the mapping's ScalingConfig.MaximumConcurrency
    reserved: int | None = None  # the function's ReservedConcurrentExecutions
    # The handler as the template names it ("package.module.function"): what an
    # execution environment of its own imports (``side_by_side``).
    entry: str | None = None
    memory: int | None = None  # the function's MemorySize: side by side, a limit
    timeout: int = 60  # the function's Timeout: what the context says is left

    @property
    def pollers(self) -> int:
        return self.concurrency or POLLERS


@dataclass
class Context:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: float = field(default_factory=lambda: time.monotonic() + 60)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return time.strftime("%Y/%m/%d/[$LATEST]") + self.aws_request_id.replace("-", "")

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# One execution environment's handler: set once per process by ``_cold_start``.
_handler: Handler | None = None


def _cold_start(name: str, entry: str, values: Mapping[str, str], memory: int | None) -> None:
    """An execution environment's start: the function's environment, a watch on it, its
    handler imported. Ctrl-C is for the process that runs the stack, which stops the
    environments itself."""
    global _handler
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(values)
    threading.Thread(target=_watch, args=(name, os.getppid(), memory), daemon=True).start()
    module, attribute = entry.rsplit(".", 1)
    _handler = getattr(importlib.import_module(module), attribute)


def _watch(name: str, stack: int, memory: int | None) -> None:
    """Every hundredth of a second: Lambda kills an environment whose memory passes the
    function's MemorySize, in the middle of whatever it was doing, and the batch fails;
    so is this process, by its resident memory (a briefer peak escapes). And it ends
    when the process that runs the stack is gone, however that ended (killed, a
    terminal closed): environments never outlive their stack."""
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as statm:
        while True:
            if os.getppid() != stack:
                os._exit(0)
            statm.seek(0)
            resident = int(statm.read().split()[1]) * page / 2**20
            if memory is not None and resident > memory:
                said = f"{name}: Runtime exited: {resident:.0f} MB used, {memory} MB allowed; "
                os.write(2, (said + "its batch fails and comes back\n").encode())
                os._exit(137)
            time.sleep(0.01)


@dataclass(frozen=True)
class Outcome:
    """One invocation's end: the identifiers of the records it failed (None: it crashed,
    which fails them all); its duration, the CPU time its process spent in it, and the
    process's peak resident memory so far (Lambda's "Max Memory Used")."""

    failed: set[str] | None
    wall: float
    cpu: float
    peak_mb: float


def _call(handler: Handler, event: dict[str, Any], context: Context) -> Outcome:
    started, cpu = time.perf_counter(), time.process_time()
    try:
        response = handler(event, context)
        failed: set[str] | None = {
            item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])
        }
    except Exception:
        failed = None
    return Outcome(failed, time.perf_counter() - started, time.process_time() - cpu, _peak_mb())


def _peak_mb() -> float:
    """This process's peak resident memory: the kernel's high-water mark of its own
    memory (``getrusage`` would report the parent's, which a spawned process inherits).
    Linux's /proc, as ``_watch`` reads, and as Lambda runs."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))


def _invoke_warm(event: dict[str, Any], context: Context) -> Outcome:
    assert _handler is not None, "an execution environment runs its cold start first"
    return _call(_handler, event, context)


@contextlib.contextmanager
def _no_main() -> Iterator[None]:
    """A process multiprocessing spawns imports the parent's ``__main__`` first (the
    bench's, pytest's: 200 MB of imports in the bench's case); a Lambda environment
    holds the handler alone. Hidden while an environment starts, its memory and cold
    start are the handler's."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


@dataclass
class _InFlight:
    mapping: FunctionMapping
    received: list[dict[str, Any]]
    outcome: Future[Outcome]
    environment: Executor | None  # side by side: the one it runs in


class LocalEventSource:
    def __init__(
        self,
        sqs: Any,
        mappings: list[FunctionMapping],
        region: str = "us-east-1",
        *,
        side_by_side: bool = False,
    ) -> None:
        self.sqs = sqs
        self.mappings = mappings
        self.region = region
        self.side_by_side = side_by_side
        if side_by_side and any(m.entry is None for m in mappings):
            raise ValueError("invocations side by side need each mapping's handler entry")
        self.environments: dict[str, list[Executor]] = {}  # per function, side by side
        self.in_flight: list[_InFlight] = []
        self.invocations = 0
        self.failures = 0
        self.delivered: Counter[str] = Counter()  # records per function
        # What a bench wants to know of a run, per function: the total time and the
        # longest invocation, in duration and in CPU time (side by side on two cores,
        # invocations wait for each other: their CPU time is what Lambda would take,
        # besides the bucket's answers), CPU time by message group, the peak memory of
        # an environment; and the largest message body received.
        self.busy: dict[str, float] = {}
        self.slowest: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.slowest_cpu: dict[str, float] = {}
        self.by_group: defaultdict[str, dict[str, float]] = defaultdict(dict)
        self.peak_mb: dict[str, float] = {}
        self.largest = 0
        # Records sent back because the function was throttled, and the most invocations
        # of a function in flight at once, per function.
        self.throttled: Counter[str] = Counter()
        self.concurrent: Counter[str] = Counter()

    def __enter__(self) -> LocalEventSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the execution environments (a process each, side by side)."""
        for started in self.environments.values():
            for each in started:
                each.shutdown(wait=True, cancel_futures=True)
        self.environments.clear()

    def _record(self, mapping: FunctionMapping, message: dict[str, Any]) -> dict[str, Any]:
        arn = self.sqs.get_queue_attributes(
            QueueUrl=mapping.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                **{
                    name: message["Attributes"][name]
                    for name in ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber")
                    if name in message["Attributes"]
                },
                "ApproximateReceiveCount": message["Attributes"].get(
                    "ApproximateReceiveCount", "1"
                ),
                "SentTimestamp": message["Attributes"].get("SentTimestamp", "0"),
                "SenderId": message["Attributes"].get("SenderId", "AIDAEXAMPLE"),
                "ApproximateFirstReceiveTimestamp": message["Attributes"].get(
                    "ApproximateFirstReceiveTimestamp", "0"
                ),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": self.region,
        }

    def _receive(self, mapping: FunctionMapping) -> list[dict[str, Any]]:
        """One poller's batch."""
        received: list[dict[str, Any]] = []
        while len(received) < mapping.batch_size:
            more = self.sqs.receive_message(
                QueueUrl=mapping.queue_url,
                MaxNumberOfMessages=min(10, mapping.batch_size - len(received)),
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            received += more
            if not more or not mapping.window:  # SQS hands out ten at most a call
                break
        return received

    def _return(self, mapping: FunctionMapping, message: dict[str, Any]) -> None:
        self.sqs.change_message_visibility(
            QueueUrl=mapping.queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=mapping.retry_after,
        )

    def _flying(self, mapping: FunctionMapping) -> int:
        return sum(1 for f in self.in_flight if f.mapping is mapping)

    def poll(self, mapping: FunctionMapping) -> int:
        """The mapping's free pollers each receive a batch, then each is invoked (or
        throttled); the records received. Inline, they have run when this returns."""
        flying = self._flying(mapping)
        batches = []
        for _ in range(mapping.pollers - flying):
            batch = self._receive(mapping)
            if not batch:
                break
            batches.append(batch)
        room = len(batches) if mapping.reserved is None else max(0, mapping.reserved - flying)
        for batch in batches[room:]:  # throttled: back to the queue, a receive spent
            self.throttled[mapping.name] += len(batch)
            for message in batch:
                self._return(mapping, message)
        for batch in batches[:room]:
            self._start(mapping, batch)
        self.concurrent[mapping.name] = max(self.concurrent[mapping.name], self._flying(mapping))
        self.settle(block=False)
        return sum(len(batch) for batch in batches[:room])

    def _environment(self, mapping: FunctionMapping) -> Executor:
        """A warm environment of the function with no invocation in flight, or a new one
        (its process starts, cold, on its first invocation). Each is a pool of one
        process, so that one dying fails its own batch only, as on Lambda."""
        busy = {f.environment for f in self.in_flight}
        warm = self.environments.setdefault(mapping.name, [])
        for each in warm:
            if each not in busy:
                return each
        assert mapping.entry is not None  # checked when the event source was made
        started = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_cold_start,
            initargs=(mapping.name, mapping.entry, dict(mapping.environment), mapping.memory),
        )
        warm.append(started)
        return started

    def _start(self, mapping: FunctionMapping, received: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(mapping, m) for m in received]}
        self.invocations += 1
        self.delivered[mapping.name] += len(received)
        self.largest = max([self.largest, *(len(m["Body"].encode()) for m in received)])
        context = Context(
            mapping.name,
            memory_limit_in_mb=mapping.memory or 512,
            deadline=time.monotonic() + mapping.timeout,
        )
        if self.side_by_side:
            runs_in = self._environment(mapping)
            with _no_main():  # a cold environment's process starts in submit
                outcome = runs_in.submit(_invoke_warm, event, context)
            self.in_flight.append(_InFlight(mapping, received, outcome, runs_in))
        else:
            outcome = Future()
            with environment(mapping.environment):
                outcome.set_result(_call(mapping.handler, event, context))
            self.in_flight.append(_InFlight(mapping, received, outcome, None))

    def settle(self, *, block: bool, timeout: float = 0.25) -> int:
        """Delete the records of each invocation that has ended, and send back those it
        failed; with ``block``, first wait (up to ``timeout``) for one to end. The
        invocations settled."""
        if block and self.in_flight:
            wait([f.outcome for f in self.in_flight], timeout, FIRST_COMPLETED)
        # One look at each: an invocation that ends between two looks would be neither
        # settled nor in flight, and its records would stay hidden until their
        # visibility timeout.
        ended: list[_InFlight] = []
        going: list[_InFlight] = []
        for flight in self.in_flight:
            (ended if flight.outcome.done() else going).append(flight)
        self.in_flight = going
        for flight in ended:
            self._end(flight)
        return len(ended)

    def _end(self, flight: _InFlight) -> None:
        mapping, received, name = flight.mapping, flight.received, flight.mapping.name
        try:
            outcome = flight.outcome.result()
        except Exception:  # the environment died: another starts for the next batch
            outcome = Outcome(None, 0.0, 0.0, 0.0)
            if flight.environment is not None:
                self.environments[name].remove(flight.environment)
                flight.environment.shutdown(wait=False)
        # a crash fails the whole batch
        failed = {m["MessageId"] for m in received} if outcome.failed is None else outcome.failed
        self.busy[name] = self.busy.get(name, 0.0) + outcome.wall
        self.slowest[name] = max(self.slowest.get(name, 0.0), outcome.wall)
        self.cpu[name] = self.cpu.get(name, 0.0) + outcome.cpu
        self.slowest_cpu[name] = max(self.slowest_cpu.get(name, 0.0), outcome.cpu)
        self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), outcome.peak_mb)
        # A FIFO queue's CPU time by message group, each record its share of the
        # invocation: what a bench needs to say what runs side by side on Lambda and
        # what in turn.
        for message in received:
            group = message["Attributes"].get("MessageGroupId")
            if group is not None:
                groups = self.by_group[name]
                groups[group] = groups.get(group, 0.0) + outcome.cpu / len(received)
        self.failures += len(failed)
        for message in received:
            if message["MessageId"] in failed:
                self._return(mapping, message)
            else:
                self.sqs.delete_message(
                    QueueUrl=mapping.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def waiting_later(self) -> int:
        """Messages that are delayed (sent back to wait), in flight, or visible but not
        received this round (a killed batch coming back): not done yet."""
        count = 0
        for mapping in self.mappings:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=mapping.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesDelayed",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            count += sum(int(v) for v in attributes.values())
        return count

    def drain(self, rounds: int = 400, patience: float = 60.0) -> int:
        """Poll every queue until all are empty and nothing is in flight, waiting for
        messages that were sent back with a delay; the records delivered. A mapping with
        a batching window is polled only when the others have nothing to do. ``rounds``
        bounds the times every queue is polled."""
        delivered = 0
        deadline = time.monotonic() + patience
        for _ in range(rounds):
            moved = sum(self.poll(mapping) for mapping in self.mappings if not mapping.window)
            busy = any(not f.mapping.window for f in self.in_flight)
            if moved == 0 and not busy:
                moved = sum(self.poll(mapping) for mapping in self.mappings if mapping.window)
            delivered += moved
            if self.in_flight:
                self.settle(block=True)
            elif moved == 0:
                if not self.waiting_later() or time.monotonic() > deadline:
                    return delivered
                time.sleep(0.25)
        raise RuntimeError(f"queues still busy after {rounds} rounds")
