#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on 127.0.0.1 and a unix socket in its own
# temporary folder. Used by .ci/run and by hand:
#
#   eval "$(tests/pg_cluster.sh start)"   # exports TOKENWORKS_TEST_POSTGRES and PG_CLUSTER_DIR
#   ...run the tests...
#   tests/pg_cluster.sh stop "$PG_CLUSTER_DIR"   # stops the server and deletes the folder
#
# `start` prints shell assignments on stdout (everything else goes to stderr). initdb refuses
# to run as root, so as root the cluster belongs to the `postgres` user (runuser), which
# Debian's postgresql package creates; otherwise it runs as the caller.
set -euo pipefail

bin_dir() {
  # Debian keeps the server binaries out of PATH, one folder per major version: take the newest.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
    echo "$dir"
  elif command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"
  else
    return 1
  fi
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local bin dir port
  bin=$(bin_dir) || { echo "pg_cluster: no initdb found (apt-get install postgresql)" >&2; exit 1; }
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tokenworks-pg.XXXXXX")
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  port=$(free_port)
  # Trust on loopback and the private socket only: the cluster is a throwaway for tests.
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
    --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  # fsync off: the data is thrown away at the end, and the tests create many databases.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir \
     -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    >&2 || { cat "$dir/server.log" >&2; exit 1; }
  echo "export PG_CLUSTER_DIR=$dir"
  echo "export TOKENWORKS_TEST_POSTGRES=postgresql://postgres@127.0.0.1:$port/postgres"
}

stop() {
  local dir=${1:?usage: pg_cluster.sh stop DIR}
  local bin
  bin=$(bin_dir) || true
  if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  fi
  case "$dir" in
    "${TMPDIR:-/tmp}"/tokenworks-pg.*) rm -rf "$dir" ;;
    *) echo "pg_cluster: not deleting $dir (not one of ours)" >&2 ;;
  esac
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  bin) bin_dir ;;
  *) echo "usage: $0 start | stop DIR | bin" >&2; exit 2 ;;
esac
