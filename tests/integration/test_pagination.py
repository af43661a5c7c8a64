"""Listing: newest first, keyset cursors that neither skip nor repeat while tasks keep
arriving, offset paging over a fixed window, the filters, and what list items leave out.
(Limits out of range and other bad parameters: test_errors.py.)
"""

import threading

from ltapi import Api, TERMINAL, format_ts, parse_ts, tenant_name, utcnow


class Producer(threading.Thread):
    """Creates tasks for a tenant until stopped (bounded), counting them."""

    def __init__(self, stack, tenant, limit=400):
        super().__init__(daemon=True)
        self.api = Api(stack, tenant)
        self.limit = limit
        self.ids = []
        self.errors = []
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.is_set() and len(self.ids) < self.limit:
            r = self.api.create("noop", {})
            if r.status_code == 202:
                self.ids.append(r.json()["id"])
            else:
                self.errors.append((r.status_code, r.text[:200]))

    def stop(self):
        self.stop_flag.set()
        self.join(30)
        assert not self.is_alive()


def ids_by_sql(stack, tenant, before=None):
    q = "SELECT id::text FROM tasks WHERE tenant = %s"
    args = [tenant]
    if before is not None:
        q += " AND created_at < %s"
        args.append(before)
    return [r[0] for r in stack.sql(q + " ORDER BY created_at DESC, id DESC", *args)]


def walk(api, wait_for_more=None, **params):
    """All pages by cursor; returns (ids in order, pages)."""
    seen, pages = [], []
    r = api.list(limit=7, **params)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["tasks"])
        assert len(body["tasks"]) <= 7
        seen += [t["id"] for t in body["tasks"]]
        if body["next_cursor"] is None:
            return seen, pages
        assert isinstance(body["next_cursor"], str) and body["next_cursor"]
        if wait_for_more is not None:
            wait_for_more()
        r = api.list(limit=7, cursor=body["next_cursor"], **params)


def test_cursor_walk_is_exact_while_tasks_arrive(stack):
    api = Api(stack, tenant_name("page"))
    for _ in range(45):
        api.create_ok("noop", {})
    producer = Producer(stack, api.tenant)
    producer.start()
    try:
        stack.wait_for(lambda: len(producer.ids) >= 3, timeout=10, what="the producer")
        existing = set(ids_by_sql(stack, api.tenant))

        def more():
            # Between two pages, at least one task is created: the walk really races.
            n = len(producer.ids)
            stack.wait_for(lambda: len(producer.ids) > n, timeout=10, what="a new task")

        seen, pages = walk(api, wait_for_more=more)
    finally:
        producer.stop()
    assert not producer.errors, producer.errors[:3]

    assert len(seen) == len(set(seen)), "a task appeared twice"
    missing = existing - set(seen)
    assert not missing, "%d tasks that existed when the walk began were skipped" % len(missing)
    assert set(seen) - existing <= set(producer.ids)
    assert len(pages) >= 7 and all(len(p) == 7 for p in pages[:-1])
    # Newest first throughout the walk, in the (created_at, id) order of the table.
    order = ids_by_sql(stack, api.tenant)
    pos = {tid: i for i, tid in enumerate(order)}
    assert [pos[t] for t in seen] == sorted(pos[t] for t in seen)


def test_offset_paging_over_a_fixed_window(stack):
    api = Api(stack, tenant_name("offset"))
    for _ in range(30):
        api.create_ok("noop", {})
    producer = Producer(stack, api.tenant)
    producer.start()
    try:
        stack.wait_for(lambda: len(producer.ids) >= 3, timeout=10, what="the producer")
        window_end = format_ts(utcnow())
        stack.wait_for(lambda: len(producer.ids) >= 6, timeout=10, what="later tasks")
        seen, offset = [], 0
        while True:
            r = api.list(limit=7, offset=offset, created_before=window_end)
            assert r.status_code == 200, r.text
            page = [t["id"] for t in r.json()["tasks"]]
            seen += page
            if len(page) < 7:
                break
            offset += 7
    finally:
        producer.stop()
    expected = ids_by_sql(stack, api.tenant, before=parse_ts(window_end))
    assert len(expected) >= 33
    assert seen == expected


def test_list_filters_and_fields(stack):
    api = Api(stack, tenant_name("filter"))
    done = [api.create_ok("noop", {"n": i})["id"] for i in range(3)]
    failed = [api.create_ok("sleep", {"ms": 1, "fail": "permanent"})["id"] for _ in range(2)]
    for tid in done + failed:
        api.wait_status(tid, TERMINAL, timeout=10)
    # Those were created well before this instant (they have run since); the ones below
    # are created after it.
    middle = format_ts(utcnow())
    stack.wait_for(lambda: format_ts(utcnow()) > middle, what="the next millisecond")
    pending = [api.create_ok("noop", {}, delay_s=60)["id"] for _ in range(2)]
    parked = api.create_ok("noop", {}, delay_s=60, queue="parked")["id"]
    cancelled = api.create_ok("noop", {}, delay_s=60)["id"]
    assert api.cancel(cancelled).status_code == 200

    def ids(**params):
        r = api.list(**params)
        assert r.status_code == 200, r.text
        return sorted(t["id"] for t in r.json()["tasks"])

    everything = done + failed + pending + [parked, cancelled]
    assert ids() == sorted(everything)
    assert ids(status="pending") == sorted(pending + [parked])
    assert ids(status="pending,cancelled") == sorted(pending + [parked, cancelled])
    assert ids(status="failed") == sorted(failed)
    assert ids(status="running,retry") == []
    assert ids(type="sleep") == sorted(failed)
    assert ids(type="noop", status="completed") == sorted(done)
    assert ids(queue="parked") == [parked]
    assert ids(queue="default") == sorted(set(everything) - {parked})
    assert ids(created_after=middle) == sorted(pending + [parked, cancelled])
    assert ids(created_before=middle) == sorted(done + failed)
    assert ids(created_after=middle, status="pending", queue="default") == sorted(pending)

    # List items leave out payload and result unless ?full=1.
    item = next(t for t in api.list(type="noop", status="completed").json()["tasks"])
    assert "payload" not in item and "result" not in item, item
    assert item["status"] == "completed" and item["type"] == "noop"
    full = api.list(type="noop", status="completed", full=1).json()["tasks"]
    assert sorted(t["payload"]["n"] for t in full) == [0, 1, 2]
    assert all(t["result"] == {} for t in full)

    # Limits at both ends; the last page says so.
    one = api.list(limit=1).json()
    assert len(one["tasks"]) == 1 and one["next_cursor"]
    assert one["tasks"][0]["id"] == cancelled          # newest first
    big = api.list(limit=200).json()
    assert len(big["tasks"]) == len(everything) and big["next_cursor"] is None
    assert len(api.list().json()["tasks"]) == len(everything)   # default 50
    for tid in pending + [parked]:
        api.cancel(tid)
