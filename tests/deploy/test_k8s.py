"""deploy/k8s: the manifests validate against the Kubernetes API schemas (strict) and
keep the deployment rules: two non-root replicas, probes, resources, secrets as files.

Schema validation uses ``kubernetes-validate`` (the OpenAPI schemas of each Kubernetes
release, shipped in the package; no cluster needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.config import Settings

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
Manifest = dict[str, Any]


def load(name: str) -> list[Manifest]:
    with (K8S_DIR / name).open(encoding="utf-8") as handle:
        return [document for document in yaml.safe_load_all(handle) if document is not None]


def manifests() -> list[Manifest]:
    return [document for path in sorted(K8S_DIR.glob("*.yaml")) for document in load(path.name)]


def one(kind: str, documents: list[Manifest] | None = None) -> Manifest:
    found = [document for document in documents or manifests() if document["kind"] == kind]
    assert len(found) == 1, [document["metadata"]["name"] for document in found]
    return found[0]


def pod_spec(kind: str) -> Manifest:
    spec: Manifest = one(kind)["spec"]["template"]["spec"]
    return spec


def test_the_expected_resources() -> None:
    assert sorted((d["kind"], d["metadata"]["name"]) for d in manifests()) == [
        ("ConfigMap", "auth-config"),
        ("Deployment", "auth"),
        ("Job", "auth-migrate-0-1-0"),
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
        "tmp": "emptyDir",
    }
    mounts = {
        mount["mountPath"]: mount.get("readOnly", False) for mount in container["volumeMounts"]
    }
    assert mounts == {"/run/secrets": True, "/tmp": False}  # noqa: S108


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


def test_configmap_holds_no_secret_and_is_production() -> None:
    data: dict[str, str] = one("ConfigMap")["data"]
    assert data["AUTH_ENV"] == "production"
    assert data["AUTH_MIGRATE_ON_START"] == "false"
    assert data["AUTH_HOST"] == "0.0.0.0"  # noqa: S104
    secret_settings = {
        f"AUTH_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert "AUTH_JWT_SECRET_KEY" in secret_settings
    # Only a credential-free Redis URL (a Redis password would move it to the Secret).
    assert secret_settings & set(data) <= {"AUTH_RATE_LIMIT_STORAGE_URI"}
    assert data["AUTH_RATE_LIMIT_STORAGE_URI"] == "redis://redis:6379/0"


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
    }
    assert set(secrets[1]["stringData"]) == {"auth_database_url"}
