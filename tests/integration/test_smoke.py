"""The shortest end-to-end path through every program: create, run, cancel, read back.

`make valgrind` runs exactly these tests with the programs under valgrind, so they stay
few and quick; the behaviour they touch is tested in depth elsewhere."""


def test_smoke_noop_and_sleep_complete(client):
    r = client.create("noop", {})
    assert r.status_code == 202, r.text
    noop = r.json()
    r = client.create("sleep", {"ms": 300})
    assert r.status_code == 202, r.text
    sleep = r.json()

    done = client.wait_status(noop["id"], ["completed"], timeout=30)
    assert done["result"] == {}
    done = client.wait_status(sleep["id"], ["completed"], timeout=30)
    assert done["result"] == {"slept_ms": 300}
    assert done["progress"] == 100

    kinds = [e["kind"] for e in client.events(sleep["id"]).json()["events"]]
    assert kinds[0] == "created" and kinds[1] == "started" and kinds[-1] == "completed"


def test_smoke_cancel_running_and_list(client):
    r = client.create("sleep", {"ms": 60000})
    assert r.status_code == 202, r.text
    task = r.json()
    client.wait_status(task["id"], ["running"], timeout=30)
    r = client.cancel(task["id"])
    assert r.status_code == 202, r.text
    assert r.json()["cancel_requested"] is True
    done = client.wait_status(task["id"], ["cancelled"], timeout=30)
    assert done["completed_at"] is not None

    listed = client.list().json()["tasks"]
    assert [t["id"] for t in listed] == [task["id"]]
