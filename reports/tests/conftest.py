"""The reports tests' own fixture, ``lw`` (the shared ones, ``world``, ``vw`` and ``rw``, are in tests/fixtures/).

``lw``, the ledgers' world (test_ledgers.py, test_monthly.py): ``rw`` (the small street, the 2026
campaign, the grid workers' assignments, the community staff) with these visits (ha and hb in
湖田社区, hc in 南纬社区):

    v1 ha grid_a 2026-09-28 入户 9:00–9:40   2 issues raised (i1, i2)
    v2 ha grid_a 2026-10-09 电话 20 min (short, with a reason)
    v3 ha grid_a 2026-10-09 入户 15:00       2 issues raised (i3 on the spot, i4 open)
    v4 hb grid_b 2026-10-12 入户             1 issue raised (i5)
    v5 hb grid_b 2026-10-15 未遇             (not counted in the monthly report)
    v6 hb grid_b 2026-10-20 回头看 (phone)   (not counted in the monthly report)
    v7 hb grid_a 2026-10-21 入户             (grid_a's worker visits a household of grid_b)
    v8 hc dept1  2026-10-12 入户

Who sees which visits: admin and leader 8, the secretary of 湖田社区 7, grid_a's worker 3 (v1–v3:
only ha is his), grid_b's worker 4 (v4–v7), the department handler 1 (v8: hc is assigned to him).
"""

import datetime

import pytest

from issues.models import Closure, Status
from issues.tests.factories import make_issue
from reports.tests.factories import make_visit
from visits.models import Purpose

D = datetime.date
T = datetime.time


@pytest.fixture
def lw(rw):
    w = rw
    wa, wb = w.worker_a, w.worker_b
    w.v1 = make_visit(
        w, w.ha, wa, D(2026, 9, 28),
        answers={"living": {"answer": "楼道灯坏了两周", "needs_help": True}, "health": {"answer": "", "needs_help": False},
                 "welfare": {"answer": "", "needs_help": True}},
        checklist=["know_family", "know_living", "done_care", "bogus"], card_given=True, satisfaction="satisfied",
        notes="老人独居，子女在外地",
    )  # fmt: skip
    w.v2 = make_visit(w, w.ha, wa, D(2026, 10, 9), method="phone", minutes=20, short_reason="户主在外地务工，电话联系")
    w.v3 = make_visit(w, w.ha, wa, D(2026, 10, 9), start=T(15, 0))
    w.v4 = make_visit(w, w.hb, wb, D(2026, 10, 12))
    w.v5 = make_visit(w, w.hb, wb, D(2026, 10, 15), method="not_home", minutes=5)
    w.v6 = make_visit(w, w.hb, wb, D(2026, 10, 20), method="phone", purpose=Purpose.FOLLOW_UP)
    w.v7 = make_visit(w, w.hb, wa, D(2026, 10, 21))
    w.v8 = make_visit(w, w.hc, w.handler, D(2026, 10, 12))
    # Issues raised by grid_a's worker: i1 answered in October, i2 answered in September (closed in
    # October), i3 solved on the spot in October, i4 still open; grid_b's worker raised i5 in October.
    closed = dict(status=Status.CLOSED, closure=Closure.SOLVED, department=w.dept)
    w.i1 = make_issue(w.ha, raised_by=wa, registered_on=D(2026, 9, 28), answered_on=D(2026, 10, 5),
                      closed_on=D(2026, 10, 6), **closed)  # fmt: skip
    w.i2 = make_issue(w.ha, raised_by=wa, registered_on=D(2026, 9, 28), answered_on=D(2026, 9, 30),
                      closed_on=D(2026, 10, 3), **closed)  # fmt: skip
    w.i3 = make_issue(w.ha, raised_by=wa, registered_on=D(2026, 10, 9), status=Status.CLOSED,
                      closure=Closure.ON_THE_SPOT, answered_on=D(2026, 10, 9), closed_on=D(2026, 10, 9))  # fmt: skip
    w.i4 = make_issue(w.ha, raised_by=wa, registered_on=D(2026, 10, 9))
    w.i5 = make_issue(w.hb, raised_by=wb, registered_on=D(2026, 10, 12))
    # Raised in visits (the link is the visits app's: RaisedIssue).
    w.v1.issues.add(w.i1, w.i2)
    w.v3.issues.add(w.i3, w.i4)
    w.v4.issues.add(w.i5)
    return w
