#!/usr/bin/env bash
# Runs the benchmarks (release builds) with the services they compare against, then stops those services.
set -euo pipefail
cd "$(dirname "$0")/../.."
# `make bench` installs the test dependencies; the SMTP benchmark also needs Postfix (its peer and smtp-source).
bash tests/services/deps.sh bench

started_rabbit=0
cleanup() {
  if [ "$started_rabbit" = 1 ]; then bash tests/services/rabbitmq.sh stop || true; fi
}
trap cleanup EXIT
if ! bash tests/services/rabbitmq.sh status >/dev/null 2>&1; then
  started_rabbit=1
  bash tests/services/rabbitmq.sh start
fi

echo "## Store (embedded SQLite)"
cargo bench -p kz_data --bench store
echo
echo "## Bus (in-process vs RabbitMQ)"
cargo bench -p kz_amqp --bench bus
# RabbitMQ is not needed past this point: stop it so it takes no CPU from the SMTP runs.
if [ "$started_rabbit" = 1 ]; then
  bash tests/services/rabbitmq.sh stop || true
  started_rabbit=0
fi
echo
echo "## Fax media (Faxbox's converter vs Ghostscript and ImageMagick, Kazoo's commands)"
cargo bench -p fax_media --bench convert
echo
echo "## SMTP intake (Faxbox vs Postfix)"
bash tests/bench/smtp.sh
