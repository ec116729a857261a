#!/usr/bin/env bash
# Throwaway ClickHouse server for the test suite (Debian's clickhouse-server, 18.16 on these machines).
#
#   scripts/clickhouse-test-server.sh start    # install if missing, start on free loopback ports, print the export line
#   scripts/clickhouse-test-server.sh stop     # kill it and remove its data dir
#   scripts/clickhouse-test-server.sh restart  # kill it and start it again: same ports, same data dir
#   scripts/clickhouse-test-server.sh halt     # SIGKILL it (a crash), keep data dir and state (outage tests)
#   scripts/clickhouse-test-server.sh resume   # start a halted instance again on the same ports and data dir
#   scripts/clickhouse-test-server.sh env      # print the export line of the running instance
#
# State (PID, DIR, TCP_PORT, HTTP_PORT, URL) goes to $CLICKHOUSE_STATE_FILE (default .ci/state/clickhouse.env).
# Usage in a Makefile:  eval "$$(scripts/clickhouse-test-server.sh start | tail -n 1)"; pytest ...; scripts/... stop
# Only the last line of `start` goes to stdout; progress goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_FILE="${CLICKHOUSE_STATE_FILE:-$ROOT/.ci/state/clickhouse.env}"
WAIT_SECONDS="${CLICKHOUSE_WAIT_SECONDS:-60}"

say() { echo "clickhouse-test-server: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

server_cmd() {
    # Debian's 18.16 packaging ships /usr/sbin/clickhouse-server; upstream packages ship /usr/bin/clickhouse.
    if [[ -x /usr/sbin/clickhouse-server ]]; then echo /usr/sbin/clickhouse-server
    elif [[ -x /usr/bin/clickhouse ]]; then echo "/usr/bin/clickhouse server"
    elif command -v clickhouse-server >/dev/null 2>&1; then command -v clickhouse-server
    else return 1; fi
}

client_cmd() {
    if command -v clickhouse-client >/dev/null 2>&1; then echo clickhouse-client
    elif [[ -x /usr/bin/clickhouse ]]; then echo "/usr/bin/clickhouse client"
    else return 1; fi
}

ensure_installed() {
    if server_cmd >/dev/null && client_cmd >/dev/null; then return 0; fi
    say "clickhouse-server not found; installing Debian's clickhouse-server and clickhouse-client"
    local sudo=""
    [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
    $sudo apt-get update >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y clickhouse-server clickhouse-client >&2
    server_cmd >/dev/null || die "clickhouse-server is still missing after apt-get install"
}

free_port() {
    local py
    py="$(command -v python3 || echo "$ROOT/.venv/bin/python")"
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

alive() { [[ -n "${PID:-}" ]] && kill -0 "$PID" 2>/dev/null; }

load_state() {
    PID="" DIR="" TCP_PORT="" HTTP_PORT="" URL=""
    # shellcheck disable=SC1090
    [[ -f "$STATE_FILE" ]] && source "$STATE_FILE"
    return 0
}

save_state() {
    mkdir -p "$(dirname "$STATE_FILE")"
    cat >"$STATE_FILE" <<EOF
PID=$PID
DIR=$DIR
TCP_PORT=$TCP_PORT
HTTP_PORT=$HTTP_PORT
URL=$URL
EOF
}

write_config() {
    mkdir -p "$DIR/data/tmp" "$DIR/data/user_files" "$DIR/data/format_schemas"
    cat >"$DIR/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>$DIR/server.log</log>
        <errorlog>$DIR/server.err.log</errorlog>
        <size>50M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$TCP_PORT</tcp_port>
    <http_port>$HTTP_PORT</http_port>
    <path>$DIR/data/</path>
    <tmp_path>$DIR/data/tmp/</tmp_path>
    <user_files_path>$DIR/data/user_files/</user_files_path>
    <format_schema_path>$DIR/data/format_schemas/</format_schema_path>
    <users_config>$DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <keep_alive_timeout>3</keep_alive_timeout>
</yandex>
EOF
    cat >"$DIR/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
}

launch() {
    local server
    server="$(server_cmd)" || die "no clickhouse-server binary"
    # Debian's 18.16 runs as root without complaint (checked). Newer servers refuse to start when the data dir belongs
    # to another user; the dir is created by the user running this script, so both hold.
    # setsid: its own session, so Ctrl-C in a terminal running pytest does not kill it halfway.
    # shellcheck disable=SC2086
    setsid $server --config-file="$DIR/config.xml" >>"$DIR/stdout.log" 2>&1 </dev/null &
    PID=$!
    save_state
    wait_ready
}

wait_ready() {
    local client deadline=$((SECONDS + WAIT_SECONDS)) next=$((SECONDS + 2))
    client="$(client_cmd)" || die "no clickhouse-client binary"
    say "waiting for ClickHouse (pid $PID) on 127.0.0.1:$TCP_PORT (up to ${WAIT_SECONDS}s)"
    # shellcheck disable=SC2086
    until $client --host 127.0.0.1 --port "$TCP_PORT" -q 'SELECT 1' >/dev/null 2>&1; do
        if ! alive; then
            say "server exited; last log lines:"
            tail -n 30 "$DIR/server.err.log" "$DIR/stdout.log" >&2 2>/dev/null || true
            die "ClickHouse did not start (logs in $DIR)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$DIR/server.err.log" >&2 2>/dev/null || true
            die "ClickHouse did not answer within ${WAIT_SECONDS}s (logs in $DIR)"
        fi
        if ((SECONDS >= next)); then say "... still waiting (${SECONDS}s)"; next=$((SECONDS + 2)); fi
        sleep 0.2
    done
    # shellcheck disable=SC2086
    say "ready: $($client --host 127.0.0.1 --port "$TCP_PORT" -q 'SELECT version()') on port $TCP_PORT"
}

kill_server() {  # $1: TERM (graceful, default) or KILL (a crash, for outage tests)
    alive || return 0
    kill "-${1:-TERM}" "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do alive || return 0; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do alive || return 0; sleep 0.1; done
    die "pid $PID did not exit"
}

print_env() { echo "export TRAIL_TEST_CLICKHOUSE_URL=$URL"; }

cmd_start() {
    load_state
    if alive; then say "already running (pid $PID, $DIR)"; print_env; return; fi
    ensure_installed
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/trail-clickhouse.XXXXXX")"
    TCP_PORT="$(free_port)"
    HTTP_PORT="$(free_port)"
    while [[ "$HTTP_PORT" == "$TCP_PORT" ]]; do HTTP_PORT="$(free_port)"; done
    URL="clickhouse://default@127.0.0.1:$TCP_PORT/default"
    write_config
    launch
    print_env
}

cmd_stop() {
    load_state
    [[ -n "$DIR" ]] || { say "no instance recorded in $STATE_FILE"; return 0; }
    kill_server
    [[ "$DIR" == */trail-clickhouse.* ]] && rm -rf "$DIR"
    rm -f "$STATE_FILE"
    say "stopped"
}

cmd_halt() {  # $1: signal, TERM for restart, KILL for halt
    load_state
    [[ -n "$DIR" ]] || die "no instance recorded in $STATE_FILE"
    kill_server "${1:-KILL}"
    say "halted with SIG${1:-KILL} (data kept in $DIR)"
}

cmd_resume() {
    load_state
    [[ -n "$DIR" && -f "$DIR/config.xml" ]] || die "no halted instance recorded in $STATE_FILE"
    if alive; then say "already running (pid $PID)"; print_env; return; fi
    launch
    print_env
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_halt TERM; cmd_resume ;;
    halt) cmd_halt ;;
    resume) cmd_resume ;;
    env) load_state; alive || die "not running"; print_env ;;
    *) echo "usage: $0 start|stop|restart|halt|resume|env" >&2; exit 2 ;;
esac
