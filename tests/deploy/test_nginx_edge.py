"""deploy/nginx/auth.conf at work: real nginx in front of two real ``auth-server``
processes, over TLS with a throwaway certificate.

The configuration is loaded as shipped except for its addresses: the listen ports
become free loopback ports and the upstreams the two local servers. Skipped when
nginx is absent, except under ``CI=true`` (see tests/deploy/test_nginx.py).

nginx limits requests per client address: a test that spends that budget sends from a
loopback address of its own (``Edge.client(source=...)``), so no other test depends on
when, or whether, it ran.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.test_nginx import AUTH_CONF, NGINX_DIR, nginx_binary
from tests.e2e.server import ServerProcess, free_port, server_env

pytestmark = pytest.mark.e2e


RATE_LIMITED_SOURCE = "127.0.0.2"
"""The client address whose nginx budget the rate-limit test spends; no other test
sends from it."""


@dataclass
class Edge:
    https: str
    http: str
    ca_file: Path
    replicas: list[ServerProcess]

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        """A client of the TLS port, connecting from the loopback address ``source``
        (nginx's rate-limit key: each address has a budget of its own)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        transport = httpx.HTTPTransport(verify=context, local_address=source)
        return httpx.Client(base_url=self.https, transport=transport, timeout=10)


def local_config(work: Path, http_port: int, https_port: int, upstreams: list[int]) -> Path:
    text = AUTH_CONF.read_text(encoding="utf-8")
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "server auth1:5000 ": f"server 127.0.0.1:{upstreams[0]} ",
        "server auth2:5000 ": f"server 127.0.0.1:{upstreams[1]} ",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (work / "auth.conf").write_text(text, encoding="utf-8")
    main = work / "nginx.conf"
    main.write_text(
        f"""worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    include {work}/auth.conf;
}}
""",
        encoding="utf-8",
    )
    return main


def wait_for(url: str, ca_file: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}: {log.read_text()}")
        try:
            httpx.get(url + "/ping", verify=context, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"nginx did not answer: {log.read_text()}")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    nginx = nginx_binary()
    work = tmp_path_factory.mktemp("edge")
    subprocess.run(
        ["bash", str(NGINX_DIR / "make-dev-cert.sh"), str(work / "certs"), "localhost"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    ports = [free_port(), free_port()]
    replicas: list[ServerProcess] = []
    try:
        for index, port in enumerate(ports):
            directory = work / f"replica{index + 1}"
            directory.mkdir()
            env = server_env(
                work / "home", AUTH_SQLITE_PATH=str(work / "auth.sqlite3"), AUTH_PORT=str(port)
            )
            replica = ServerProcess(directory, env)
            replicas.append(replica)
            replica.start()
            replica.wait_healthy()  # one after the other: the first one migrates
        http_port, https_port = free_port(), free_port()
        config = local_config(work, http_port, https_port, ports)
        log = work / "nginx.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [nginx, "-e", str(work / "error.log"), "-c", str(config), "-g", "daemon off;"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            https = f"https://localhost:{https_port}"
            wait_for(https, work / "certs" / "tls.crt", process, work / "error.log")
            yield Edge(https, f"http://127.0.0.1:{http_port}", work / "certs" / "tls.crt", replicas)
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        for replica in replicas:
            replica.stop()


def test_tls_versions_and_headers(edge: Edge) -> None:
    with edge.client() as client:
        response = client.get("/ping")
        assert (response.status_code, response.json()) == (200, {"message": "PONG"})
        stream = response.extensions["network_stream"]
        assert stream.get_extra_info("ssl_object").version() in {"TLSv1.2", "TLSv1.3"}
        assert (
            response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        )
        assert response.headers["server"] == "nginx"  # server_tokens off: no version
    context = ssl.create_default_context(cafile=str(edge.ca_file))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(base_url=edge.https, verify=context) as client:
        response = client.get("/ping")
        stream = response.extensions["network_stream"]
        assert stream.get_extra_info("ssl_object").version() == "TLSv1.2"


def test_plain_http_redirects_to_https(edge: Edge) -> None:
    response = httpx.get(edge.http + "/api/roles?x=1", headers={"Host": "auth.test"})
    assert response.status_code == 301
    assert response.headers["location"] == "https://auth.test/api/roles?x=1"


def test_request_id_is_kept_when_safe_and_generated_otherwise(edge: Edge) -> None:
    with edge.client() as client:
        kept = client.get("/ping", headers={"X-Request-ID": "trace-42.a_b"})
        assert kept.headers.get_list("x-request-id") == ["trace-42.a_b"]
        for unsafe in ("<script>", "a:b", "x" * 129):
            replaced = client.get("/ping", headers={"X-Request-ID": unsafe})
            (value,) = replaced.headers.get_list("x-request-id")
            assert re.fullmatch(r"[0-9a-f]{32}", value)
        generated = client.get("/ping")
        assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
        # Answers nginx makes itself carry one too.
        (value,) = client.get("/metrics").headers.get_list("x-request-id")
        assert re.fullmatch(r"[0-9a-f]{32}", value)


def test_metrics_are_not_exposed(edge: Edge) -> None:
    with edge.client() as client:
        assert client.get("/metrics").status_code == 404


def test_api_is_rate_limited_and_service_routes_are_not(edge: Edge) -> None:
    headers = {"Authorization": "Bearer 7d3c6a4e-1f7b-4d2a-9c1e-2b8f5a6d9e01"}
    with edge.client(source=RATE_LIMITED_SOURCE) as client:
        health = [client.get("/health").status_code for _ in range(40)]
        assert health == [200] * 40
        statuses = [client.get("/api/roles", headers=headers).status_code for _ in range(40)]
    # One request plus a burst of 20 pass at once; beyond that, 10 per second.
    assert statuses[:21] == [200] * 21
    assert 429 in statuses
    assert set(statuses) == {200, 429}


def test_both_replicas_serve_and_one_may_fail(edge: Edge) -> None:
    with edge.client() as client:
        assert {client.get("/health").status_code for _ in range(6)} == {200}
        edge.replicas[0].stop()
        try:
            assert [client.get("/health").status_code for _ in range(6)] == [200] * 6
        finally:
            edge.replicas[0].start()
            edge.replicas[0].wait_healthy()
