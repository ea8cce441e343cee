"""Two changes to one case at the same moment: the first holds the case's row lock while the second waits for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection, transaction

from tests.support.waiting import wait_for

T = TypeVar("T")

WAITING_FOR_A_LOCK = (
    "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
)


def _someone_waits() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("select pg_stat_clear_snapshot()")  # read anew, not as when the transaction first read it
        cursor.execute(WAITING_FOR_A_LOCK)
        return cursor.fetchone()[0] > 0


def while_held(hold: Callable[[], object], then: Callable[[], T]) -> T:
    """Run `hold` in a transaction (it takes the lock and changes what it changes), and `then` in another thread and
    connection, which must wait for that lock: the transaction commits once `then` waits, and `then`'s result is
    returned (or what it raised, raised here)."""
    outcome: dict[str, object] = {}
    started = threading.Event()

    def run() -> None:
        started.set()
        try:
            outcome["value"] = then()
        except Exception as exc:  # noqa: BLE001 - raised again in the test's thread
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    with transaction.atomic():
        hold()
        thread.start()
        started.wait()
        wait_for(_someone_waits, message="the second change to wait for the first's lock")
    thread.join(timeout=60)
    assert not thread.is_alive(), "the second change did not end"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
