"""deploy/Dockerfile, deploy/compose.yaml and deploy/k8s: no container runtime runs here, so
every file is parsed, every skuflow command in them is parsed by skuflow's own CLI (so each
command and flag exists), and the StatefulSet's shell really derives each pod's process id
and the cluster's addresses (run with a stand-in `skuflow` that prints what it was given)."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.policy_file import parse_policy
from dataflows.cli import build_parser
from serving.auth import PUBLIC

DEPLOY = Path(__file__).parent.parent.parent / "deploy"
REPO = DEPLOY.parent


def parsed(argv: list[str]) -> argparse.Namespace:
    """`argv` (after `skuflow`) as the CLI parses it; a failure names the unknown command or flag."""
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"skuflow {shlex.join(argv)}: not a valid command line") from exc


def shell_commands(script: str) -> list[list[str]]:
    """The `skuflow ...` command lines of a shell snippet (split at && and ||)."""
    out = []
    for part in re.split(r"&&|\|\||[()\n]", script):
        words = shlex.split(part)
        if words and words[0] == "skuflow":
            out.append(words[1:])
    return out


# -- Dockerfile -------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    lines = [ln.strip() for ln in (DEPLOY / "Dockerfile").read_text().splitlines() if ln.strip() and ln[0] != "#"]
    stages = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(stages) == 2 and stages[0].endswith(" AS build") and "slim" in stages[1]
    final = lines[lines.index(stages[1]) :]
    assert any(ln.startswith("COPY --from=build ") for ln in final)
    assert [ln for ln in final if ln.startswith("USER ")] == ["USER skuflow"]
    assert 'ENTRYPOINT ["skuflow"]' in final
    assert not any("cargo" in ln or "rustup" in ln for ln in final)  # the toolchain stays in the build stage
    assert any("pip wheel" in ln for ln in lines[: lines.index(stages[1])])


def test_dockerfile_copies_what_exists_and_what_its_ignore_file_lets_in() -> None:
    allowed = [
        ln[1:].rstrip("/") for ln in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if ln.startswith("!")
    ]
    for ln in (DEPLOY / "Dockerfile").read_text().splitlines():
        if ln.startswith("COPY ") and "--from=" not in ln:
            *sources, _ = ln.split()[1:]
            for source in sources:
                assert (REPO / source).exists(), source
                assert source.rstrip("/") in allowed, source


def test_the_wheel_packages_every_python_package() -> None:
    import tomllib

    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        str(p.parent.relative_to(REPO)).replace("/", ".")
        for top in ("operators", "dataflows", "connectors", "serving", "schemas")
        for p in (REPO / top).rglob("__init__.py")
        if "native" not in p.parts
    }
    assert declared == found


# -- compose ----------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_kafka_two_flow_processes_two_replicas_prometheus_grafana() -> None:
    services = _compose()["services"]
    assert {"kafka", "flow-0", "flow-1", "api-1", "api-2", "prometheus", "grafana"} <= set(services)
    env = services["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "zookeeper" not in str(env).lower()  # KRaft
    kafka_version = re.search(r"<kafka.version>(.*)</kafka.version>", (DEPLOY / "kafka" / "pom.xml").read_text())
    assert kafka_version and services["kafka"]["image"] == f"apache/kafka:{kafka_version.group(1)}"


def test_every_skuflow_command_in_compose_parses() -> None:
    services = _compose()["services"]
    commands = 0
    for name, service in services.items():
        if service.get("image") != "skuflow:latest":
            continue
        if "entrypoint" in service:
            lines = [c for script in service["command"] for c in shell_commands(script)]
        else:
            lines = [service["command"]]
        assert lines, name
        for argv in lines:
            parsed(argv)
            commands += 1
    assert commands >= 6


def test_compose_flow_processes_form_one_cluster() -> None:
    services = _compose()["services"]
    flows = sorted(n for n in services if n.startswith("flow-"))
    args = [parsed(services[n]["command"]) for n in flows]
    assert [a.process_id for a in args] == list(range(len(flows)))
    assert all(a.addresses == ";".join(f"{n}:2101" for n in flows) for a in args)
    assert all(services[n]["hostname"] == n for n in flows)
    same = [{k: v for k, v in vars(a).items() if k not in ("process_id", "func")} for a in args]
    assert all(s == same[0] for s in same)  # the same arguments but the process id
    assert all(str(a.recovery_dir).startswith("/var/lib/skuflow/recovery") for a in args)
    assert all("recovery:/var/lib/skuflow/recovery" in services[n]["volumes"] for n in flows)  # one shared volume


def test_compose_mounts_files_that_exist_and_prometheus_scrapes_each_process(promtool: str, tmp_path: Path) -> None:
    services = _compose()["services"]
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source
    config = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"flow-0:8001", "flow-1:8001", "api-1:8000", "api-2:8000"}
    for name in ("prometheus.yml",):
        (tmp_path / name).write_text((DEPLOY / "compose" / name).read_text())
    (tmp_path / "alerts.yml").write_text((DEPLOY / "prometheus" / "alerts.yml").read_text())
    check = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    dashboards = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "skuflow.yaml").read_text())
    mounted = [v for v in services["grafana"]["volumes"] if v.startswith("./grafana/skuflow.json:")]
    assert mounted and mounted[0].split(":")[1].startswith(dashboards["providers"][0]["options"]["path"])


# -- Kubernetes -------------------------------------------------------------------------


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    out = {}
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / "k8s" / resource).read_text()):
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def _pod_command(ordinal: int, replicas: int, tmp_path: Path) -> list[str]:
    """What the StatefulSet's pod `ordinal` would exec: its shell run with a stand-in skuflow."""
    spec = _k8s()[("StatefulSet", "skuflow-flow")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", "") for e in spec["env"]}
    stand_in = tmp_path / "bin" / "skuflow"
    stand_in.parent.mkdir(exist_ok=True)
    stand_in.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n')
    stand_in.chmod(0o755)
    env |= {"PROCESSES": str(replicas), "NAMESPACE": "prod", "HOSTNAME": f"skuflow-flow-{ordinal}"}
    env["PATH"] = f"{stand_in.parent}:{os.environ['PATH']}"
    proc = subprocess.run([*spec["command"], *spec["args"]], env=env, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("\0")[:-1]


@pytest.mark.parametrize("replicas", [1, 2, 5])
def test_each_statefulset_pod_derives_its_process_id_and_the_addresses(tmp_path: Path, replicas: int) -> None:
    for ordinal in range(replicas):
        args = parsed(_pod_command(ordinal, replicas, tmp_path))
        assert args.command == "run" and args.process_id == ordinal
        assert args.addresses.split(";") == [
            f"skuflow-flow-{i}.skuflow-flow.prod.svc.cluster.local:2101" for i in range(replicas)
        ]


def test_statefulset_service_volumes_and_probes_fit_the_command(tmp_path: Path) -> None:
    docs = _k8s()
    flow = docs[("StatefulSet", "skuflow-flow")]["spec"]
    container = flow["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PROCESSES"] == str(flow["replicas"]) and flow["podManagementPolicy"] == "Parallel"
    assert docs[("Service", flow["serviceName"])]["spec"]["clusterIP"] == "None"
    args = parsed(_pod_command(0, flow["replicas"], tmp_path))
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert str(args.recovery_dir) == mounts["recovery"] and str(args.state_dir) == mounts["state"]
    volumes = {v["name"]: v for v in flow["template"]["spec"]["volumes"]}
    claim = docs[("PersistentVolumeClaim", volumes["recovery"]["persistentVolumeClaim"]["claimName"])]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # one recovery dir shared by every process
    assert str(args.policy).startswith(mounts["policy"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == args.metrics_port and args.addresses.endswith(f":{ports['cluster']}")
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"


def test_api_deployment_probes_routes_that_exist_and_its_args_parse() -> None:
    docs = _k8s()
    deployment = docs[("Deployment", "skuflow-api")]["spec"]
    container = deployment["template"]["spec"]["containers"][0]
    args = parsed(container["args"])
    assert args.command == "serve" and args.bootstrap and args.workers == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/readyz", "/healthz"} <= PUBLIC  # probes need no API key
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["http"] == args.port
    service = docs[("Service", "skuflow-api")]["spec"]
    assert service["selector"] == deployment["selector"]["matchLabels"]


def test_the_policy_configmap_is_a_valid_policy() -> None:
    policy = parse_policy(_k8s()[("ConfigMap", "skuflow-policy")]["data"]["policy.yaml"])
    assert policy.channels and all(c.publication_slo_s for c in policy.channels)
