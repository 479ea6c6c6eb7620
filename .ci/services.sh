# PostgreSQL and Redis for CI: started when they are not running, installed when missing.
# Sourced by .ci/run. Each step is a function or a variable, so that tests/test_ci_services.py
# can run ensure_service against commands of its own (it never stops the machine's services).

: "${PG_HOST:=127.0.0.1}" "${PG_PORT:=5432}"
: "${REDIS_HOST:=127.0.0.1}" "${REDIS_PORT:=6379}"
: "${SERVICE_WAIT_SECONDS:=30}"

postgres_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
redis_up() { [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

start_postgres() {
    # Debian's init script, or its cluster tool where there is no init (a container)
    service postgresql start || pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start
}
start_redis() {
    service redis-server start || redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT"
}
pg_version() { ls /etc/postgresql 2>/dev/null | sort -n | tail -1; }

install_postgres() {
    apt-get update -qq && apt-get install -y -qq postgresql || return 1
    # A fresh install asks a password of TCP clients; the tests connect as postgres without
    # one on loopback, as the project's machines are set up (trust, 127.0.0.1 only).
    trust_loopback "/etc/postgresql/$(pg_version)/main/pg_hba.conf"
    # the package may have started the cluster already: it reads the file again on a reload
    service postgresql reload >/dev/null 2>&1 ||
        pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main reload >/dev/null 2>&1 || true
}
trust_loopback() {
    sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$1"
}
install_redis() { apt-get update -qq && apt-get install -y -qq redis-server redis-tools; }

# ensure_service NAME CHECK START INSTALL PROGRAM: NAME answers CHECK already, or PROGRAM is
# installed (INSTALL) if missing and NAME started (START), then waited for; otherwise a line
# in words on stderr and status 1.
ensure_service() {
    local name=$1 check=$2 start=$3 install=$4 program=$5
    if $check; then
        echo "ci: $name is running"
        return 0
    fi
    if ! command -v "$program" >/dev/null 2>&1; then
        echo "ci: $name is not installed; installing it"
        if ! $install; then
            echo "ci: $name is not installed and could not be installed ($install)" >&2
            return 1
        fi
    fi
    echo "ci: $name is not running; starting it"
    $start >/dev/null 2>&1 || true
    local waited=0
    while [ "$waited" -lt "$((SERVICE_WAIT_SECONDS * 10))" ]; do
        if $check; then
            echo "ci: $name started"
            return 0
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "ci: $name is not running and could not be started ($start); its tests are required" >&2
    return 1
}

ensure_services() {
    ensure_service PostgreSQL postgres_up start_postgres install_postgres pg_isready &&
        ensure_service Redis redis_up start_redis install_redis redis-server
}
