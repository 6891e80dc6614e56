"""The COPY of a contacts import's accepted rows into PostgreSQL, from a thread of its own."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import psycopg

_CONTACT_COPY = (
    "COPY contacts (id, campaign_id, external_id, first_name, last_name, postal_code, "
    "time_zone, custom_fields, expires_at) FROM STDIN"
)
_TARGET_COPY = (
    "COPY targets (contact_id, campaign_id, position, description, e164, "
    "candidate_time_zones, max_attempts, unavailable_reason) FROM STDIN"
)


class CopyWriter:
    """Sends the batches' COPY data from a thread of its own, so that PostgreSQL inserts
    one batch while this process checks the next: the two run on different cores.

    The thread is the only user of the connection until finish() returns. A database
    error ends the thread; it is raised in the caller by the next put() or by finish().
    """

    def __init__(self, conn: psycopg.Connection[Any], depth: int = 2) -> None:
        self.conn = conn
        self.error: BaseException | None = None
        self.busy = 0.0
        self._queue: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(depth)
        self._thread = threading.Thread(target=self._run, name="contacts-copy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        q = self._queue
        try:
            with self.conn.cursor() as cur:
                while (item := q.get()) is not None:
                    started = time.perf_counter()
                    contacts, targets = item
                    with cur.copy(_CONTACT_COPY) as copy:
                        copy.write(contacts)
                    with cur.copy(_TARGET_COPY) as copy:
                        copy.write(targets)
                    self.busy += time.perf_counter() - started
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc
            while q.get() is not None:  # let put() callers go on until they see the error
                pass

    def put(self, contacts: bytes, targets: bytes) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put((contacts, targets))

    def finish(self) -> None:
        """Wait until every batch is in the database (or raise the error that stopped it)."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """Stop after the batch in progress (the transaction is being rolled back)."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(30)
