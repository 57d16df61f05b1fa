"""deploy/k8s: every manifest valid against the Kubernetes schemas (offline, the
kubernetes-validate package's bundled schemas; no cluster), the same commands as `make run`,
probes and resource limits on every container, credentials only from the Secret."""

from __future__ import annotations

import kubernetes_validate
import yaml

from hotline.settings import ROOT, Settings
from hotline.stack import process_specs

K8S = ROOT / "deploy" / "k8s"
VERSION = "1.30"  # the oldest Kubernetes minor still maintained by the major distributions


def documents() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in sorted(K8S.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def containers() -> dict[str, dict]:
    return {c["name"]: c for _, doc in documents() if doc["kind"] in ("Deployment", "Job")
            for c in doc["spec"]["template"]["spec"]["containers"]}


def test_every_manifest_is_valid_against_the_kubernetes_schemas():
    docs = documents()
    assert {doc["kind"] for _, doc in docs} >= {"Deployment", "Service", "ConfigMap", "Secret", "Job"}
    for name, doc in docs:
        kubernetes_validate.validate(doc, VERSION, strict=True)  # raises on the first error
        assert doc["metadata"]["name"].startswith("hotline-"), name


def test_the_commands_are_those_of_make_run():
    real = Settings.from_env({"DATABASE_URL": "postgresql://u@db/x", "REDIS_URL": "redis://r:6379/0"})
    by_name = containers()
    for spec in process_specs(real):
        assert by_name[spec.name]["command"] == spec.argv, spec.name
    assert by_name["migrate"]["command"][-1] == "migrate"


def test_every_long_running_container_is_probed_and_limited():
    for name, c in containers().items():
        assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"], name
        if name in ("services", "rasa", "actions"):
            assert "readinessProbe" in c and "livenessProbe" in c, name
    services = containers()["services"]
    assert services["readinessProbe"]["httpGet"]["path"] == "/healthz?probe=ready"
    assert "tcpSocket" in services["livenessProbe"]  # a Rasa outage never restarts the app


def test_credentials_come_only_from_the_secret():
    for name, doc in documents():
        if doc["kind"] == "ConfigMap":
            for key in doc["data"]:
                assert not any(w in key for w in ("PASSWORD", "TOKEN", "SECRET", "URL_WITH")), key
            assert "DATABASE_URL" not in doc["data"] and "REDIS_URL" not in doc["data"]
        if doc["kind"] == "Secret":
            assert name == "secrets.example.yaml"
            assert all(v in ("", "5432", "6379", "0", "hotline") or "CHANGE-ME" in v
                       or v.endswith(".example.internal") for v in doc["stringData"].values())
    for name, c in containers().items():
        refs = [e.get("secretRef", {}).get("name") for e in c.get("envFrom", [])]
        assert "hotline-secrets" in refs, name
        for env in c.get("env", []):
            assert "value" not in env or not any(w in env["name"] for w in ("PASSWORD", "TOKEN")), name
    replicas = {doc["metadata"]["name"]: doc["spec"]["replicas"] for _, doc in documents()
                if doc["kind"] == "Deployment"}
    assert replicas["hotline-services"] >= 2 and replicas["hotline-worker"] >= 2
    assert replicas["hotline-rasa"] >= 2
