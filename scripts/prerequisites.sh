#!/usr/bin/env bash
# Makes sure what MemorySql needs is installed: the .NET SDK, PostgreSQL >= 15 server programs and pgvector.
# With --test it also installs what the test suite needs (psql, pgbench, pgbouncer, psycopg, a JDK and the
# JDBC driver, node and npm).
# Idempotent and quick when everything is present. Where it cannot install (not root, unknown distribution)
# it stops and prints the exact commands to run.
set -euo pipefail

want_test_tools=0
for a in "$@"; do
  case "$a" in
    --test) want_test_tools=1 ;;
    -h|--help) echo "usage: scripts/prerequisites.sh [--test]"; exit 0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

. /etc/os-release 2>/dev/null || true
distro="${ID:-unknown}"
codename="${VERSION_CODENAME:-}"
is_root=0; [ "$(id -u)" = 0 ] && is_root=1
apt_updated=0

# Installing needs root and apt; otherwise collect the commands for the user.
pending=()
apt_install() {
  if [ "$is_root" = 1 ] && command -v apt-get >/dev/null; then
    if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    pending+=("sudo apt-get install -y $*")
    return 1
  fi
}

pg_bin_dir() {
  local best="" v
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] || continue
    v=$(basename "$(dirname "$d")")
    [ "$v" -ge 15 ] 2>/dev/null || continue
    if [ -z "$best" ] || [ "$v" -gt "$(basename "$(dirname "$best")")" ]; then best=$d; fi
  done
  if [ -z "$best" ] && [ -n "${MEMORYSQL_PG_BIN:-}" ] && [ -x "$MEMORYSQL_PG_BIN/initdb" ]; then best=$MEMORYSQL_PG_BIN; fi
  echo "$best"
}

# --- .NET SDK ---------------------------------------------------------------------------------------------
if ! command -v dotnet >/dev/null || ! dotnet --list-sdks 2>/dev/null | grep -qE '^(1[0-9])\.'; then
  die ".NET SDK 10 or newer is required and was not found. Install it from https://dot.net/download
  (Debian/Ubuntu: https://learn.microsoft.com/dotnet/core/install/linux), then run this again."
fi

# --- PostgreSQL server ------------------------------------------------------------------------------------
bin=$(pg_bin_dir)
if [ -z "$bin" ]; then
  case "$distro" in
    debian|ubuntu) apt_install postgresql postgresql-contrib || true ;;
    *) pending+=("install the PostgreSQL 15+ server package of your distribution and set MEMORYSQL_PG_BIN to its bin folder") ;;
  esac
  bin=$(pg_bin_dir)
fi
if [ -z "$bin" ]; then
  printf 'MemorySql needs the PostgreSQL server programs (15 or newer). Run:\n' >&2
  printf '  %s\n' "${pending[@]}" >&2
  exit 1
fi
major=$(basename "$(dirname "$bin")")
[ "$major" -ge 15 ] 2>/dev/null || major=$("$bin/postgres" --version | sed -E 's/.* ([0-9]+)\..*/\1/')
sharedir=/usr/share/postgresql/$major
[ -x "$bin/pg_config" ] && sharedir=$("$bin/pg_config" --sharedir)

# --- pgvector -----------------------------------------------------------------------------------------------
have_vector() { [ -f "$sharedir/extension/vector.control" ]; }

build_pgvector_from_source_package() {
  # The distribution has no binary package for this release: build Debian's own source package of a
  # newer release against the server headers. apt-get source needs a deb-src line for that release.
  local next
  case "$codename" in
    bookworm) next=trixie ;;
    bullseye) next=bookworm ;;
    *) next="" ;;
  esac
  [ -n "$next" ] || return 1
  local srcfile=/etc/apt/sources.list.d/memorysql-${next}-src.sources
  if [ ! -f "$srcfile" ]; then
    # Reuse the mirror apt already uses.
    local mirror
    mirror=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
    [ -n "$mirror" ] || mirror=$(grep -hoE '^deb +(\[[^]]*\] +)?\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $NF}' | grep -v security | head -n1 || true)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$next" > "$srcfile"
    apt_updated=0
  fi
  apt_install "postgresql-server-dev-$major" dpkg-dev make gcc || return 1
  apt-get update -qq >/dev/null; apt_updated=1
  local work
  work=$(mktemp -d)
  say "building pgvector from Debian's $next source package for PostgreSQL $major"
  ( cd "$work" && apt-get source -qq pgvector >/dev/null 2>&1 && cd pgvector-*/ &&
    make -s PG_CONFIG="$bin/pg_config" >/dev/null && make -s install PG_CONFIG="$bin/pg_config" >/dev/null )
  local rc=$?
  rm -rf "$work"
  return $rc
}

if ! have_vector; then
  if [ "$is_root" = 1 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null; apt_updated=1
    if apt-cache show "postgresql-$major-pgvector" >/dev/null 2>&1; then
      apt_install "postgresql-$major-pgvector"
    elif [ "$distro" = debian ]; then
      build_pgvector_from_source_package || true
    fi
  else
    case "$distro" in
      ubuntu) pending+=("sudo apt-get install -y postgresql-$major-pgvector") ;;
      debian) pending+=("sudo $0   # as root it installs postgresql-$major-pgvector, or builds Debian's source package of pgvector") ;;
      *) pending+=("install pgvector for PostgreSQL $major: https://github.com/pgvector/pgvector#installation") ;;
    esac
  fi
fi
if ! have_vector; then
  printf 'MemorySql needs pgvector for PostgreSQL %s (no %s). Run:\n' "$major" "$sharedir/extension/vector.control" >&2
  printf '  %s\n' "${pending[@]}" >&2
  exit 1
fi

# --- what the tests need ----------------------------------------------------------------------------------
if [ "$want_test_tools" = 1 ]; then
  missing=()
  command -v psql >/dev/null || missing+=("postgresql-client")
  [ -x "$bin/pgbench" ] || command -v pgbench >/dev/null || missing+=("postgresql-contrib")
  command -v pgbouncer >/dev/null || missing+=(pgbouncer)
  # The client tests run Debian's /usr/bin/python3 (a pyenv python3 on PATH usually lacks psycopg).
  /usr/bin/python3 -c 'import psycopg' 2>/dev/null || missing+=(python3-psycopg)
  [ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
  # The JDBC client is compiled at test time: a JRE alone is not enough.
  { command -v javac >/dev/null && command -v java >/dev/null; } || missing+=(default-jdk-headless)
  # node-postgres itself comes from npm (tests/clients/node/package-lock.json), installed by ./test.sh.
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}" || { printf 'The tests need: %s\n' "${pending[@]}" >&2; exit 1; }
  fi
fi

echo "$bin"
