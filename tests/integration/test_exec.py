"""Configured `exec` types on the real stack: the grading pipeline of
deploy/examples/grading_pipeline.py (stage progress in order, structured result, exit 75
retried, exit 2 permanent with stderr's tail in the error), and tests/tools/exec_fixture.py
for what only a fixture can show: a timeout and a cancel kill the whole process group
(no process carrying the fixture's marker survives, grandchildren included), and the
process sees exactly the configured environment (no LONGTASK_* secret of the worker).
"""

import os
import sys
import uuid

import pytest

from conftest import wait_for
from ltapi import Api, attempt_of, event_kinds, tenant_name

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
GRADER = os.path.join(ROOT, "deploy", "examples", "grading_pipeline.py")
FIXTURE = os.path.join(ROOT, "tests", "tools", "exec_fixture.py")

STAGES = [5, 15, 25, 40, 55, 75, 90, 100]

CONFIG = {
    "types": [
        {"name": "grade.homework", "handler": "exec", "command": [PYTHON, GRADER],
         "env": ["LANG=C.UTF-8"], "timeout_s": 60, "max_retries": 1,
         "backoff_base_ms": 100, "backoff_max_ms": 200, "cpu_s": 60, "memory_mb": 1024},
        {"name": "exec.fixture", "handler": "exec", "command": [PYTHON, FIXTURE],
         "env": ["FIXTURE_VAR=configured", "LANG=C.UTF-8"], "workdir": "/tmp",
         "timeout_s": 30, "max_retries": 0, "kill_grace_ms": 500,
         "stderr_tail_bytes": 256},
    ],
}


@pytest.fixture(scope="module")
def exec_stack(make_module_stack):
    return make_module_stack(config=CONFIG)


@pytest.fixture
def api(exec_stack):
    return Api(exec_stack, tenant_name("exec"))


def marked_pids(marker):
    """Live processes (not zombies) whose argv carries marker."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/stat" % name) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmd and state not in ("Z", "X"):
            found.append(int(name))
    return found


def wait_progress(api, task_id, timeout=15):
    return wait_for(lambda: (lambda t: t if t["progress"] > 0 else None)(api.task(task_id)),
                    timeout=timeout, what="progress of %s" % task_id)


def test_grading_pipeline_completes_with_stages(api):
    payload = {
        "student": "ana",
        "answers": ["Photosynthesis turns light, water and CO2 into sugar", {"question": "2",
                                                                               "text": "42"}],
        "rubric": [{"question": "1", "points": 6, "keywords": ["light", "sugar", "chlorophyll"]},
                   {"question": "2", "points": 4, "expected": "42"}],
    }
    task = api.create_ok("grade.homework", payload)
    final = api.wait_status(task["id"], ["completed", "failed"], timeout=30)
    assert final["status"] == "completed", final
    r = final["result"]
    assert r["student"] == "ana"
    assert r["score"] == 8 and r["max_score"] == 10
    assert [q["question"] for q in r["questions"]] == ["1", "2"]
    assert "chlorophyll" in r["questions"][0]["feedback"]
    assert [s["progress"] for s in r["stages"]] == STAGES
    assert final["progress"] == 100

    progress = [e for e in api.history(task["id"]) if e["kind"] == "progress"]
    assert [e["progress"] for e in progress] == STAGES
    assert progress[0]["message"].startswith("[5%] Orchestrate: ")
    assert progress[5]["message"].startswith("[75%] Grade: ")
    assert progress[-1]["message"].startswith("[100%] Done: ")


def test_transient_exit_75_is_retried(api, exec_stack):
    task = api.create_ok("grade.homework",
                         {"student": "bo", "answers": ["x"], "options": {"fail_transient": True}})
    final = api.wait_status(task["id"], ["completed", "failed"], timeout=30)
    assert final["status"] == "failed", final
    assert final["metadata"].get("retry_exhausted") is True, final
    assert "exit status 75" in final["error"], final
    assert "simulated upstream outage" in final["error"], final
    assert attempt_of(exec_stack, task["id"]) == 2
    kinds = [k for k in event_kinds(exec_stack, task["id"]) if k != "progress"]
    assert kinds == ["created", "started", "retry", "started", "failed"]


def test_invalid_input_is_permanent_with_stderr(api, exec_stack):
    task = api.create_ok("grade.homework", {"answers": []})
    final = api.wait_status(task["id"], ["completed", "failed"], timeout=30)
    assert final["status"] == "failed", final
    assert final["error"].startswith("exit status 2: "), final
    assert "invalid input: student must be a non-empty string" in final["error"]
    assert not final["metadata"].get("retry_exhausted"), final
    assert attempt_of(exec_stack, task["id"]) == 1


def test_fixture_failure_keeps_stderr_tail(api):
    task = api.create_ok("exec.fixture",
                         {"mode": "fail", "code": 3, "stderr": "x" * 1000 + " the real reason"})
    final = api.wait_status(task["id"], ["completed", "failed"], timeout=20)
    assert final["status"] == "failed", final
    assert final["error"].startswith("exit status 3: ..."), final
    assert final["error"].endswith("the real reason"), final
    assert len(final["error"]) < 400  # the tail, not the whole stderr


def test_environment_is_exactly_the_configured_one(api, exec_stack):
    task = api.create_ok("exec.fixture", {"mode": "env"})
    final = api.wait_status(task["id"], ["completed", "failed"], timeout=20)
    assert final["status"] == "completed", final
    env = final["result"]["env"]
    assert env.get("FIXTURE_VAR") == "configured"
    assert not [k for k in env if k.startswith("LONGTASK_")], env
    assert exec_stack.jwt_secret not in env.values()
    assert "PATH" not in env and "HOME" not in env, env
    assert final["result"]["cwd"] == "/tmp"


def test_timeout_kills_the_whole_group(api):
    marker = "lt-it-timeout-" + uuid.uuid4().hex
    task = api.create_ok("exec.fixture", {"mode": "hang", "marker": marker, "ignore_term": True},
                         timeout_s=3)
    wait_progress(api, task["id"])
    assert len(marked_pids(marker)) == 2  # the fixture and its grandchild
    final = api.wait_status(task["id"], ["completed", "failed"], timeout=20)
    assert final["status"] == "failed", final
    assert "timeout" in final["error"], final
    # They ignore SIGTERM: gone after the 500 ms grace, by SIGKILL to the group.
    wait_for(lambda: not marked_pids(marker), timeout=5, what="no process with the marker")


def test_cancel_kills_the_whole_group_promptly(api):
    marker = "lt-it-cancel-" + uuid.uuid4().hex
    task = api.create_ok("exec.fixture", {"mode": "hang", "marker": marker})
    running = wait_progress(api, task["id"])
    pids = [int(p) for p in running["progress_message"].split()]
    assert sorted(pids) == sorted(marked_pids(marker))
    r = api.cancel(task["id"])
    assert r.status_code == 202, r.text
    final = api.wait_status(task["id"], ["cancelled", "failed", "completed"], timeout=5)
    assert final["status"] == "cancelled", final
    wait_for(lambda: not marked_pids(marker), timeout=3, what="no process with the marker")


def test_drain_hands_back_and_kills_the_group(api, exec_stack):
    """SIGTERM to the worker: after worker.drain_s (2 s) the running exec task is handed
    back and its process group killed, even processes that ignore SIGTERM. Last in the
    module: it restarts the worker."""
    marker = "lt-it-drain-" + uuid.uuid4().hex
    task = api.create_ok("exec.fixture", {"mode": "hang", "marker": marker, "ignore_term": True})
    wait_progress(api, task["id"])
    assert len(marked_pids(marker)) == 2
    try:
        exec_stack.stop_program("worker")
        wait_for(lambda: not marked_pids(marker), timeout=5, what="no process with the marker")
        t = api.task(task["id"])
        assert t["status"] == "retry", t
        assert attempt_of(exec_stack, task["id"]) == 0  # handed back: no attempt charged
        assert api.cancel(task["id"]).status_code == 200
    finally:
        exec_stack.start_program("worker")
