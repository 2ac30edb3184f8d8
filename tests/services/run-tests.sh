#!/usr/bin/env bash
# Runs the whole test suite with the services it needs, and stops them afterwards whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."

started_rabbit=0
cleanup() {
  if [ "$started_rabbit" = 1 ]; then bash tests/services/rabbitmq.sh stop || true; fi
}
trap cleanup EXIT

# Start the broker in the background while the code builds.
if ! bash tests/services/rabbitmq.sh status >/dev/null 2>&1; then
  started_rabbit=1
  bash tests/services/rabbitmq.sh start > target-rabbitmq-start.log 2>&1 &
  rabbit_pid=$!
else
  rabbit_pid=""
fi

cargo build --workspace --all-targets
if [ -n "$rabbit_pid" ]; then
  if ! wait "$rabbit_pid"; then cat target-rabbitmq-start.log; echo "RabbitMQ failed to start"; exit 1; fi
fi
rm -f target-rabbitmq-start.log

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run: the sum of every test binary's result line.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "Total: %d passed, %d failed\n", p, f }' target/test-output.log
exit "$status"
