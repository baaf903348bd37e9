"""Racing calls against each other in threads (the locking tests; they need PostgreSQL)."""

import threading

from django.db import close_old_connections, connection


def race(*calls):
    """Run the calls in threads released together by a barrier; returns [(result, error)]."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = (call(), None)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[index] = (None, exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(not t.is_alive() for t in threads)
    return outcomes
