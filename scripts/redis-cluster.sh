#!/usr/bin/env bash
# A throwaway local Redis Cluster for the cluster tests: three masters on loopback, no persistence, no replicas.
# With cluster-require-full-coverage off, as docs/storage.md advises: a lost master takes only its own slots down.
#
#   scripts/redis-cluster.sh start [first-port]   # default 7000: ports 7000, 7001, 7002
#   scripts/redis-cluster.sh stop  [first-port]
#
# `start` prints the URL to export as REDIS_CLUSTER_URL (e.g. redis://127.0.0.1:7000): the tests find the other
# masters from it. Each node keeps its files under /tmp/tokentree-cluster-<port>.
set -euo pipefail

command=${1:-}
first=${2:-7000}
ports=("$first" "$((first + 1))" "$((first + 2))")

dir_of() { echo "/tmp/tokentree-cluster-$1"; }

stop() {
  for port in "${ports[@]}"; do
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$(dir_of "$port")"
  done
}

start() {
  stop
  for port in "${ports[@]}"; do
    dir=$(dir_of "$port")
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
      --cluster-node-timeout 5000 --cluster-require-full-coverage no --save "" --appendonly no --dir "$dir" \
      --daemonize yes \
      --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null
  # Every node must agree that all 16384 slots are served before a client connects.
  for port in "${ports[@]}"; do
    for attempt in $(seq 100); do
      redis-cli -p "$port" cluster info | grep -q 'cluster_state:ok' && break
      if [ "$attempt" = 100 ]; then echo "cluster on port $port did not reach cluster_state:ok" >&2; exit 1; fi
      sleep 0.1
    done
  done
  echo "redis://127.0.0.1:$first"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop [first-port]" >&2; exit 2 ;;
esac
