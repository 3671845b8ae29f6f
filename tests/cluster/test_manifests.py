"""The Kubernetes manifests of cluster/ checked offline: schemas, wiring, settings and secrets.

No cluster runs here. Core objects are validated against the Kubernetes OpenAPI schemas that
the ``kubernetes-validate`` package bundles (strict: unknown fields are errors); the DaskCluster
and DaskAutoscaler against the openAPIV3Schema of the dask-kubernetes operator's CRDs, vendored
in ``tests/cluster/schemas/`` (see its README). Then the cross-checks a schema cannot make: the
Prefect worker's HHS_DASK_ADDRESS names the DaskCluster's scheduler Service, every variable set
is a real setting, every container has resource limits, no secret is written down.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from hhs_platform.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "cluster" / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
#: The Kubernetes minor the manifests target (kubernetes-validate's schemas of that version).
K8S_VERSION = "1.33"
CRDS = {"DaskCluster": "daskcluster.yaml", "DaskAutoscaler": "daskautoscaler.yaml"}
#: Variables of the AWS SDKs / object_store that deltalake reads for S3.
AWS_VARS = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
}
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY", re.IGNORECASE)
#: Named like a secret but not one: where the secret files are mounted.
NOT_SECRET = {"HHS_SECRETS_DIR"}


def load_docs(path: Path) -> list[dict[str, Any]]:
    """Every document of a (multi-document) YAML file, empty ones dropped."""
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    out = [doc for path in sorted(K8S.glob("*.yaml")) for doc in load_docs(path)]
    assert {p.name for p in K8S.glob("*.yaml")} == {
        "config.yaml",
        "daskcluster.yaml",
        "dashboards.yaml",
        "prefect-worker.yaml",
    }
    return out


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, PodSpec) of every pod the manifests describe."""
    for d in docs:
        name = f"{d['kind']}/{d['metadata']['name']}"
        if d["kind"] == "DaskCluster":
            yield f"{name} scheduler", d["spec"]["scheduler"]["spec"]
            yield f"{name} worker", d["spec"]["worker"]["spec"]
        elif d["kind"] == "Deployment":
            yield name, d["spec"]["template"]["spec"]


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, spec in pod_specs(docs):
        for c in spec.get("initContainers", []) + spec["containers"]:
            yield f"{where} container {c['name']}", c


def crd_schema(kind: str) -> dict[str, Any]:
    """The CRD's openAPIV3Schema as a JSON Schema that, like ``kubectl apply`` with strict field
    validation, rejects unknown fields (except where the CRD preserves them)."""
    crd = load_docs(SCHEMAS / CRDS[kind])[0]
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    schema["properties"] |= {
        "apiVersion": {"type": "string", "enum": ["kubernetes.dask.org/v1"]},
        "kind": {"type": "string", "enum": [kind]},
        "metadata": {"type": "object"},
    }
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def crd_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(crd_schema(doc["kind"]))
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


# -- schemas ---------------------------------------------------------------------------------


def test_core_objects_match_the_kubernetes_schemas(docs: list[dict[str, Any]]) -> None:
    core = [d for d in docs if d["kind"] not in CRDS]
    assert {d["kind"] for d in core} == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Deployment",
        "Service",
    }
    for doc in core:
        # raises kubernetes_validate.ValidationError naming the field
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == K8S_VERSION


def test_dask_resources_match_the_operator_crds(docs: list[dict[str, Any]]) -> None:
    dask = [d for d in docs if d["kind"] in CRDS]
    assert sorted(d["kind"] for d in dask) == ["DaskAutoscaler", "DaskCluster"]
    for doc in dask:
        assert crd_errors(doc) == [], doc["kind"]


def test_the_dask_pod_specs_are_valid_kubernetes_pod_specs(docs: list[dict[str, Any]]) -> None:
    """The CRD embeds PodSpecs loosely in places; check them as Pods against Kubernetes too."""
    for where, spec in pod_specs(docs):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": spec}
        try:
            kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {exc.message}")


def test_the_validators_reject_broken_manifests(docs: list[dict[str, Any]]) -> None:
    """The checks above can fail: a misspelt field, a quantity as a number, a missing key."""
    cluster = copy.deepcopy(one(docs, "DaskCluster"))
    cluster["spec"]["worker"]["replica"] = cluster["spec"]["worker"].pop("replicas")
    assert any("replica" in e for e in crd_errors(cluster))
    cluster = copy.deepcopy(one(docs, "DaskCluster"))
    cluster["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = 2
    assert any("limits/cpu" in e for e in crd_errors(cluster))
    scaler = copy.deepcopy(one(docs, "DaskAutoscaler"))
    del scaler["spec"]["maximum"]
    assert any("maximum" in e for e in crd_errors(scaler))
    deployment = copy.deepcopy(one(docs, "Deployment", "hhs-prefect-worker"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


# -- wiring ----------------------------------------------------------------------------------


def test_the_flow_reaches_the_dask_scheduler_service(docs: list[dict[str, Any]]) -> None:
    cluster = one(docs, "DaskCluster")
    name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
    ports = {p["name"]: p["port"] for p in cluster["spec"]["scheduler"]["service"]["ports"]}
    assert ports == {"tcp-comm": 8786, "http-dashboard": 8787}
    selector = cluster["spec"]["scheduler"]["service"]["selector"]
    assert selector == {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}
    worker = one(docs, "Deployment", "hhs-prefect-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    # the operator names the scheduler Service "<cluster>-scheduler"
    expected = f"tcp://{name}-scheduler.{namespace}.svc.cluster.local:{ports['tcp-comm']}"
    assert env["HHS_DASK_ADDRESS"] == expected
    assert Settings(_env_file=None, dask_address=expected).dask_address == expected  # type: ignore[call-arg]


def test_the_autoscaler_drives_the_cluster_within_its_bounds(docs: list[dict[str, Any]]) -> None:
    cluster, scaler = one(docs, "DaskCluster"), one(docs, "DaskAutoscaler")
    assert scaler["spec"]["cluster"] == cluster["metadata"]["name"]
    assert scaler["metadata"]["namespace"] == cluster["metadata"]["namespace"]
    assert 1 <= scaler["spec"]["minimum"] <= cluster["spec"]["worker"]["replicas"]
    assert cluster["spec"]["worker"]["replicas"] <= scaler["spec"]["maximum"]


def test_every_object_is_in_the_namespace_and_every_reference_exists(
    docs: list[dict[str, Any]],
) -> None:
    (namespace,) = [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == namespace, d["metadata"]["name"]
    defined = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for where, spec in pod_specs(docs):
        assert ("ServiceAccount", spec["serviceAccountName"]) in defined, where
    for where, c in containers(docs):
        for source in c.get("envFrom", []):
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if key in source and not source[key].get("optional"):
                    assert (kind, source[key]["name"]) in defined, where
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                assert ("Secret", ref["name"]) in defined, where


def test_every_pod_runs_the_one_image_the_dockerfile_builds(docs: list[dict[str, Any]]) -> None:
    # every container but the dashboards' nginx (cluster/nginx/, tests/cluster/test_nginx.py)
    images = {c["image"] for _, c in containers(docs) if c["name"] != "nginx"}
    assert len(images) == 1, images
    dockerfile = (ROOT / "cluster" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.12-slim$", dockerfile, re.M)
    for src in re.findall(r"^COPY (.+) \./?\S*$", dockerfile, re.M):
        for path in src.split():
            assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which does not exist"
    (uid,) = re.findall(r"^USER (\d+)$", dockerfile, re.M)
    (workdir,) = re.findall(r"^WORKDIR (\S+)$", dockerfile, re.M)
    worker = one(docs, "Deployment", "hhs-prefect-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["runAsUser"] == int(uid)
    assert container["workingDir"] == workdir


def test_the_prefect_worker_polls_the_pool_of_the_deployments(docs: list[dict[str, Any]]) -> None:
    project = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    pools = {d["work_pool"]["name"] for d in project["deployments"]}
    worker = one(docs, "Deployment", "hhs-prefect-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--pool") + 1] in pools
    assert args[args.index("--type") + 1] == "process"


# -- resources -------------------------------------------------------------------------------

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9, "": 1}


def quantity(text: str) -> float:
    """A Kubernetes (or Dask) quantity: ``500m`` cores, ``4Gi`` / ``3.5GiB`` bytes."""
    m = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|K|M|G)?B?", str(text))
    assert m, f"not a quantity: {text!r}"
    value, unit = float(m.group(1)), m.group(2) or ""
    return value / 1000 if unit == "m" else value * _UNITS[unit]


def test_every_container_has_requests_and_limits(docs: list[dict[str, Any]]) -> None:
    seen = 0
    for where, c in containers(docs):
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{where}: no {kind}"
        for resource in ("cpu", "memory"):
            request = quantity(res["requests"][resource])
            limit = quantity(res["limits"][resource])
            assert 0 < request <= limit, f"{where}: {resource} request above its limit"
        seen += 1
    assert seen == 5  # scheduler, worker, Prefect worker, dashboards and their nginx


def test_dask_worker_memory_and_threads_fit_its_container(docs: list[dict[str, Any]]) -> None:
    (container,) = one(docs, "DaskCluster")["spec"]["worker"]["spec"]["containers"]
    args = container["args"]
    memory = quantity(args[args.index("--memory-limit") + 1])
    threads = int(args[args.index("--nthreads") + 1])
    limits = container["resources"]["limits"]
    # Dask must spill and pause before the kernel's OOM killer ends the pod.
    assert memory < quantity(limits["memory"])
    assert threads <= quantity(limits["cpu"])


# -- settings and secrets --------------------------------------------------------------------


def env_names(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Every variable the manifests put into a container, and where it comes from."""
    out: dict[str, str] = {}
    for d in docs:
        if d["kind"] == "ConfigMap":
            out |= dict.fromkeys(d.get("data", {}), f"ConfigMap/{d['metadata']['name']}")
        elif d["kind"] == "Secret":
            out |= dict.fromkeys(d.get("stringData", {}), f"Secret/{d['metadata']['name']}")
    for where, c in containers(docs):
        out |= {e["name"]: where for e in c.get("env", [])}
    return out


def test_every_variable_is_a_real_setting(docs: list[dict[str, Any]]) -> None:
    import prefect.settings
    from bokeh.settings import settings as bokeh_settings

    bokeh_variables = {
        getattr(bokeh_settings, a).env_var
        for a in dir(bokeh_settings)
        if hasattr(getattr(bokeh_settings, a), "env_var")
    }

    settings = {f"HHS_{name.upper()}" for name in Settings.model_fields}
    unknown = []
    for name, where in env_names(docs).items():
        if name.startswith("HHS_"):
            ok = name in settings
        elif name.startswith("PREFECT_"):
            ok = hasattr(prefect.settings, name)  # Prefect's own setting objects
        elif name.startswith("BOKEH_"):
            ok = name in bokeh_variables
        else:
            ok = name in AWS_VARS
        if not ok:
            unknown.append(f"{name} ({where})")
    assert unknown == []


def test_the_configuration_builds_valid_settings_on_s3(
    docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("HHS_"):
            monkeypatch.delenv(name)
    config = one(docs, "ConfigMap", "hhs-config")["data"]
    credentials = one(docs, "Secret", "hhs-platform-credentials")["stringData"]
    for name, value in {**config, **credentials}.items():
        # an empty value is a value, not "unset": never in the ConfigMap
        assert value != "" or name in credentials, f"{name} is empty in the ConfigMap"
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.lake_uri.startswith("s3://")
    assert settings.lake_storage_options["AWS_REGION"]
    # an empty credential leaves its platform out instead of sending an empty token
    assert settings.secret_values() == []


def test_no_secret_is_written_in_the_manifests(docs: list[dict[str, Any]]) -> None:
    secret_settings = {
        f"HHS_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert "HHS_YOUTUBE_API_KEY" in secret_settings
    for d in docs:
        if d["kind"] == "ConfigMap":
            leaked = [k for k in d["data"] if k in secret_settings or SECRET_NAME.search(k)]
            assert leaked == [], f"secret settings in ConfigMap {d['metadata']['name']}"
        if d["kind"] == "Secret":
            assert "data" not in d, "base64 data is a real value: use stringData placeholders"
            for key, value in d["stringData"].items():
                if SECRET_NAME.search(key):
                    assert value == "", f"{key} holds a value in the template"
                else:  # e.g. PREFECT_API_URL: an address, never with credentials in it
                    assert "@" not in value and not SECRET_NAME.search(value), key
    for where, c in containers(docs):
        for e in c.get("env", []):
            if e["name"] in NOT_SECRET:
                continue
            if SECRET_NAME.search(e["name"]) or e["name"] in secret_settings:
                assert "value" not in e, f"{where}: {e['name']} must come from a Secret"
    assert isinstance(Settings(_env_file=None).youtube_api_key, SecretStr | None)  # type: ignore[call-arg]


# -- Dask Gateway ----------------------------------------------------------------------------

#: Keys of the dask-gateway chart's values.yaml that the file may set (chart 2024+).
GATEWAY_KEYS = {
    "gateway.auth.type",
    "gateway.resources",
    "gateway.backend.image.name",
    "gateway.backend.image.tag",
    "gateway.backend.image.pullPolicy",
    "gateway.backend.scheduler.cores.request",
    "gateway.backend.scheduler.cores.limit",
    "gateway.backend.scheduler.memory.request",
    "gateway.backend.scheduler.memory.limit",
    "gateway.backend.scheduler.extraContainerConfig",
    "gateway.backend.worker.cores.request",
    "gateway.backend.worker.cores.limit",
    "gateway.backend.worker.memory.request",
    "gateway.backend.worker.memory.limit",
    "gateway.backend.worker.threads",
    "gateway.backend.worker.extraContainerConfig",
    "gateway.extraConfig",
    "controller.resources",
    "traefik.service.type",
    "traefik.resources",
}
#: Values whose insides are free-form (Kubernetes objects, config code).
GATEWAY_OPEN = ("resources", "extraContainerConfig", "extraConfig")


def leaf_paths(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, dict) and not prefix.endswith(GATEWAY_OPEN):
        for key, value in node.items():
            yield from leaf_paths(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def test_the_gateway_values_use_chart_keys_and_size_workers_like_the_operator(
    docs: list[dict[str, Any]],
) -> None:
    values = load_docs(ROOT / "cluster" / "helm" / "dask-gateway-values.yaml")[0]
    assert set(leaf_paths(values)) <= GATEWAY_KEYS
    backend = values["gateway"]["backend"]
    (image,) = {c["image"] for _, c in containers(docs) if c["name"] != "nginx"}
    assert backend["image"]["name"] in image
    worker = backend["worker"]
    (dask_worker,) = one(docs, "DaskCluster")["spec"]["worker"]["spec"]["containers"]
    limits = dask_worker["resources"]["limits"]
    assert worker["cores"]["limit"] == quantity(limits["cpu"])
    assert worker["memory"]["limit"] == "4G" and quantity(limits["memory"]) >= 4 * 10**9
    assert "password" not in str(values["gateway"]["auth"]).lower()
    defined = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for role in ("scheduler", "worker"):
        for source in backend[role]["extraContainerConfig"]["envFrom"]:
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if key in source and not source[key].get("optional"):
                    assert (kind, source[key]["name"]) in defined
    assert "cluster_max_workers" in values["gateway"]["extraConfig"]["hhs-limits"]
