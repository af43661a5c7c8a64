"""SIGHUP: the API and worker masters reload the configuration file and replace their
children; a file that no longer loads is refused and the running configuration kept."""

import signal


def _reload(stack, name, **settings):
    stack.overrides.update(settings)
    stack.write_config()
    stack.signal(name, signal.SIGHUP)


def test_sighup_reloads_worker_and_api_pools(make_stack, client_for):
    s = make_stack(**{"worker__processes": 1, "api__processes": 2})
    s.wait_for(lambda: len(s.worker_children()) == 1, what="one worker child")
    s.wait_for(lambda: len(s.children("api")) == 2, what="two API processes")
    old_worker = set(s.worker_children())
    old_api = set(s.children("api"))

    _reload(s, "worker", **{"worker.processes": 3})
    s.wait_for(lambda: len(s.worker_children()) == 3
               and not old_worker & set(s.worker_children()),
               timeout=20, what="three new worker children after SIGHUP")
    _reload(s, "api", **{"api.processes": 1})
    s.wait_for(lambda: len(s.children("api")) == 1 and not old_api & set(s.children("api")),
               timeout=20, what="one new API process after SIGHUP")

    # The reloaded pools still serve: a task goes through both.
    c = client_for(s)
    r = c.create("noop", {})
    assert r.status_code == 202, r.text
    assert c.wait_status(r.json()["id"], ["completed"])["status"] == "completed"
    assert not s.dead_programs()


def test_sighup_with_a_broken_file_keeps_the_running_configuration(make_stack, client_for):
    s = make_stack(**{"worker__processes": 2})
    s.wait_for(lambda: len(s.worker_children()) == 2, what="two worker children")
    before = set(s.worker_children())
    with open(s.conf, "a") as f:
        f.write("worker = { concurrency = \"many\"; };\n")  # a second group: a syntax error
    s.signal("worker", signal.SIGHUP)
    s.wait_for(lambda: "config_reload_failed" in s.log("worker"), what="the reload refused")
    assert set(s.worker_children()) == before
    c = client_for(s)
    r = c.create("noop", {})
    assert r.status_code == 202, r.text
    assert c.wait_status(r.json()["id"], ["completed"])["status"] == "completed"
