#!/usr/bin/env bash
# Runs history.mjs against a real answerlog server with authentication on:
# npm ci of the pinned client libraries, a writer's token in a file, a
# server on a free loopback port with a temporary data directory.
# Usage: examples/node/run.sh PATH/TO/answerlog   (CI runs it)
set -euo pipefail
binary="$(realpath "${1:?usage: examples/node/run.sh PATH/TO/answerlog}")"
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$here" && npm ci --no-audit --no-fund --ignore-scripts --silent)
# The token comes from the file below only.
unset ANSWERLOG_TOKEN

# Authentication on, as in production: a writer's token (in a file, never
# on argv) and its principals entry.
"$binary" token new node --role writer --json >"$work/token.json"
node -e 'const t = require(process.argv[1]); require("fs").writeFileSync(process.argv[2], t.token + "\n", { mode: 0o600 }); require("fs").writeFileSync(process.argv[3], t.principalsEntry + "\n")' \
  "$work/token.json" "$work/token" "$work/principals.toml"

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

# Without the token the server refuses; with it the walk goes through.
if node "$here/history.mjs" --server "$addr" "$root/examples/what-causes-jmt.md" >"$work/refused.txt" 2>&1; then
  echo "examples/node: the server took a call with no token" >&2; exit 1
fi
grep -q 'UNAUTHENTICATED' "$work/refused.txt"
node "$here/history.mjs" --server "$addr" --token-file "$work/token" "$root/examples/what-causes-jmt.md" | tee "$work/out.txt"
grep -q '^history of what-causes-jmt:' "$work/out.txt"
grep -q 'v1 .*node .*ArticleCreated' "$work/out.txt"
grep -q 'v2 .*node .*SectionEdited' "$work/out.txt"
grep -q '^diff v1..v2: section s1 ' "$work/out.txt"
echo "examples/node: with a writer's token from a file, the example article was imported, edited, its history and diff printed"
