#!/usr/bin/env bash
# Checks what of deploy/ can be checked on a machine with no container
# engine and no cluster (.ci/run runs it): the systemd unit verifies, the
# YAML parses, the Kubernetes configuration is one answerlog accepts, and
# the Dockerfile copies files that exist and runs commands the binary has.
# Usage: deploy/check.sh PATH/TO/answerlog
set -euo pipefail
binary="$(realpath "${1:?usage: deploy/check.sh PATH/TO/answerlog}")"
cd "$(dirname "$0")/.."
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# The unit, with ExecStart pointing at this build (verify wants it to exist).
sed "s|/usr/local/bin/answerlog|$binary|" deploy/answerlog.service >"$scratch/answerlog.service"
systemd-analyze verify "$scratch/answerlog.service"
echo "deploy/answerlog.service: systemd-analyze verify passes"

# Every YAML document parses; the manifests hold what the README says; the
# ConfigMap's configuration is extracted for the check below.
python3 - "$scratch/answerlog.toml" <<'PY'
import sys
import yaml

for path in ["deploy/docker-compose.yml", "deploy/kubernetes/answerlog.yaml"]:
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
with open(sys.argv[1], "w") as f:
    f.write(manifests["ConfigMap"]["data"]["answerlog.toml"])
PY
"$binary" config print --config "$scratch/answerlog.toml" >/dev/null
echo "deploy/kubernetes/answerlog.yaml: its answerlog.toml is accepted"
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
# Its health check and command are commands this binary has.
"$binary" health --help >/dev/null
"$binary" serve --help >/dev/null
echo "deploy/Dockerfile: its COPY sources exist; health and serve are commands"
