"""The HTTP client's edges that the deploy tests do not reach: transport failures, retry bounds,
the run's one time budget."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from clirun import run_cli, sentry_release_command
from gitrepo import GitRepo
from sentry_release.errors import ApiError, ConnectionFailed, ScopeError
from sentry_release.sentry import Context, SentryClient, seg

TOKEN = "sntryu_" + "c" * 64


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_versions_are_one_percent_encoded_path_segment() -> None:
    assert seg("shop@1.0.0+build 5#x?y%z") == "shop%401.0.0%2Bbuild%205%23x%3Fy%25z"


def test_connection_refused_names_the_host_and_is_bounded() -> None:
    port = closed_port()
    client = SentryClient(f"http://127.0.0.1:{port}", TOKEN, max_retries=2)
    delays: list[float] = []
    client.sleep = delays.append
    with pytest.raises(ConnectionFailed, match=f"127.0.0.1:{port}"):
        client.get("", Context("read auth info"))
    assert len(delays) == 2 and client.requests_sent == 3


def test_tls_failure_names_the_host_and_the_fix(sentry_emulator) -> None:
    # speaking TLS to the emulator's plain-HTTP port fails the handshake
    url = sentry_emulator.url.replace("http://", "https://")
    client = SentryClient(url, TOKEN, max_retries=0)
    with pytest.raises(ConnectionFailed) as caught:
        client.get("", Context("read auth info"))
    assert "127.0.0.1" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_max_retries_bounds_attempts_on_503(sentry_emulator) -> None:
    sentry_emulator.faults.add(status=503, times=None)
    client = SentryClient(sentry_emulator.url, sentry_emulator.token, max_retries=3)
    client.sleep = lambda seconds: None
    with pytest.raises(Exception, match="HTTP 503"):
        client.get("organizations/acme/releases/", Context("list releases"))
    assert len(sentry_emulator.requests) == 4


def test_retry_after_longer_than_budget_fails_at_once(sentry_emulator) -> None:
    sentry_emulator.faults.add(retry_after=600, times=None)
    client = SentryClient(sentry_emulator.url, sentry_emulator.token, max_retries=5, budget=10)
    with pytest.raises(ApiError, match=r"HTTP 429.*in 600 s, would come after the end of the run's 10 s time "
                                       r"budget.*--http-budget") as caught:
        client.get("organizations/acme/releases/", Context("list releases"))
    assert caught.value.status == 429 and caught.value.retryable is False
    assert len(sentry_emulator.requests) == 1


def test_scope_error_names_the_scope(sentry_emulator) -> None:
    client = SentryClient(sentry_emulator.url, sentry_emulator.ro_token)
    with pytest.raises(ScopeError, match="project:releases"):
        client.request("POST", "organizations/acme/releases/", Context("create release x"),
                       json={"version": "x", "projects": ["shop"]})


def test_pagination_follows_link_header(sentry_emulator) -> None:
    for number in range(7):
        sentry_emulator.add_repo("acme", f"acme/repo{number}", url=f"https://github.com/acme/repo{number}")
    client = SentryClient(sentry_emulator.url, sentry_emulator.token)
    names = [repo["name"] for repo in client.paginate("organizations/acme/repos/", Context("list"), {"per_page": 3})]
    assert sorted(names) == [f"acme/repo{n}" for n in range(7)]
    assert len(sentry_emulator.requests) == 3


def test_user_agent_and_bearer(sentry_emulator) -> None:
    client = SentryClient(sentry_emulator.url, sentry_emulator.token)
    client.get("", Context("read auth info"))
    headers = sentry_emulator.requests[0].headers
    assert headers["user-agent"].startswith("sentry-release/")
    assert headers["authorization"] == f"Bearer {sentry_emulator.token}"


def test_ca_bundle_that_does_not_exist_is_a_clear_error(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    https = sentry_emulator.url.replace("http://", "https://")
    result = run_cli(["new"], repo.path, env={**sentry_env, "SENTRY_URL": https, "SENTRY_CA_BUNDLE": "/nonexistent/ca.pem"})
    assert result.code == 1 and "/nonexistent/ca.pem" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def self_signed_sentry(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate, answering like Sentry's GET /api/0/."""
    import json
    import ssl
    import subprocess

    from stubserver import stub_server

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=sentry.internal", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)

    def answer(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps({"version": "0", "auth": {"scopes": ["project:releases"]}}).encode()
        return 200, {"Content-Type": "application/json"}, body

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with stub_server(answer, tls=context) as url:
        yield url, str(cert)


def test_self_hosted_tls_needs_and_accepts_a_ca_bundle(self_signed_sentry) -> None:
    url, cert = self_signed_sentry
    refused = SentryClient(url, TOKEN, max_retries=0)
    with pytest.raises(ConnectionFailed, match="SENTRY_CA_BUNDLE"):
        refused.get("", Context("read auth info"))
    trusted = SentryClient(url, TOKEN, ca_bundle=cert, max_retries=0)
    assert trusted.get("", Context("read auth info")).data["auth"]["scopes"] == ["project:releases"]


def test_sentry_pipeline_names_the_integration_in_the_user_agent(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    run_cli(["new"], repo.path, env={**sentry_env, "SENTRY_PIPELINE": "github-action/1.2"})
    assert sentry_emulator.requests[0].headers["user-agent"] == "sentry-release/0.1.0 github-action/1.2"


# -- one time budget for the whole run -----------------------------------------------------------

@pytest.fixture
def shop(repo: GitRepo) -> GitRepo:
    repo.commit("initial", {"app.py": "v0\n"}, date="2024-01-10T08:00:00+00:00")
    repo.tag("v1.0.0")
    repo.commit("fix app", {"app.py": "v1\n"}, date="2024-01-16T10:00:00+00:00")
    repo.git("remote", "add", "origin", "git@github.com:acme/shop.git")
    return repo


def test_hang_fault_accepts_and_never_answers(sentry_emulator) -> None:
    sentry_emulator.faults.add(hang=True)
    host, port = sentry_emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"GET /api/0/ HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            sock.recv(1)
        sentry_emulator.faults.clear()   # what the emulator's reset does: the hang ends unanswered
        sock.settimeout(10.0)
        assert sock.recv(1) == b""
    assert [r.fault for r in sentry_emulator.requests] == ["fault(hang)"]
    assert sentry_emulator.requests[0].status is None


def test_stalled_sentry_ends_the_run_within_its_budget(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.faults.add(hang=True, times=None)
    # the outer timeout is only a safety net against a hang of our own: nothing here is timed
    result = run_cli(["deploy", "-e", "production"], shop.path, env={**sentry_env, "SENTRY_HTTP_BUDGET": "3"},
                     timeout=60)
    assert result.code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    host = sentry_emulator.url.removeprefix("http://")
    assert last.startswith("sentry-release: error: ") and "Traceback" not in result.stderr
    assert f"{host} did not answer" in last
    assert "the run's 3 s time budget for Sentry is spent" in last
    assert "check that SENTRY_URL reaches a running Sentry" in last and "SENTRY_HTTP_BUDGET" in last
    assert sentry_emulator.deploys("acme", "v1.0.0-20240116") == []


def test_two_stalling_requests_share_one_budget(sentry_emulator) -> None:
    sentry_emulator.faults.add(hang=True, times=None)
    client = SentryClient(sentry_emulator.url, sentry_emulator.token, timeout=1.0, max_retries=0, budget=1.5)
    with pytest.raises(ConnectionFailed) as first:
        client.get("organizations/acme/releases/", Context("list releases"))
    assert "within the read timeout (1 s)" in str(first.value) and "budget" not in str(first.value)
    with pytest.raises(ConnectionFailed) as second:
        client.get("organizations/acme/repos/", Context("list repositories"))
    # the second attempt was given only what the first left of the 1.5 s
    waited = float(re.search(r"read timeout \(([0-9.]+) s\)", str(second.value)).group(1))
    assert waited <= 0.5
    assert "the run's 1.5 s time budget for Sentry is spent" in str(second.value)
    assert second.value.timed_out and second.value.retryable is False
    with pytest.raises(ConnectionFailed, match="no time left to create release x"):
        client.request("POST", "organizations/acme/releases/", Context("create release x"), json={"version": "x"})
    assert len(sentry_emulator.requests) == 2   # the third was never sent


def test_budget_is_per_client(sentry_emulator) -> None:
    sentry_emulator.faults.add(hang=True, times=1)
    spent = SentryClient(sentry_emulator.url, sentry_emulator.token, timeout=1.0, max_retries=0, budget=0.5)
    with pytest.raises(ConnectionFailed, match="is spent"):
        spent.get("", Context("read auth info"))
    fresh = SentryClient(sentry_emulator.url, sentry_emulator.token, timeout=1.0, max_retries=0, budget=0.5)
    assert fresh.get("", Context("read auth info")).status == 200


def test_extended_budget_lets_a_slow_answer_arrive(sentry_emulator) -> None:
    # Sentry takes 1.5 s to answer: more than the budget left, so only an extension lets it through
    sentry_emulator.faults.add(method="GET", stall=1.5, times=None)
    lines: list[str] = []
    client = SentryClient(sentry_emulator.url, sentry_emulator.token, timeout=5.0, max_retries=0, budget=1.0,
                          log=lines.append)
    with pytest.raises(ConnectionFailed, match="is spent"):
        client.get("", Context("read auth info"))
    client.extend_budget(5.0, "sending 2,000 commits, which Sentry stores one by one")
    assert lines == ["sending 2,000 commits, which Sentry stores one by one: allowing 5 s more"]
    assert client.request("GET", "", Context("read auth info"), read_timeout=5.0).status == 200


def test_ctrl_c_during_a_stalled_request_ends_cleanly(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.faults.add(hang=True, times=None)
    process = subprocess.Popen([*sentry_release_command(), "deploy", "-e", "production"], cwd=shop.path,
                               env={**os.environ, **sentry_env}, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not sentry_emulator.requests and process.poll() is None:
            time.sleep(0.05)   # until the request hangs in the emulator
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr.strip().splitlines()[-1] and "Traceback" not in stderr


@pytest.mark.parametrize("value", ["0", "nan", "-5", "soon"])
def test_budget_must_be_a_positive_number(repo: GitRepo, value: str) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    result = run_cli(["new"], repo.path, env={"SENTRY_URL": "http://127.0.0.1:9", "SENTRY_AUTH_TOKEN": TOKEN,
                                               "SENTRY_ORG": "acme", "SENTRY_PROJECT": "shop",
                                               "SENTRY_HTTP_BUDGET": value})
    assert result.code == 2, result.output
    assert "$SENTRY_HTTP_BUDGET" in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr


def test_config_shows_the_budget_and_its_source(repo: GitRepo) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    default = json.loads(run_cli(["config", "--json"], repo.path).stdout)["settings"]["http_budget"]
    assert default == {"value": 80.0, "source": "default"}
    repo.write("pyproject.toml", "[tool.sentry-release]\nhttp-budget = 200\n")
    from_file = json.loads(run_cli(["config", "--json"], repo.path).stdout)["settings"]["http_budget"]
    assert from_file == {"value": 200.0, "source": "pyproject.toml [tool.sentry-release]"}
    from_env = json.loads(run_cli(["config", "--json"], repo.path, env={"SENTRY_HTTP_BUDGET": "45"}).stdout)
    assert from_env["settings"]["http_budget"] == {"value": 45.0, "source": "$SENTRY_HTTP_BUDGET"}
