#!/bin/sh
# The rabbitmq image's contract: the default user from RABBITMQ_DEFAULT_USER/PASS, logs on
# stdout, the management UI and the Prometheus endpoint on their usual ports. The server runs
# as user rabbitmq.
set -eu
if [ "${1-}" != rabbitmq-server ]; then
    exec "$@"
fi
umask 077
{
    echo "default_user = ${RABBITMQ_DEFAULT_USER:-guest}"
    echo "default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}"
    echo "listeners.tcp.default = 5672"
    echo "management.tcp.port = 15672"
    echo "prometheus.tcp.port = 15692"
    echo "log.console = true"
    echo "log.file = false"
} > /etc/rabbitmq/rabbitmq.conf
chown rabbitmq:rabbitmq /etc/rabbitmq/rabbitmq.conf
install -d -o rabbitmq -g rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
export HOME=/var/lib/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
