#!/usr/bin/env bash
# Runs history.py against a real answerlog server: a Python virtual
# environment with grpcio and grpcio-tools, stubs generated from proto/,
# a server on a free loopback port with a temporary data directory.
# Usage: examples/python/run.sh PATH/TO/answerlog   (CI runs it)
set -euo pipefail
binary="$(realpath "${1:?usage: examples/python/run.sh PATH/TO/answerlog}")"
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet -r "$here/requirements.txt"
mkdir -p "$work/stubs"
"$work/venv/bin/python" -m grpc_tools.protoc -I "$root/proto" \
  --python_out="$work/stubs" --grpc_python_out="$work/stubs" \
  "$root/proto/answerlog/v1/answerlog.proto"

# Authentication on, as in production: a writer's token and its entry.
"$binary" token new python --role writer --json >"$work/token.json"
token="$("$work/venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' "$work/token.json")"
"$work/venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["principalsEntry"])' "$work/token.json" >"$work/principals.toml"

# The example article with an accessed date on its first source, the
# import format's `accessed` key.
sed '0,/^license = "fair-use"$/s//license = "fair-use"\naccessed = 2026-11-20\nurl = "https:\/\/www.mayoclinic.org\/"/' \
  "$root/examples/what-causes-jmt.md" >"$work/what-causes-jmt.md"
grep -q '^accessed = 2026-11-20$' "$work/what-causes-jmt.md"

# The server says where it listens; wait for that line, not for a time.
"$binary" serve --listen 127.0.0.1:0 --data-dir "$work/data" --principals "$work/principals.toml" \
  2>"$work/server.log" &
server=$!
for _ in $(seq 1 600); do
  if grep -q 'listen=' "$work/server.log"; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then cat "$work/server.log" >&2; exit 1; fi
  sleep 0.1
done
addr="$(grep -o 'listen=[^ ]*' "$work/server.log" | head -1 | cut -d= -f2)"
[ -n "$addr" ] || { echo "the server never said where it listens" >&2; cat "$work/server.log" >&2; exit 1; }

PYTHONPATH="$work/stubs" "$work/venv/bin/python" "$here/history.py" \
  --server "$addr" --token "$token" "$work/what-causes-jmt.md" | tee "$work/out.txt"
grep -q "^source 'Juvenile myositis - Symptoms and causes' accessed on 2026-11-20$" "$work/out.txt"
grep -q '^history of what-causes-jmt:' "$work/out.txt"
grep -q 'v1 .*python .*ArticleCreated' "$work/out.txt"
grep -q 'v2 .*python .*SectionEdited' "$work/out.txt"
echo "examples/python: with a writer's token, the example article was imported, edited and its history printed"
