#!/usr/bin/env bash
# Start a throwaway PostgreSQL and Redis, run a command against them, always stop both.
#
#   scripts/testenv.sh COMMAND [ARGS...]
#   scripts/testenv.sh            # no command: an interactive shell with the services up
#
# Exported to COMMAND:
#   DATABASE_URL=postgres://margin@127.0.0.1:PORT/margin   (superuser, trust auth, CREATEDB)
#   REDIS_URL / CELERY_BROKER_URL=redis://127.0.0.1:PORT/0
#   TESTENV_DIR        the temporary folder holding both data folders (deleted afterwards)
#   TESTENV_PG_CTL     "$TESTENV_PG_CTL stop|start|restart|kill": for fault tests
#   TESTENV_REDIS_CTL  "$TESTENV_REDIS_CTL stop|start|restart|kill": for fault tests
#   MARGIN_VAR_DIR, ARTIFACT_ROOT   under TESTENV_DIR unless already set
#
# Works as root (PostgreSQL then runs as the `postgres` user: initdb refuses root) and as a
# normal user. Needs the Debian packages postgresql and redis-server (`make sysdeps`).
# Data folders are on fsync=off (they survive a killed PostgreSQL, not a crashed machine): fine
# for tests, never for anything else. synchronous_commit stays on, as in production.
set -euo pipefail

log() { printf '[testenv] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

find_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
    local d
    for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        [[ -x "$d/initdb" ]] && { echo "$d"; return; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
    die "PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BIN)"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

PG_BIN="$(find_pg_bin)"
REDIS_SERVER="$(command -v redis-server || true)"
[[ -n "$REDIS_SERVER" ]] || die "redis-server not found (apt-get install redis-server)"

TESTENV_DIR="$(mktemp -d "${TMPDIR:-/tmp}/margin-testenv.XXXXXX")"
chmod 755 "$TESTENV_DIR"
PGDATA="$TESTENV_DIR/pgdata"
PGSOCK="$TESTENV_DIR/pgsock"
PGLOG="$TESTENV_DIR/postgres.log"
REDIS_DIR="$TESTENV_DIR/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
mkdir -p "$PGSOCK" "$REDIS_DIR"

# Who runs PostgreSQL: root cannot; `postgres` (from the Debian package) does instead.
if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user"
    chown postgres: "$PGSOCK"
    touch "$PGLOG" && chown postgres: "$PGLOG"
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    as_pg() { "$@"; }
fi

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ -f "$PGDATA/postmaster.pid" ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 20 stop >/dev/null 2>&1
    fi
    if [[ -f "$REDIS_PIDFILE" ]]; then
        local pid
        pid="$(cat "$REDIS_PIDFILE" 2>/dev/null)"
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null
        fi
    fi
    if [[ "${TESTENV_KEEP:-0}" == 1 ]]; then
        log "kept $TESTENV_DIR (TESTENV_KEEP=1)"
    else
        rm -rf "$TESTENV_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- PostgreSQL ------------------------------------------------------------------------------
if [[ "$(id -u)" == 0 ]]; then
    mkdir -p "$PGDATA" && chown postgres: "$PGDATA" && chmod 700 "$PGDATA"
fi
as_pg "$PG_BIN/initdb" -D "$PGDATA" -U margin --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    --no-sync >"$TESTENV_DIR/initdb.log" 2>&1 || { cat "$TESTENV_DIR/initdb.log" >&2; die "initdb failed"; }

pg_start() {
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 -o "-p $PG_PORT" start >/dev/null
}
for attempt in 1 2 3; do
    PG_PORT="$(free_port)"
    cat >>"$PGDATA/postgresql.conf" <<EOF
# margin testenv (attempt $attempt)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGSOCK'
fsync = off
# on, as in production: a commit is acknowledged only once its WAL is written, so the fault
# tests (PostgreSQL killed under load) see what production would. fsync=off costs nothing
# here and matters only if the machine itself crashes.
synchronous_commit = on
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
EOF
    if pg_start; then break; fi
    [[ $attempt == 3 ]] && { tail -20 "$PGLOG" >&2; die "PostgreSQL did not start"; }
    log "PostgreSQL did not start on port $PG_PORT, retrying"
done
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U margin margin

# ---- Redis -----------------------------------------------------------------------------------
redis_start() {
    "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$REDIS_DIR" --pidfile "$REDIS_PIDFILE" --daemonize yes \
        --logfile "$REDIS_DIR/redis.log" >/dev/null
    for _ in $(seq 100); do
        redis_ping && return 0
        sleep 0.05
    done
    return 1
}
redis_ping() {
    python3 - "$REDIS_PORT" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"PING\r\n")
sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
EOF
}
for attempt in 1 2 3; do
    REDIS_PORT="$(free_port)"
    if redis_start; then break; fi
    [[ $attempt == 3 ]] && { tail -20 "$REDIS_DIR/redis.log" >&2 || true; die "Redis did not start"; }
    log "Redis did not start on port $REDIS_PORT, retrying"
done

# ---- control scripts for fault-injection tests -----------------------------------------------
if [[ "$(id -u)" == 0 ]]; then run_pg='runuser -u postgres --'; else run_pg=''; fi
cat >"$TESTENV_DIR/pg_ctl" <<EOF
#!/usr/bin/env bash
# $TESTENV_DIR/pg_ctl stop|start|restart|kill   (the testenv PostgreSQL)
set -euo pipefail
cd /
case "\${1:-}" in
  stop)    $run_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop ;;
  kill)    $run_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 60 stop ;;
  start)   $run_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 start ;;
  restart) $run_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -m fast -w -t 60 restart ;;
  *) echo "usage: \$0 stop|start|restart|kill" >&2; exit 2 ;;
esac
EOF
cat >"$TESTENV_DIR/redis_ctl" <<EOF
#!/usr/bin/env bash
# $TESTENV_DIR/redis_ctl stop|start|restart|kill   (the testenv Redis)
set -euo pipefail
stop() {
  local sig=\$1 pid
  pid=\$(cat "$REDIS_PIDFILE" 2>/dev/null || true)
  [[ -n "\$pid" ]] || return 0
  kill -\$sig "\$pid" 2>/dev/null || return 0
  for _ in \$(seq 100); do kill -0 "\$pid" 2>/dev/null || { rm -f "$REDIS_PIDFILE"; return 0; }; sleep 0.05; done
  kill -9 "\$pid" 2>/dev/null || true; rm -f "$REDIS_PIDFILE"
}
start() {
  "$REDIS_SERVER" --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no --dir "$REDIS_DIR" \
    --pidfile "$REDIS_PIDFILE" --daemonize yes --logfile "$REDIS_DIR/redis.log" >/dev/null
  for _ in \$(seq 100); do
    python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",$REDIS_PORT),1); s.sendall(b"PING\r\n"); sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)' 2>/dev/null && return 0
    sleep 0.05
  done
  echo "redis did not come back" >&2; return 1
}
case "\${1:-}" in
  stop) stop TERM ;;
  kill) stop KILL ;;
  start) start ;;
  restart) stop TERM; start ;;
  *) echo "usage: \$0 stop|start|restart|kill" >&2; exit 2 ;;
esac
EOF
chmod 755 "$TESTENV_DIR/pg_ctl" "$TESTENV_DIR/redis_ctl"

export DATABASE_URL="postgres://margin@127.0.0.1:$PG_PORT/margin"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export CELERY_BROKER_URL="$REDIS_URL"
export TESTENV_DIR
export TESTENV_PG_CTL="$TESTENV_DIR/pg_ctl"
export TESTENV_REDIS_CTL="$TESTENV_DIR/redis_ctl"
export TESTENV_PGDATA="$PGDATA"
export MARGIN_VAR_DIR="${MARGIN_VAR_DIR:-$TESTENV_DIR/var}"
export ARTIFACT_ROOT="${ARTIFACT_ROOT:-$TESTENV_DIR/artifacts}"
mkdir -p "$MARGIN_VAR_DIR" "$ARTIFACT_ROOT"
pg_version="$("$PG_BIN/postgres" --version | awk '{print $3}')"
log "PostgreSQL $pg_version on 127.0.0.1:$PG_PORT, Redis $("$REDIS_SERVER" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT ($TESTENV_DIR)"

if [[ $# -eq 0 ]]; then
    log "no command given: starting ${SHELL:-bash}; exit it to stop the services"
    set -- "${SHELL:-bash}"
fi
set +e
"$@"
rc=$?
set -e
exit "$rc"
