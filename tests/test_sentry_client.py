"""The HTTP client's edges that the deploy tests do not reach: transport failures, retry bounds."""

from __future__ import annotations

import socket

import pytest

from clirun import run_cli
from gitrepo import GitRepo
from sentry_release.errors import ConnectionFailed, ScopeError
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
    client = SentryClient(sentry_emulator.url, sentry_emulator.token, max_retries=5, max_retry_seconds=10)
    with pytest.raises(Exception, match="wait 600 s"):
        client.get("organizations/acme/releases/", Context("list releases"))
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
