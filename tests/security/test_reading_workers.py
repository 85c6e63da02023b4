"""A batch handed to the reading workers: a message that overruns, crashes its worker or
is refused meanwhile costs only itself; the messages queued behind it in the same
worker are read by the fresh one, and the readings come back in the batch's order."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.hostile import RULES
from tests.security.poison_mail import slow_mail
from triaged.core.reading import Reading
from triaged.usecases.reader import Reader, crash_reason, overrun_reason


def small(n: int) -> bytes:
    return (f"From: customer{n}@example.test\r\nTo: support@acme.example\r\n"
            f"Subject: Order {n}\r\n\r\nMy cake number {n} arrived crushed.\r\n").encode()


SLOW = slow_mail("slow@example.test", "support@acme.example")


@pytest.fixture(params=[1, 2], ids=["one worker", "two workers"])
def reader(request: pytest.FixtureRequest) -> Iterator[Reader]:
    made = Reader(RULES, budget=1.0, workers=request.param)
    made.start()
    yield made
    made.close()


def read_batch(reader: Reader, datas: list[bytes],
               meanwhile: Callable[[int], Callable[[], str]] = lambda i: lambda: "",
               ) -> list[Reading]:
    return reader.read_all(datas, lambda: None, meanwhile)()


def subjects(readings: list[Reading]) -> list[str]:
    return [reading.mail.subject if reading.mail is not None else reading.refused
            for reading in readings]


def test_a_slow_message_is_refused_alone_and_the_messages_behind_it_are_read(
        reader: Reader) -> None:
    datas = [small(0), SLOW, *(small(n) for n in range(1, 12))]

    readings = read_batch(reader, datas)

    assert subjects(readings) == ["Order 0", overrun_reason(1.0),
                                  *(f"Order {n}" for n in range(1, 12))]


def test_a_worker_killed_while_reading_refuses_that_message_only() -> None:
    reader = Reader(RULES, budget=30.0, workers=1)
    datas = [small(0), SLOW, *(small(n) for n in range(1, 12))]
    marked: list[int] = []

    def meanwhile(i: int) -> Callable[[], str]:
        def kill() -> str:
            marked.append(i)
            process = reader._workers[0]._process
            if i == 1 and process is not None:  # its worker dies while it is read
                process.kill()
            return ""
        return kill

    try:
        readings = read_batch(reader, datas, meanwhile)
    finally:
        reader.close()

    assert 1 in marked
    assert subjects(readings) == ["Order 0", crash_reason(-9),
                                  *(f"Order {n}" for n in range(1, 12))]


def test_a_message_refused_meanwhile_is_stopped_and_the_rest_read(reader: Reader) -> None:
    datas = [SLOW, *(small(n) for n in range(1, 12))]

    readings = read_batch(reader, datas,
                          lambda i: (lambda: "stopped the process too often") if i == 0
                          else (lambda: ""))

    assert subjects(readings) == ["stopped the process too often",
                                  *(f"Order {n}" for n in range(1, 12))]


def test_a_message_read_alone_is_timed_and_refused_as_in_a_batch(reader: Reader) -> None:
    assert reader.read(SLOW).refused == overrun_reason(1.0)
    reading = reader.read(small(7))
    assert reading.mail is not None
    assert reading.mail.subject == "Order 7"


# Reads a small message (the worker is then warm), says its reading process's pid, and
# reads a message of many parts that takes many seconds, until killed.
PARENT = """
import sys
from tests.faults.hostile import RULES
from tests.security.poison_mail import slow_mail
from triaged.usecases.reader import Reader
reader = Reader(RULES, budget=300.0, workers=1)
reader.read(b"From: a@example.test\\r\\nSubject: hi\\r\\n\\r\\nMy cake was late.\\r\\n")
print(reader._workers[0]._process.pid, flush=True)
reader.read(slow_mail("slow@example.test", "support@acme.example", notes=600_000))
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_reading_worker_dies_with_its_parent_even_in_the_middle_of_a_message() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).parents[2])
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        server = parent_of(worker)
        assert parent_of(server) == parent.pid  # forked by the fork server of the parent
        time.sleep(0.5)  # the worker is reading the slow message now
    finally:
        parent.kill()
        parent.wait()
    # Reading that message takes about 9 s on an idle machine: the worker must not.
    deadline = time.monotonic() + 3
    while alive(worker) or alive(server):
        assert time.monotonic() < deadline, "the reading process outlived its parent"
        time.sleep(0.05)


# Has two workers read a batch, then says how many processes it started itself, and
# whether one of them started exactly the workers.
TREE = """
from pathlib import Path
from tests.faults.hostile import RULES
from triaged.usecases.reader import Reader
def children(pid):
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]
reader = Reader(RULES, budget=30.0, workers=2)
mail = b"From: a@example.test\\r\\nSubject: hi\\r\\n\\r\\nMy cake was late.\\r\\n"
reader.read_all([mail] * 8, lambda: None, lambda i: lambda: "")()
workers = sorted(w._process.pid for w in reader._workers)
started = children(Path("/proc/self").resolve().name)
print(len(started), any(sorted(children(pid)) == workers for pid in started))
"""


def test_reading_starts_a_fork_server_and_its_workers_and_nothing_else() -> None:
    # Every process started stays for the daemon's life and holds an interpreter's
    # memory: none may be there for nothing (as a resource tracker would be).
    out = subprocess.run([sys.executable, "-c", TREE], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2]).stdout

    assert out.split() == ["1", "True"]
