"""deploy/nginx: the TLS edge configuration passes ``nginx -t`` and says what the guide says.

``nginx -t`` needs Debian's nginx: the test is skipped when the binary is absent,
except under ``CI=true`` (.ci/run installs it), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

NGINX_DIR = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
AUTH_CONF = NGINX_DIR / "auth.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is required under CI=true (.ci/run installs Debian's nginx)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return found


def run_check(*args: str, conf: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NGINX": nginx_binary()}
    if conf is not None:
        env["NGINX_CONF"] = str(conf)
    return subprocess.run(
        ["bash", str(NGINX_DIR / "check.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def block(text: str, opening: str) -> str:
    """The body of the brace block that starts with ``opening``."""
    start = text.index(opening)
    depth = 0
    for index in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start : index + 1]
    raise AssertionError(f"unbalanced block {opening!r}")


@pytest.mark.parametrize("mode", ["unchanged", "--copy"])
def test_nginx_accepts_the_configuration(mode: str) -> None:
    result = run_check(*([] if mode == "unchanged" else [mode]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"nginx: the configuration file \S+ syntax is ok", result.stderr)
    assert re.search(r"nginx: configuration file \S+ test is successful", result.stderr)


def test_nginx_refuses_a_broken_configuration(tmp_path: Path) -> None:
    broken = tmp_path / "auth.conf"
    broken.write_text(AUTH_CONF.read_text().replace("ssl_protocols TLSv1.2", "ssl_protocols TLSv0"))
    result = run_check(conf=broken)
    assert result.returncode == 1
    assert 'nginx: [emerg] invalid value "TLSv0"' in result.stderr
    assert re.search(r"nginx: configuration file \S+ test failed", result.stderr)


def test_tls_and_rate_limit_follow_the_guide() -> None:
    text = AUTH_CONF.read_text()
    tls = block(text, "server {\n    listen 443 ssl http2;")
    for directive in (
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_ciphers HIGH:!aNULL:!MD5;",
        "ssl_prefer_server_ciphers on;",
    ):
        assert f"\n    {directive}\n" in tls
    assert "\nlimit_req_zone $binary_remote_addr zone=auth_limit:10m rate=10r/s;\n" in text
    assert "\nlimit_req_status 429;\n" in text
    api = block(tls, "location /api/ {")
    assert "limit_req zone=auth_limit burst=20 nodelay;" in api
    assert "proxy_pass http://auth_backend;" in api
    bulk = block(tls, "location = /api/bulk {")
    assert "limit_req zone=auth_limit burst=20 nodelay;" in bulk
    assert "client_max_body_size 64m;" in bulk  # AUTH_BULK_MAX_BODY_BYTES's default
    assert "proxy_pass http://auth_backend;" in bulk
    # Only /api/ (and its /api/bulk) is rate limited: the service routes are not.
    assert tls.count("limit_req ") == 2
    upstream = block(text, "upstream auth_backend {")
    assert re.findall(r"server (\S+) ", upstream) == ["auth1:5000", "auth2:5000"]
    plain = block(text, "server {\n    listen 80;")
    assert "return 301 https://$host$request_uri;" in plain


def test_forwarded_headers() -> None:
    tls = block(AUTH_CONF.read_text(), "server {\n    listen 443 ssl http2;")
    headers = dict(re.findall(r"\n    proxy_set_header (\S+) (.+);", tls))
    assert headers == {
        "Connection": '""',
        "Host": "$host",
        "X-Forwarded-For": "$remote_addr",
        "X-Real-IP": "$remote_addr",
        "X-Forwarded-Proto": "$scheme",
        "X-Forwarded-Host": "$host",
        "X-Request-ID": "$auth_request_id",
    }


def test_dev_certificate(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    result = subprocess.run(
        ["bash", str(NGINX_DIR / "make-dev-cert.sh"), str(certs), "auth.test"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    assert sorted(path.name for path in certs.iterdir()) == ["tls.crt", "tls.key"]
    certificate = x509.load_pem_x509_certificate((certs / "tls.crt").read_bytes())
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [attribute.value for attribute in common_name] == ["auth.test"]
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["auth.test", "localhost"]


def test_no_private_key_or_certificate_is_tracked() -> None:
    root = NGINX_DIR.parents[1]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    assert [name for name in tracked if re.search(r"\.(key|pem|crt|p12)$", name)] == []
