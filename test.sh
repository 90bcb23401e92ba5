#!/usr/bin/env bash
# Installs what the tests need and runs every test: unit, SQL, proxy, and the client matrix
# (psql, pgbench, Npgsql, psycopg, node-postgres, JDBC), each against a real PostgreSQL + pgvector
# started by the test fixture. Ends with one line: "N passed, N failed, N skipped".
#   ./test.sh                      everything
#   ./test.sh --filter Recall      only tests whose name matches (dotnet test --filter syntax)
set -uo pipefail
cd "$(dirname "$0")"

filter=()
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) filter=(--filter "$2"); shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

scripts/prerequisites.sh --test >/dev/null || exit 1
# node-postgres at the versions pinned by the lock file (npm ci); the tests would do the same on first use.
if [ -f tests/clients/node/package-lock.json ] && [ ! -d tests/clients/node/node_modules/pg ]; then
  (cd tests/clients/node && npm ci --no-audit --no-fund --silent >/dev/null) || { echo "npm ci for the node-postgres tests failed" >&2; exit 1; }
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
echo "==> building" >&2
if ! dotnet build MemorySql.sln -c Release -nologo -clp:ErrorsOnly -v:q; then
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
echo "==> testing" >&2
dotnet test MemorySql.sln -c Release --no-build -nologo -v:q \
  --logger "trx" --logger "console;verbosity=minimal" --results-directory "$results" "${filter[@]}"
test_rc=$?

# Sum the counters of every test assembly's TRX file.
python3 - "$results" "$test_rc" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
files = glob.glob(sys.argv[1] + "/**/*.trx", recursive=True)
for f in files:
    root = ET.parse(f).getroot()
    c = root.find(".//{*}Counters")
    passed += int(c.get("passed", 0))
    failed += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0)) + int(c.get("aborted", 0))
    # xunit's skipped tests are results with outcome NotExecuted; the Counters element leaves notExecuted at 0.
    skipped += max(int(c.get("notExecuted", 0)), len(root.findall(".//{*}UnitTestResult[@outcome='NotExecuted']")))
if int(sys.argv[2]) != 0 and failed == 0:
    failed = 1  # a test host crashed or a project did not run: never report green
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
