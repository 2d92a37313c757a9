#!/usr/bin/env bash
# Start the local PostgreSQL, Redis and RabbitMQ if they are not running (idempotent).
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 1 120); do port_open "$port" && return 0; sleep 0.5; done
  echo "services-up: $name did not come up on port $port" >&2
  return 1
}

if ! port_open 5432; then
  echo "services-up: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_port PostgreSQL 5432 || exit 1
fi

if ! port_open 6379; then
  echo "services-up: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_port Redis 6379 || exit 1
fi

if ! port_open 5672; then
  echo "services-up: starting RabbitMQ"
  rabbitmq-server -detached || true
  rabbitmqctl await_startup --timeout 120 >/dev/null 2>&1 || true
  wait_port RabbitMQ 5672 || exit 1
fi
echo "services-up: PostgreSQL, Redis and RabbitMQ are up"
