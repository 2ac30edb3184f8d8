#!/usr/bin/env bash
# Installs, starts, stops and checks the RabbitMQ broker the AMQP backend's tests run against.
#
# The broker runs as the current user (root in CI) without systemd, on loopback only, with the node name
# rabbit@localhost. The management plugin stays off (it would bind 0.0.0.0).
#
# Usage: bash tests/services/rabbitmq.sh {install|start|stop|status}
set -euo pipefail

NODE="rabbit@localhost"
START_TIMEOUT="${RABBITMQ_START_TIMEOUT:-60}"

export RABBITMQ_NODENAME="$NODE"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

log() { echo "rabbitmq.sh: $*" >&2; }

need_sbin() {
    # rabbitmq-server and rabbitmqctl live in /usr/sbin, which non-login shells may not have on PATH.
    case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
}

# The Erlang node answers (the broker application may be stopped, as after `rabbitmqctl stop_app`).
node_up() {
    rabbitmqctl -q -n "$NODE" ping >/dev/null 2>&1
}

# The broker application runs and accepts connections.
is_running() {
    rabbitmqctl -q -n "$NODE" status >/dev/null 2>&1
}

cmd_install() {
    need_sbin
    if command -v rabbitmq-server >/dev/null 2>&1; then
        log "rabbitmq-server already installed"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends rabbitmq-server; then
        log "install failed, refreshing package lists and retrying"
        apt-get update
        apt-get install -y --no-install-recommends rabbitmq-server
    fi
    command -v rabbitmq-server >/dev/null 2>&1 || { log "rabbitmq-server not found after install"; exit 1; }
}

cmd_start() {
    need_sbin
    command -v rabbitmq-server >/dev/null 2>&1 || {
        log "rabbitmq-server is not installed: run 'bash tests/services/rabbitmq.sh install'"
        exit 1
    }
    if is_running; then
        log "already running ($NODE)"
        return 0
    fi
    if node_up; then
        log "node $NODE is up with the broker stopped: starting the broker application"
        rabbitmqctl -q -n "$NODE" start_app
    else
        log "starting $NODE on 127.0.0.1:5672"
        rabbitmq-server -detached
    fi
    local deadline=$((SECONDS + START_TIMEOUT))
    # await_startup fails at once (rc 69) while the node is not yet reachable: retry until the deadline.
    until rabbitmqctl -q -n "$NODE" await_startup --timeout 10 >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "error: $NODE did not start within ${START_TIMEOUT}s; see /var/log/rabbitmq/"
            exit 1
        fi
        sleep 1
    done
    log "ready after ${SECONDS}s"
}

cmd_stop() {
    need_sbin
    if node_up; then
        rabbitmqctl -q -n "$NODE" shutdown >/dev/null || true
    else
        log "not running"
    fi
    if command -v epmd >/dev/null 2>&1; then epmd -kill >/dev/null 2>&1 || true; fi
}

cmd_status() {
    need_sbin
    if is_running; then
        echo "running ($NODE)"
    else
        echo "not running"
        exit 1
    fi
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 {install|start|stop|status}" >&2; exit 2 ;;
esac
