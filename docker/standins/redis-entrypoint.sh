#!/bin/sh
# The redis image's rule: without a config file, protected mode is off, so other containers
# can connect. The server runs as user redis.
set -eu
if [ "${1-}" = redis-server ]; then
    case "${2-}" in
        ""|-*) set -- "$@" --protected-mode no ;;
    esac
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
