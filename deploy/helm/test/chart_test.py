#!/usr/bin/env python3
"""Offline test of the vfed Helm chart (deploy/helm/vfed): no helm binary, no cluster.

For every values set in values/: Helm's own lint (strict) and render (Helm's Go SDK
through helm-python-sdk), every rendered object validated strictly against the
Kubernetes API schemas of the chart's oldest and newest supported versions
(kubernetes-validate) or, for cert-manager and Prometheus-operator kinds, against
crd-schemas/; the rendered manifests diffed against golden/<set>.yaml; with --vfed BIN,
the rendered vfed.toml checked by vfed itself (--dump-config). Every values file in
negative/ must fail, with the text its "# expect:" line names.

  chart_test.py [--vfed BIN] [--update-golden]
"""
import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
CHART = HERE.parent / "vfed"
KUBE_VERSIONS = ["1.27.0", "1.37.0"]
RELEASE, NAMESPACE = "shannan", "video"
CRD_SCHEMAS = {
    ("cert-manager.io/v1", "Certificate"): "certificate-cert-manager.io-v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring.coreos.com-v1.json",
}


def load_values(path):
    with open(path) as f:
        return yaml.safe_load(f) or {}


def render(values):
    """Renders the chart as an install would: schema checked, templates executed."""
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(chart.merge_values(values))
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return {k: v for k, v in manifests.items() if not k.endswith("NOTES.txt") and v.strip()}


def lint(values):
    report = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
    return [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + [
        {"severity": 3, "path": "", "error": e} for e in report.get("errors", [])
    ]


def objects(manifests):
    for name in sorted(manifests):
        for doc in yaml.safe_load_all(manifests[name]):
            if doc:
                yield name, doc


def validate(name, doc):
    key = (doc.get("apiVersion"), doc.get("kind"))
    where = f"{name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if key in CRD_SCHEMAS:
        schema = json.loads((HERE / "crd-schemas" / CRD_SCHEMAS[key]).read_text())
        try:
            jsonschema.validate(doc, schema)
        except jsonschema.ValidationError as e:
            return [f"{where}: {e.message} at {'/'.join(map(str, e.absolute_path))}"]
        return []
    errors = []
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{where} (Kubernetes {version}): {e.message} at {'/'.join(map(str, e.path))}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{where}: {e.message}")
    return errors


def golden_text(manifests):
    return "".join(f"# Source: {name}\n{manifests[name].strip()}\n---\n" for name in sorted(manifests))


def container_env(manifests):
    """The vfed container's environment (values.config), as the pod would have it."""
    for _, doc in objects(manifests):
        if doc.get("kind") == "StatefulSet" and doc["spec"]["selector"]["matchLabels"].get(
                "app.kubernetes.io/component") == "node":
            for c in doc["spec"]["template"]["spec"]["containers"]:
                if c["name"] == "vfed":
                    return {e["name"]: e["value"] for e in c.get("env", [])}
    return {}


def check_config(vfed, name, manifests):
    """vfed's own validation of what the pod would load: the ConfigMap and the env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VFED_")}
    env.update(container_env(manifests))
    for _, doc in objects(manifests):
        if doc.get("kind") == "ConfigMap" and "vfed.toml" in doc.get("data", {}):
            with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
                f.write(doc["data"]["vfed.toml"])
            try:
                run = subprocess.run([vfed, "--config", f.name, "--dump-config"],
                                     capture_output=True, text=True, timeout=60, env=env)
            finally:
                os.unlink(f.name)
            if run.returncode != 0:
                return [f"{name}: vfed refuses the rendered vfed.toml: {run.stderr.strip()}"]
            return []
    return [f"{name}: no ConfigMap with vfed.toml rendered"]


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--vfed", help="the vfed binary: check each rendered vfed.toml with it")
    args.add_argument("--update-golden", action="store_true", help="rewrite golden/ from this render")
    opts = args.parse_args()
    failures = []

    sets = sorted((HERE / "values").glob("*.yaml"))
    if len(sets) < 4:
        failures.append(f"values/: {len(sets)} value sets, at least 4 expected")
    for path in sets:
        name = path.stem
        values = load_values(path)
        problems = [f"{name}: lint: {m.get('path')}: {m.get('error')}" for m in lint(values)]
        try:
            manifests = render(values)
        except Exception as e:  # noqa: BLE001 - the SDK's errors name the template
            failures.append(f"{name}: render failed: {e}")
            continue
        count = 0
        for doc_name, doc in objects(manifests):
            count += 1
            problems += validate(doc_name, doc)
        if opts.vfed:
            problems += check_config(opts.vfed, name, manifests)
        golden = HERE / "golden" / f"{name}.yaml"
        text = golden_text(manifests)
        if opts.update_golden:
            golden.write_text(text)
        elif not golden.exists():
            problems.append(f"{name}: golden/{name}.yaml missing (run with --update-golden and review it)")
        elif golden.read_text() != text:
            diff = difflib.unified_diff(golden.read_text().splitlines(), text.splitlines(),
                                        f"golden/{name}.yaml", "rendered", lineterm="", n=2)
            problems.append(f"{name}: rendered manifests differ from golden/{name}.yaml:\n" + "\n".join(diff))
        print(f"{'FAIL' if problems else 'ok  '} {name}: {count} objects, lint, "
              f"Kubernetes {'/'.join(KUBE_VERSIONS)} strict, golden{', vfed --dump-config' if opts.vfed else ''}")
        failures += problems

    for path in sorted((HERE / "negative").glob("*.yaml")):
        expect = path.read_text().splitlines()[0].removeprefix("# expect:").strip()
        try:
            render(load_values(path))
        except Exception as e:  # noqa: BLE001
            message = str(e)
            if expect in message:
                print(f"ok   negative {path.stem}: refused ({expect!r} named)")
            else:
                failures.append(f"negative {path.stem}: refused, but the error does not name {expect!r}: {message}")
            continue
        failures.append(f"negative {path.stem}: rendered, but it must be refused ({expect!r})")

    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print(f"chart test: {'FAILED' if failures else 'ok'} ({len(failures)} failures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
