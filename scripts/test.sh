#!/usr/bin/env bash
# `make test`: make sure MariaDB, Redis, a throwaway ClickHouse server and Chromium are there, then run pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
step() { printf '\n==> %s\n' "$*"; }

step "checking MariaDB at 127.0.0.1:3306"
if ! $BIN/python - <<'PY' 2>/dev/null
import pymysql; pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=3).close()
PY
then
  if [ -z "${TRAIL_TEST_MYSQL_URL:-}" ] && command -v mariadbd >/dev/null; then
    echo "MariaDB is installed but not running: starting it"
    start-stop-daemon --start --oknodo --background --exec "$(command -v mariadbd)" || true
    for _ in $(seq 1 30); do
      $BIN/python -c 'import pymysql; pymysql.connect(host="127.0.0.1", user="root", connect_timeout=2).close()' 2>/dev/null && break
      sleep 1
    done
  else
    echo "MariaDB is not reachable; set TRAIL_TEST_MYSQL_URL to one that is" >&2
  fi
fi

step "checking Redis at 127.0.0.1:6379"
if ! $BIN/python -c 'import redis; redis.Redis(socket_connect_timeout=2).ping()' 2>/dev/null; then
  if [ -z "${TRAIL_TEST_REDIS_URL:-}" ] && command -v redis-server >/dev/null; then
    echo "Redis is installed but not running: starting it"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    sleep 1
  else
    echo "Redis is not reachable; set TRAIL_TEST_REDIS_URL to one that is" >&2
  fi
fi

if [ ! -x /usr/bin/chromium ]; then
  step "installing Debian's chromium for the browser tests (apt-get)"
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/tmp/trail-chromium-install.log 2>&1 \
    || { echo "could not install chromium; see /tmp/trail-chromium-install.log" >&2; }
fi

started_clickhouse=0
if [ -z "${TRAIL_TEST_CLICKHOUSE_URL:-}" ]; then
  step "starting a throwaway ClickHouse server (installs Debian's clickhouse-server when missing)"
  out=$(bash scripts/clickhouse-test-server.sh start) || { echo "$out"; echo "could not start ClickHouse" >&2; exit 1; }
  echo "$out" | grep -v '^export ' || true
  eval "$(echo "$out" | grep '^export ' | tail -n 1)"
  started_clickhouse=1
fi
echo "ClickHouse server for transport tests: ${TRAIL_TEST_CLICKHOUSE_URL}"

step "running the test suite"
mkdir -p test-output
$BIN/python -m pytest "$@"
status=$?

if [ "$started_clickhouse" = 1 ]; then
  step "stopping the throwaway ClickHouse server"
  bash scripts/clickhouse-test-server.sh stop || true
fi
exit $status
