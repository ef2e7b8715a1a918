"""``app.db.url``: operator URLs to async SQLAlchemy targets (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.db.url import resolve_database_target

PG = "postgresql://auth:s3cret@db.example.com:5432/authdb"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_schemes_map_to_asyncpg(scheme: str) -> None:
    target = resolve_database_target(f"{scheme}://auth:s3cret@db.example.com:5432/authdb")
    assert target.url.drivername == "postgresql+asyncpg"
    assert (target.url.host, target.url.port, target.url.database) == (
        "db.example.com",
        5432,
        "authdb",
    )
    assert (target.url.username, target.url.password) == ("auth", "s3cret")
    assert target.connect_args == {}
    assert (target.is_postgresql, target.is_sqlite) == (True, False)


def test_percent_encoded_password_survives() -> None:
    target = resolve_database_target("postgresql://auth:p%40ss%2Fw@db/authdb")
    assert target.url.password == "p@ss/w"


def test_redacted_hides_the_password() -> None:
    assert resolve_database_target(PG).redacted() == (
        "postgresql+asyncpg://auth:***@db.example.com:5432/authdb"
    )


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require"])
def test_passthrough_sslmodes(mode: str) -> None:
    target = resolve_database_target(f"{PG}?sslmode={mode}")
    assert target.connect_args == {"ssl": mode}
    assert dict(target.url.query) == {}


def test_sslmode_is_case_insensitive() -> None:
    assert resolve_database_target(f"{PG}?sslmode=REQUIRE").connect_args == {"ssl": "require"}


def test_asyncpg_style_ssl_parameter() -> None:
    target = resolve_database_target(f"{PG}?ssl=require")
    assert target.connect_args == {"ssl": "require"}
    assert dict(target.url.query) == {}


@pytest.mark.parametrize(("mode", "check_hostname"), [("verify-full", True), ("verify-ca", False)])
def test_verifying_sslmodes_build_a_context(mode: str, check_hostname: bool) -> None:
    context = resolve_database_target(f"{PG}?sslmode={mode}").connect_args["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway CA certificate and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auth test ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_sslrootcert_and_client_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    url = f"{PG}?sslmode=verify-full&sslrootcert={cert}&sslcert={cert}&sslkey={key}"
    target = resolve_database_target(url)
    context = target.connect_args["ssl"]
    assert isinstance(context, ssl.SSLContext)
    # Only the given CA is trusted (no system store); the client pair loaded.
    assert context.cert_store_stats() == {"x509": 1, "crl": 0, "x509_ca": 1}
    assert dict(target.url.query) == {}


def test_ssl_parameters_removed_other_parameters_kept() -> None:
    target = resolve_database_target(
        f"{PG}?sslmode=require&application_name=auth&options=-csearch_path%3Dauth"
    )
    assert dict(target.url.query) == {"application_name": "auth", "options": "-csearch_path=auth"}
    assert target.connect_args == {"ssl": "require"}


def test_unknown_sslmode_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^unsupported sslmode 'sometimes'"):
        resolve_database_target(f"{PG}?sslmode=sometimes")


def test_sqlite_maps_to_aiosqlite(tmp_path: Path) -> None:
    target = resolve_database_target(f"sqlite:///{tmp_path}/auth.sqlite3")
    assert target.url.drivername == "sqlite+aiosqlite"
    assert target.url.database == f"{tmp_path}/auth.sqlite3"
    assert target.connect_args == {}
    assert (target.is_sqlite, target.is_postgresql) == (True, False)


def test_relative_sqlite_path() -> None:
    assert resolve_database_target("sqlite:///auth.sqlite3").url.database == "auth.sqlite3"


@pytest.mark.parametrize(
    "url", ["mysql://u:p@h/db", "mssql+pyodbc://h/db", "oracle://h/db", "redis://h:6379/0"]
)
def test_unsupported_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"^unsupported database URL scheme"):
        resolve_database_target(url)
