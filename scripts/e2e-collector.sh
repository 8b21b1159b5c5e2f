#!/usr/bin/env bash
# End to end against a real collector process: starts rotel (an OTLP collector) on free
# loopback ports with a Python processor that writes every span it receives to a file, runs
# the quickstart example configured only by T4DM_OTEL_ENDPOINT over gRPC and over HTTP, and
# checks that the whole trace arrived with its parent links and service name.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-tools.sh
venv=target/tools/venv
rotel=$("$venv/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
work=$(mktemp -d)
trap 'kill "$rotel_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
http_port=$(free_port)

cat > "$work/capture.py" <<'PY'
import json
import os


def process_spans(resource_spans):
    service = ""
    if resource_spans.resource is not None:
        for attribute in resource_spans.resource.attributes:
            if attribute.key == "service.name":
                service = attribute.value.value
    with open(os.environ["T4DM_E2E_CAPTURE"], "a") as out:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.write(json.dumps({
                    "name": span.name,
                    "trace_id": bytes(span.trace_id).hex(),
                    "span_id": bytes(span.span_id).hex(),
                    "parent_span_id": bytes(span.parent_span_id).hex(),
                    "kind": int(span.kind),
                    "service": service,
                }) + "\n")
PY

T4DM_E2E_CAPTURE="$work/spans.jsonl" "$rotel" start \
    --otlp-grpc-endpoint "127.0.0.1:$grpc_port" \
    --otlp-http-endpoint "127.0.0.1:$http_port" \
    --exporter blackhole \
    --otlp-with-trace-processor "$work/capture.py" > "$work/rotel.log" 2>&1 &
rotel_pid=$!
for _ in $(seq 100); do
    if grep -q "Starting Rotel" "$work/rotel.log" 2>/dev/null; then break; fi
    sleep 0.1
done

cargo build --quiet --example quickstart
check() {
    local label=$1 service=$2
    "$venv/bin/python" - "$work/spans.jsonl" "$service" "$label" <<'PY'
import json
import sys

path, service, label = sys.argv[1:]
spans = [json.loads(line) for line in open(path)]
spans = [span for span in spans if span["service"] == service]
names = sorted(span["name"] for span in spans)
expected = sorted([
    "mcp.recall_episodes", "episodic.recall", "qdrant.search",
    "scoring_computation", "neo4j.query", "response_formatting",
])
assert names == expected, f"{label}: received {names}"
by_name = {span["name"]: span for span in spans}
assert len({span["trace_id"] for span in spans}) == 1, f"{label}: one trace"
root = by_name["mcp.recall_episodes"]
assert root["parent_span_id"] == "", f"{label}: the root has no parent"
assert root["kind"] == 2, f"{label}: the root is a SERVER span"
assert by_name["episodic.recall"]["parent_span_id"] == root["span_id"]
assert by_name["qdrant.search"]["parent_span_id"] == by_name["episodic.recall"]["span_id"]
assert by_name["qdrant.search"]["kind"] == 3, f"{label}: qdrant.search is a CLIENT span"
print(f"e2e {label}: rotel received the whole trace ({len(spans)} spans)")
PY
}
for _ in $(seq 3); do
    T4DM_OTEL_ENDPOINT="http://127.0.0.1:$grpc_port" T4DM_OTEL_SERVICE_NAME=e2e-grpc \
        target/debug/examples/quickstart 2>/dev/null
    T4DM_OTEL_ENDPOINT="http://127.0.0.1:$http_port/v1/traces" T4DM_OTEL_SERVICE_NAME=e2e-http \
        target/debug/examples/quickstart 2>/dev/null
    sleep 1
    if check grpc e2e-grpc >/dev/null 2>&1 && check http e2e-http >/dev/null 2>&1; then break; fi
done
check grpc e2e-grpc
check http e2e-http
