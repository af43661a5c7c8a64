"""
test_nginx.py -- both nginx configurations pass `nginx -t`, and the errors nginx
produces itself (unknown path, body over the limit, API socket gone) answer RFC 9457
problem+json instead of nginx's HTML pages.
"""

import os
import pwd
import subprocess

import pytest
import requests

from stack import NGINX, ROOT

NGINX_DIR = os.path.join(ROOT, "nginx")


def nginx_t(prefix, conf):
    res = subprocess.run([NGINX, "-t", "-e", "stderr", "-p", prefix, "-c", conf],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stdout
    assert "test is successful" in res.stdout
    return res.stdout


def test_dev_config_passes_nginx_t(tmp_path):
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "tmp").mkdir()
    with open(os.path.join(NGINX_DIR, "dev.conf.in")) as f:
        text = f.read()
    user = ""
    if os.geteuid() == 0:
        user = "user %s;" % ("postgres" if _has_user("postgres") else "nobody")
    for key, value in (("@PREFIX@", str(prefix)), ("@PORT@", "18080"),
                       ("@SOCKET@", str(tmp_path / "api.sock")),
                       ("@WEBROOT@", os.path.join(ROOT, "web")), ("@USER@", user)):
        text = text.replace(key, value)
    assert "@" not in "".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    nginx_t(str(prefix), str(conf))


def test_production_config_passes_nginx_t(tmp_path):
    # A minimal http{} around the server block, as a distribution's nginx.conf would
    # include it; fastcgi_params is a stub beside the wrapper (nginx resolves the
    # relative include against the configuration's directory).
    (tmp_path / "fastcgi_params").write_text(
        "fastcgi_param QUERY_STRING $query_string;\n"
        "fastcgi_param REQUEST_METHOD $request_method;\n")
    (tmp_path / "logs").mkdir()
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(
        "pid %(p)s/nginx.pid;\nerror_log %(p)s/logs/error.log;\n"
        "events {}\nhttp {\n"
        "    access_log %(p)s/logs/access.log;\n"
        "    client_body_temp_path %(p)s/client_body; proxy_temp_path %(p)s/proxy;\n"
        "    fastcgi_temp_path %(p)s/fastcgi; uwsgi_temp_path %(p)s/uwsgi;\n"
        "    scgi_temp_path %(p)s/scgi;\n"
        "    include %(conf)s;\n}\n" % {"p": tmp_path,
                                        "conf": os.path.join(NGINX_DIR, "longtask.conf")})
    nginx_t(str(tmp_path), str(wrapper))


def _has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_production_and_dev_configs_have_the_same_locations():
    def locations(path):
        with open(path) as f:
            return sorted(l.strip().rstrip("{").strip() for l in f
                          if l.strip().startswith("location"))
    assert locations(os.path.join(NGINX_DIR, "longtask.conf")) == \
        locations(os.path.join(NGINX_DIR, "dev.conf.in"))


@pytest.fixture(scope="module")
def bare(make_module_stack):
    """nginx and PostgreSQL only: no API behind the socket."""
    return make_module_stack(programs=(), reaper_loop=None)


def assert_problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].startswith("urn:longtask:error:") and body["title"]
    return body


def test_unknown_path_is_a_json_404(bare):
    assert_problem(requests.get(bare.url + "/no/such/page", timeout=10), 404, "not_found")


def test_body_over_the_limit_is_a_json_413_from_nginx(bare):
    r = requests.post(bare.url + "/api/v1/tasks", data=b"x" * (1024 * 1024 + 1),
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert_problem(r, 413, "payload_too_large")


def test_api_socket_gone_is_a_json_502(bare):
    assert not os.path.exists(bare.socket)
    for path in ("/api/v1/tasks", "/readyz", "/api/v1/tasks/x/events"):
        r = requests.get(bare.url + path, timeout=10)
        body = assert_problem(r, 502, "api_unavailable")
        assert r.headers.get("Retry-After") == "5"
        assert "API" in body["detail"]


def test_api_restart_brings_back_service(stack):
    """On the full stack: the API gone answers 502 problem+json, and comes back."""
    stack.stop_program("api")
    try:
        r = requests.get(stack.url + "/readyz", timeout=10)
        assert_problem(r, 502, "api_unavailable")
    finally:
        stack.start_program("api")
        stack.wait_ready()
    assert requests.get(stack.url + "/readyz", timeout=10).status_code == 200


def test_api_errors_pass_through_untouched(stack):
    r = requests.get(stack.url + "/api/v1/no-such-thing", timeout=10,
                     headers={"Authorization": "Bearer " + stack.token()})
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/problem+json")
    # The API's own body, not nginx's generic one.
    assert r.json().get("detail") != "no such path"


def test_static_dashboard_is_served(bare):
    if not os.path.exists(os.path.join(ROOT, "web", "index.html")):
        pytest.skip("web/index.html not written yet")
    r = requests.get(bare.url + "/", timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    assert_problem(requests.post(bare.url + "/index.html", timeout=10), 405,
                   "method_not_allowed")
