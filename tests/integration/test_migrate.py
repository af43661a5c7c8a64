"""
test_migrate.py -- `longtask-reaper --migrate` on a fresh database applies every file
of sql/ in order, each recorded in schema_migrations; a second run applies nothing and
says so; concurrent migrators serialise; /readyz answers 503 while the schema is behind.
"""

import glob
import json
import os
import subprocess
import uuid

import psycopg2
import pytest
import requests

from stack import ROOT

SQL_FILES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "sql", "[0-9]*.sql")))
VERSIONS = [int(f.split("_")[0]) for f in SQL_FILES]


@pytest.fixture(scope="module")
def ms(make_module_stack):
    return make_module_stack(programs=(), reaper_loop=None)


@pytest.fixture
def fresh_db(ms):
    """A new, empty database in the module's cluster; its URL."""
    name = "fresh_" + uuid.uuid4().hex[:10]
    ms.sql("CREATE DATABASE " + name)
    yield ms.db_url.rsplit("/", 1)[0] + "/" + name
    ms.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def events(stderr):
    return [json.loads(x) for x in stderr.splitlines() if x.startswith("{")]


def query(url, q):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(q)
            return cur.fetchall()
    finally:
        conn.close()


def test_fresh_database_gets_every_migration_then_none(ms, fresh_db):
    rc, err = ms.reaper("--migrate", env={"LONGTASK_DATABASE_URL": fresh_db})
    assert rc == 0, err
    ev = events(err)
    applied = [e["name"] for e in ev if e["event"] == "migration_applied"]
    assert applied == SQL_FILES
    done = [e for e in ev if e["event"] == "migrate_done"][-1]
    assert done["applied"] == len(SQL_FILES) and done["version"] == max(VERSIONS)
    rows = query(fresh_db, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert rows == list(zip(VERSIONS, SQL_FILES))
    assert query(fresh_db, "SELECT to_regclass('tasks') IS NOT NULL")[0][0] is True

    rc, err = ms.reaper("--migrate", env={"LONGTASK_DATABASE_URL": fresh_db})
    assert rc == 0, err
    ev = events(err)
    assert not [e for e in ev if e["event"] == "migration_applied"]
    done = [e for e in ev if e["event"] == "migrate_done"][-1]
    assert done["applied"] == 0 and "nothing to apply" in done["msg"]
    assert query(fresh_db, "SELECT count(*) FROM schema_migrations")[0][0] == len(SQL_FILES)


def test_only_missing_migrations_are_applied(ms, fresh_db):
    """A database one migration behind, as a deployment of the previous release left it
    (every file but the last applied and recorded), gets exactly the last one."""
    if len(SQL_FILES) < 2:
        pytest.skip("needs a migration before the last")
    conn = psycopg2.connect(fresh_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name, version in zip(SQL_FILES[:-1], VERSIONS[:-1]):
            with open(os.path.join(ROOT, "sql", name)) as f:
                cur.execute(f.read())
            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, name))
    conn.close()
    rc, err = ms.reaper("--migrate", env={"LONGTASK_DATABASE_URL": fresh_db})
    assert rc == 0, err
    assert [e["name"] for e in events(err) if e["event"] == "migration_applied"] == \
        [SQL_FILES[-1]]
    assert query(fresh_db, "SELECT max(version) FROM schema_migrations")[0][0] == VERSIONS[-1]


def test_concurrent_migrators_serialise(ms, fresh_db):
    env = dict(ms.env(), LONGTASK_DATABASE_URL=fresh_db)
    procs = [subprocess.Popen([ms.binary("reaper"), "-c", ms.conf, "--migrate"],
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    applied = [e["name"] for o in outs for e in events(o) if e["event"] == "migration_applied"]
    assert sorted(applied) == SQL_FILES  # each applied exactly once, by whichever came first
    assert query(fresh_db, "SELECT count(*) FROM schema_migrations")[0][0] == len(SQL_FILES)


def test_migrate_combined_with_once(ms, fresh_db):
    rc, err = ms.reaper("--migrate", "--once", env={"LONGTASK_DATABASE_URL": fresh_db})
    assert rc == 0, err
    names = [e["event"] for e in events(err)]
    assert names.index("migrate_done") < names.index("reaper_run")


def test_migrate_unreachable_database_exits_1(ms):
    rc, err = ms.reaper("--migrate",
                        env={"LONGTASK_DATABASE_URL": "postgresql://longtask@127.0.0.1:1/x"})
    assert rc == 1
    assert any(e["event"] == "migrate_failed" for e in events(err))


def test_readyz_is_503_while_the_schema_is_behind(stack):
    last = max(VERSIONS)
    row = stack.sql("SELECT version, name, applied_at FROM schema_migrations WHERE version = %s",
                    last)
    assert row, "the stack's database is migrated"
    stack.sql("DELETE FROM schema_migrations WHERE version = %s", last)
    try:
        stack.wait_for(lambda: requests.get(stack.url + "/readyz", timeout=5).status_code == 503,
                       timeout=10, what="/readyz 503 with the schema behind")
        r = requests.get(stack.url + "/readyz", timeout=5)
        assert r.status_code == 503
    finally:
        stack.sql("INSERT INTO schema_migrations (version, name, applied_at) "
                  "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", *row[0])
    stack.wait_for(lambda: requests.get(stack.url + "/readyz", timeout=5).status_code == 200,
                   timeout=10, what="/readyz 200 again")


def test_readyz_answers_schema_outdated_when_its_table_goes(stack):
    """Once an API process has seen schema_migrations, /readyz reads the version with one
    prepared statement. Should the table go (renamed away here), that statement fails
    with undefined_table and the catalog check answers instead: 503 schema_outdated at
    version 0, not database_unavailable. Back in place, 200 again."""
    for _ in range(8):  # the API processes have seen the table
        assert requests.get(stack.url + "/readyz", timeout=5).status_code == 200
    logged = len(stack.log("api"))
    stack.sql("ALTER TABLE schema_migrations RENAME TO schema_migrations_away")
    try:
        for _ in range(8):
            r = requests.get(stack.url + "/readyz", timeout=5)
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "schema_outdated"
            assert "at version 0," in r.json()["detail"]
    finally:
        stack.sql("ALTER TABLE schema_migrations_away RENAME TO schema_migrations")
    stack.wait_for(lambda: requests.get(stack.url + "/readyz", timeout=5).status_code == 200,
                   timeout=10, what="/readyz 200 again")
    # The prepared statement was the one that failed: the fallback was taken.
    failed = [json.loads(x) for x in stack.log("api")[logged:].splitlines()
              if x.startswith("{") and '"42P01"' in x]
    assert failed and all("schema_migrations" in e["statement"] for e in failed), failed
