"""A worker serving several queues claims from each in turn: priorities order tasks
within a queue (API.md), and a busy queue must not starve another one."""

import os
import signal

from ltapi import Api, TERMINAL, tenant_name


def test_two_queues_are_served_in_turn(make_stack):
    st = make_stack(config={"worker.processes": 1, "worker.concurrency": 1,
                            "worker.claim_batch": 1, "worker.queues": ["qa", "qb"]})
    api = Api(st, tenant_name("queues"))
    child = st.worker_children()[0]
    os.kill(child, signal.SIGSTOP)
    try:
        a = [api.create_ok("sleep", {"ms": 20}, queue="qa")["id"] for _ in range(6)]
        b = [api.create_ok("sleep", {"ms": 20}, queue="qb")["id"] for _ in range(6)]
    finally:
        os.kill(child, signal.SIGCONT)
    for tid in a + b:
        assert api.wait_status(tid, TERMINAL, timeout=20)["status"] == "completed"
    rows = st.sql("SELECT queue FROM tasks WHERE id = ANY(%s::uuid[]) ORDER BY started_at",
                  a + b)
    order = [r[0] for r in rows]
    # One claim per task, the array turned after each claim: the queues alternate, so
    # neither waits for the other to empty. (All of qa first would be qa x6, qb x6.)
    assert order[:4].count("qa") == 2 and order[:4].count("qb") == 2, order
    switches = sum(1 for x, y in zip(order, order[1:]) if x != y)
    assert switches >= 8, order
