"""Start/stop helpers for the fake brokers (tests and the foreground command).

Programmatic use::

    with FakeBrokers(delay_seconds=1) as fakes:
        fakes.lean.url, fakes.alpaca.url
        fakes.lean.set_fault("down")

Foreground use (what a ``fake_brokers`` management command wires to)::

    serve_forever_both(lean_port=8781, alpaca_port=8782, write=self.stdout.write)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Self

from .alpaca import FakeAlpaca
from .base import DEFAULT_DELAY_SECONDS, FAULT_MODES
from .lean import FakeLeanRunner

DEFAULT_LEAN_PORT = 8781
DEFAULT_ALPACA_PORT = 8782


def start_fake_lean(
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    delay_seconds: float = DEFAULT_DELAY_SECONDS,
    log_requests: bool = False,
) -> FakeLeanRunner:
    """Start a fake LEAN runner in a daemon thread; call ``.shutdown()`` when done."""
    return FakeLeanRunner(
        host, port, delay_seconds=delay_seconds, log_requests=log_requests
    ).start()


def start_fake_alpaca(
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    delay_seconds: float = DEFAULT_DELAY_SECONDS,
    log_requests: bool = False,
) -> FakeAlpaca:
    """Start a fake Alpaca API in a daemon thread; call ``.shutdown()`` when done."""
    return FakeAlpaca(host, port, delay_seconds=delay_seconds, log_requests=log_requests).start()


def book_paths(book_dir: Path | str | None) -> dict[str, Path | None]:
    """Where each fake keeps its book under ``book_dir`` (``None``: in memory)."""
    if book_dir is None:
        return {"lean": None, "alpaca": None}
    return {name: Path(book_dir) / f"{name}.json" for name in ("lean", "alpaca")}


class FakeBrokers:
    """Both fakes together; usable as a context manager. With ``book_dir`` their books of orders
    are kept in ``lean.json`` and ``alpaca.json`` there, across restarts."""

    def __init__(
        self,
        lean_port: int = 0,
        alpaca_port: int = 0,
        host: str = "127.0.0.1",
        *,
        delay_seconds: float = DEFAULT_DELAY_SECONDS,
        log_requests: bool = False,
        book_dir: Path | str | None = None,
    ) -> None:
        books = book_paths(book_dir)
        self.lean = FakeLeanRunner(
            host, lean_port, delay_seconds=delay_seconds, log_requests=log_requests, book_path=books["lean"]
        )
        try:
            self.alpaca = FakeAlpaca(
                host, alpaca_port, delay_seconds=delay_seconds, log_requests=log_requests,
                book_path=books["alpaca"],
            )
        except BaseException:
            self.lean.shutdown()
            raise

    def start(self) -> FakeBrokers:
        self.lean.start()
        self.alpaca.start()
        return self

    def set_fault(self, mode: str, delay_seconds: float | None = None) -> None:
        """Set the same fault mode on both fakes."""
        self.lean.set_fault(mode, delay_seconds)
        self.alpaca.set_fault(mode, delay_seconds)

    def set_latency(self, seconds: float) -> None:
        """Hold every answer of both fakes this long (see :meth:`FakeBrokerServer.set_latency`)."""
        self.lean.set_latency(seconds)
        self.alpaca.set_latency(seconds)

    def reset(self) -> None:
        """Clear all orders and go back to ``ok`` on both fakes."""
        for fake in (self.lean, self.alpaca):
            fake.reset()
            fake.set_fault("ok")

    def shutdown(self) -> None:
        try:
            self.lean.shutdown()
        finally:
            self.alpaca.shutdown()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve_forever_both(
    lean_port: int = DEFAULT_LEAN_PORT,
    alpaca_port: int = DEFAULT_ALPACA_PORT,
    host: str = "127.0.0.1",
    *,
    delay_seconds: float = DEFAULT_DELAY_SECONDS,
    log_requests: bool = True,
    write: Callable[[str], object] = print,
    stop_event: threading.Event | None = None,
    book_dir: Path | str | None = None,
) -> None:
    """Serve both fakes in the foreground until Ctrl-C (or ``stop_event`` is set).

    Prints the two base URLs first. Port ``0`` picks a free port.
    """
    fakes = FakeBrokers(
        lean_port, alpaca_port, host, delay_seconds=delay_seconds, log_requests=log_requests, book_dir=book_dir
    ).start()
    write(f"fake LEAN runner: {fakes.lean.url}")
    write(f"fake Alpaca:      {fakes.alpaca.url}")
    if book_dir is not None:
        write(f"books kept in {book_dir} ({len(fakes.lean.orders())} LEAN and {len(fakes.alpaca.orders())} "
              "Alpaca orders now)")
    write(f"fault switch: POST <url>/_fault {{\"mode\": \"{'|'.join(FAULT_MODES)}\", "
          "\"delay_seconds\": 10}; Ctrl-C to stop")
    stop = stop_event or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fakes.shutdown()
