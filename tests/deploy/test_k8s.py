"""deploy/k8s: the manifests validate against the Kubernetes API schemas (strict) and
keep the deployment rules: two non-root replicas, probes, resources, secrets as files,
closed registration, proxy headers trusted from the ingress controller only (which the
NetworkPolicy alone admits), the database CA mounted where ``sslrootcert`` points, a
Redis URL with its password in the Secret, an Ingress for the public paths only.

Schema validation uses ``kubernetes-validate`` (the OpenAPI schemas of each Kubernetes
release, shipped in the package; no cluster needed).
"""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.types import Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Registration, Settings
from app.db.url import resolve_database_target

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
Manifest = dict[str, Any]


def load(name: str) -> list[Manifest]:
    with (K8S_DIR / name).open(encoding="utf-8") as handle:
        return [document for document in yaml.safe_load_all(handle) if document is not None]


def manifests() -> list[Manifest]:
    return [document for path in sorted(K8S_DIR.glob("*.yaml")) for document in load(path.name)]


def one(kind: str, name: str | None = None) -> Manifest:
    found = [
        document
        for document in manifests()
        if document["kind"] == kind and name in (None, document["metadata"]["name"])
    ]
    assert len(found) == 1, [document["metadata"]["name"] for document in found]
    return found[0]


def container_of(kind: str) -> Manifest:
    (container,) = pod_spec(kind)["containers"]
    found: Manifest = container
    return found


def pod_spec(kind: str) -> Manifest:
    spec: Manifest = one(kind)["spec"]["template"]["spec"]
    return spec


def test_the_expected_resources() -> None:
    assert sorted((d["kind"], d["metadata"]["name"]) for d in manifests()) == [
        ("ConfigMap", "auth-config"),
        ("ConfigMap", "auth-db-ca"),
        ("Deployment", "auth"),
        ("Ingress", "auth"),
        ("Job", "auth-migrate-0-1-0"),
        ("NetworkPolicy", "auth"),
        ("NetworkPolicy", "auth-migrate"),
        ("PodDisruptionBudget", "auth"),
        ("Secret", "auth-migrate-secrets"),
        ("Secret", "auth-secrets"),
        ("Service", "auth"),
    ]
    assert all("namespace" not in document["metadata"] for document in manifests())


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_the_api_schemas(version: str) -> None:
    for document in manifests():
        kubernetes_validate.validate(document, version, strict=True)


def test_schema_validation_catches_mistakes() -> None:
    deployment = one("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError, match="'replica' was unexpected"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_run_unprivileged(kind: str) -> None:
    spec = pod_spec(kind)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(container["resources"]) == {"requests", "limits"}
    assert {volume["name"]: next(iter(set(volume) - {"name"})) for volume in spec["volumes"]} == {
        "secrets": "secret",
        "db-ca": "configMap",
        "tmp": "emptyDir",
    }
    mounts = {
        mount["mountPath"]: mount.get("readOnly", False) for mount in container["volumeMounts"]
    }
    assert mounts == {"/run/secrets": True, "/etc/auth/db-ca": True, "/tmp": False}  # noqa: S108


def test_deployment_replicas_probes_and_settings() -> None:
    deployment = one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    spec = pod_spec("Deployment")
    (container,) = spec["containers"]
    assert container["args"] == ["serve"]
    assert container["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/ping"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/ping"
    assert container["envFrom"] == [{"configMapRef": {"name": "auth-config"}}]
    secret_volume = next(volume for volume in spec["volumes"] if volume["name"] == "secrets")
    assert secret_volume["secret"] == {"secretName": "auth-secrets", "defaultMode": 0o440}
    service = one("Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_migration_job_uses_the_owner_secret() -> None:
    job = one("Job")
    spec = pod_spec("Job")
    (container,) = spec["containers"]
    assert container["args"] == ["migrate"]
    assert spec["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 2
    secret_volume = next(volume for volume in spec["volumes"] if volume["name"] == "secrets")
    assert secret_volume["secret"]["secretName"] == "auth-migrate-secrets"


def test_configmap_holds_no_secret_and_is_production(monkeypatch: pytest.MonkeyPatch) -> None:
    data: dict[str, str] = one("ConfigMap", "auth-config")["data"]
    assert data["AUTH_ENV"] == "production"
    assert data["AUTH_MIGRATE_ON_START"] == "false"
    assert data["AUTH_HOST"] == "0.0.0.0"  # noqa: S104
    assert data["AUTH_TENANT_REGISTRATION"] == "closed"
    secret_settings = {
        f"AUTH_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert {"AUTH_JWT_SECRET_KEY", "AUTH_RATE_LIMIT_STORAGE_URI"} <= secret_settings
    # The Redis URL carries a password, so it lives in the Secret like the others.
    assert secret_settings & set(data) == set()
    for variable, value in data.items():  # as envFrom gives them to the container
        monkeypatch.setenv(variable, value)
    settings = Settings(_env_file=None)
    assert settings.tenant_registration is Registration.CLOSED
    assert "localhost" in settings.allowed_hosts  # the probes' Host


async def test_forwarded_headers_count_from_ingress_pods_only() -> None:
    """The ConfigMap's AUTH_FORWARDED_ALLOW_IPS, given to the proxy-header middleware the
    service uses: a pod of the example pod network may set the client address, a
    client outside it may not."""
    allowed = one("ConfigMap", "auth-config")["data"]["AUTH_FORWARDED_ALLOW_IPS"]
    networks = [ipaddress.ip_network(part.strip()) for part in allowed.split(",")]
    assert all(network.is_private for network in networks)
    assert Settings(_env_file=None, forwarded_allow_ips=allowed).forwarded_allow_ips == [
        str(network) for network in networks
    ]

    async def echo_client(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["client"][0])

    seen: list[str] = []
    middleware: Any = ProxyHeadersMiddleware(cast(Any, echo_client), trusted_hosts=allowed)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(_message: Message) -> None:
        return None

    ingress_pod = str(next(networks[0].hosts()) + 7)
    for peer in (ingress_pod, "192.0.2.10"):
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/health",
            "raw_path": b"/health",
            "query_string": b"",
            "headers": [(b"x-forwarded-for", b"203.0.113.9")],
            "client": (peer, 40000),
            "server": ("10.0.0.1", 5000),
        }
        await middleware(scope, receive, send)
    assert seen == ["203.0.113.9", "192.0.2.10"]


def test_example_secrets_are_placeholders_named_like_settings() -> None:
    secrets = load("secret.example.yaml")
    assert [document["kind"] for document in secrets] == ["Secret", "Secret"]
    for secret in secrets:
        assert secret["metadata"]["annotations"] == {
            "auth/example": "placeholders only - replace every value"
        }
        assert "data" not in secret
        for key, value in secret["stringData"].items():
            assert key.startswith("auth_")
            assert key.removeprefix("auth_") in Settings.model_fields
            assert "REPLACE_ME" in value
    # The Secret keys become /run/secrets files that the settings read.
    assert set(secrets[0]["stringData"]) == {
        "auth_database_url",
        "auth_key_hash_secret",
        "auth_jwt_secret_key",
        "auth_encryption_key",
        "auth_metrics_token",
        "auth_rate_limit_storage_uri",
    }
    assert set(secrets[1]["stringData"]) == {"auth_database_url"}
    redis = urlsplit(secrets[0]["stringData"]["auth_rate_limit_storage_uri"])
    assert (redis.scheme, redis.password, redis.hostname) == ("redis", "REPLACE_ME", "redis")


def mounted_ca_path(kind: str) -> str:
    """Where the auth-db-ca ConfigMap's ca.crt appears inside the pods of ``kind``."""
    spec = pod_spec(kind)
    (volume,) = [volume for volume in spec["volumes"] if "configMap" in volume]
    assert volume["configMap"]["name"] == one("ConfigMap", "auth-db-ca")["metadata"]["name"]
    (item,) = volume["configMap"]["items"]
    assert item["key"] in one("ConfigMap", "auth-db-ca")["data"]
    (mount,) = [m for m in container_of(kind)["volumeMounts"] if m["name"] == volume["name"]]
    return f"{mount['mountPath']}/{item['path']}"


@pytest.mark.parametrize(("kind", "secret_index"), [("Deployment", 0), ("Job", 1)])
def test_database_ca_is_mounted_where_verify_full_reads_it(
    kind: str, secret_index: int, tmp_path: Path
) -> None:
    url = load("secret.example.yaml")[secret_index]["stringData"]["auth_database_url"]
    query = parse_qs(urlsplit(url).query)
    assert query["sslmode"] == ["verify-full"]
    assert query["sslrootcert"] == [mounted_ca_path(kind)]

    # The service's reading of that URL, with a real CA file at the mounted path's place.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auth test database CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    target = resolve_database_target(url.replace(query["sslrootcert"][0], str(ca_file)))
    context = target.connect_args["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        ((("commonName", "auth test database CA"),),)
    ]
    assert "sslrootcert" not in target.url.query  # consumed, never passed on


def test_network_policies_admit_the_ingress_controller_only() -> None:
    api = one("NetworkPolicy", "auth")["spec"]
    assert api["podSelector"]["matchLabels"] == one("Deployment")["spec"]["selector"]["matchLabels"]
    assert api["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = api["ingress"]
    (source,) = rule["from"]
    assert source["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    assert source["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "ingress-nginx"}
    port_names = {port["name"] for port in container_of("Deployment")["ports"]}
    assert [port["port"] for port in rule["ports"]] == ["http"]
    assert "http" in port_names

    def egress_ports(policy: Manifest) -> set[int]:
        return {port["port"] for rule in policy["egress"] for port in rule["ports"]}

    assert egress_ports(api) == {53, 5432, 6379}

    migrate = one("NetworkPolicy", "auth-migrate")["spec"]
    job_labels = one("Job")["spec"]["template"]["metadata"]["labels"]
    assert migrate["podSelector"]["matchLabels"].items() <= job_labels.items()
    assert migrate["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "migrate"
    assert migrate["policyTypes"] == ["Ingress", "Egress"]
    assert migrate["ingress"] == []
    assert egress_ports(migrate) == {53, 5432}


def test_ingress_terminates_tls_and_routes_the_public_paths_to_the_service() -> None:
    ingress = one("Ingress")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    (rule,) = ingress["rules"]
    (tls,) = ingress["tls"]
    assert tls["hosts"] == [rule["host"]]
    allowed_hosts = one("ConfigMap", "auth-config")["data"]["AUTH_ALLOWED_HOSTS"].split(",")
    assert rule["host"] in allowed_hosts
    service = one("Service")
    routed = {}
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
        routed[path["path"]] = path["pathType"]
    assert routed == {
        "/api": "Prefix",
        "/docs": "Prefix",
        "/docs-static": "Prefix",
        "/redoc": "Exact",
        "/openapi.json": "Exact",
        "/health": "Exact",
    }
    assert service["spec"]["ports"][0]["name"] == "http"
    annotations = one("Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert not [key for key in annotations if "snippet" in key]  # often disabled, risky
