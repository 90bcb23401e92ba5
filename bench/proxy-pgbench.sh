#!/usr/bin/env bash
# pgbench -S through three paths measured in the same run: PostgreSQL directly, PgBouncer (session mode)
# and the MemorySql proxy. Starts its own PostgreSQL cluster (trust auth, fsync off, in a temp folder),
# its own PgBouncer and a bare MemorySql proxy (bench/MemorySql.Proxy.Benchmarks "serve"), runs every
# combination of clients x protocol mode x target several times in rotating order, and prints medians,
# ratios against direct PostgreSQL and PgBouncer, and the added p50 latency at 1 client.
#
#   bench/proxy-pgbench.sh [--runs 3] [--duration 10] [--clients "1 16"] [--modes "simple extended prepared"] [--scale 10] [--out FILE]
#                          [--proxy-args "--thread-pool-completions"]   (extra arguments for the proxy's serve mode)
#                          [--alt-proxy-args "--socket-engine DotNet"]   (a second MemorySql proxy measured in the same run;
#                                                                         "--memory-calls": with memory-call rewriting, as `memorysql up` runs)
#                          [--upstream tcp|unix]   (how PgBouncer and the proxies reach PostgreSQL: 127.0.0.1, or its Unix
#                                                   socket as `memorysql up` does; default tcp)
#                          [--cpu]   (also where the CPU went, per transaction: the whole machine's busy time, its idle
#                                     share, and the proxy's own user+system time, from /proc; medians in a second table)
#
# Needs root (PostgreSQL and PgBouncer run as the postgres user through runuser), pgbench, pgbouncer, dotnet.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3; duration=10; clients="1 16"; modes="simple extended prepared"; scale=10; out=""; proxy_args=""; alt_args=""; upstream=tcp; cpu=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --proxy-args) proxy_args=$2; shift 2 ;;
    --alt-proxy-args) alt_args=$2; shift 2 ;;
    --upstream) upstream=$2; shift 2 ;;
    --cpu) cpu=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

bin=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bin=$d; done
[ -n "$bin" ] || { echo "PostgreSQL server programs not found (run scripts/prerequisites.sh --test)" >&2; exit 1; }
command -v pgbouncer >/dev/null || { echo "pgbouncer is not installed (apt-get install pgbouncer)" >&2; exit 1; }
pgbench=$bin/pgbench; [ -x "$pgbench" ] || pgbench=$(command -v pgbench)
case "$upstream" in tcp|unix) ;; *) echo "--upstream must be tcp or unix, not $upstream" >&2; exit 2 ;; esac

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
as_pg() { runuser -u postgres -- "$@"; }

work=$(mktemp -d /tmp/memorysql-pgbench.XXXXXX)
chmod 755 "$work"; chown postgres "$work"
pg_port=$(free_port); bouncer_port=$(free_port); proxy_port=$(free_port); alt_port=$(free_port)
proxy_pid=""; alt_pid=""
cleanup() {
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
  [ -n "$alt_pid" ] && kill "$alt_pid" 2>/dev/null || true
  [ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null || true
  as_pg "$bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $pg_port" >&2
as_pg "$bin/initdb" -D "$work/pg" -U bench --auth=trust -E UTF8 --no-sync >/dev/null
cat >> "$work/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$work'
max_connections = 200
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
as_pg "$bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
"$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U bench bench
"$pgbench" -h 127.0.0.1 -p "$pg_port" -U bench -i -s "$scale" -q bench >/dev/null 2>&1
# Where PgBouncer and the proxies reach PostgreSQL (pgbench's direct runs always use TCP, like its clients).
upstream_host=127.0.0.1; [ "$upstream" = unix ] && upstream_host=$work

echo "==> PgBouncer $(pgbouncer --version | head -1 | awk '{print $2}') (session mode) on port $bouncer_port" >&2
echo '"bench" ""' > "$work/users.txt"
cat > "$work/pgbouncer.ini" <<INI
[databases]
bench = host=$upstream_host port=$pg_port dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $work/users.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 60
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
chown postgres "$work"/pgbouncer.ini "$work"/users.txt
as_pg pgbouncer -d "$work/pgbouncer.ini"

echo "==> MemorySql proxy on port $proxy_port" >&2
dotnet build bench/MemorySql.Proxy.Benchmarks -c Release -nologo -v:q -clp:ErrorsOnly >/dev/null
# setsid: a session of its own, like PgBouncer's -d and PostgreSQL's postmaster. With the kernel's autogroup
# scheduling (sched_autogroup_enabled=1) every session gets an equal share of the CPU whatever its number of
# threads; started in this script's session the proxy would share one share with pgbench.
setsid dotnet bench/MemorySql.Proxy.Benchmarks/bin/Release/net10.0/MemorySql.Proxy.Benchmarks.dll serve \
  --port "$proxy_port" --upstream-port "$pg_port" --upstream-host "$upstream_host" $proxy_args > "$work/proxy.log" 2>&1 &
proxy_pid=$!
if [ -n "$alt_args" ]; then
  echo "==> second MemorySql proxy ($alt_args) on port $alt_port" >&2
  setsid dotnet bench/MemorySql.Proxy.Benchmarks/bin/Release/net10.0/MemorySql.Proxy.Benchmarks.dll serve \
    --port "$alt_port" --upstream-port "$pg_port" --upstream-host "$upstream_host" $alt_args > "$work/proxy-alt.log" 2>&1 &
  alt_pid=$!
fi
for _ in $(seq 100); do
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$proxy_port" -U bench && \
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$bouncer_port" -U bench && break
  sleep 0.2
done

declare -A port_of=([direct]=$pg_port [pgbouncer]=$bouncer_port [memorysql]=$proxy_port [alt]=$alt_port)
targets=(direct pgbouncer memorysql)
if [ -n "$alt_args" ]; then
  for _ in $(seq 100); do "$bin/pg_isready" -q -h 127.0.0.1 -p "$alt_port" -U bench && break; sleep 0.2; done
  targets+=(alt)
fi
declare -A pid_of=([direct]="" [pgbouncer]=$(cat "$work/pgbouncer.pid") [memorysql]=$proxy_pid [alt]=$alt_pid)
# CPU clock ticks: the machine's busy and idle time (/proc/stat), and one process's user+system time (its stat
# fields 14 and 15, counted after the ')' that ends its name, which may hold spaces).
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat; }
process_ticks() { [ -n "$1" ] || { echo 0; return; }; local stat; stat=$(cat "/proc/$1/stat"); echo "${stat##*) }" | awk '{print $12+$13}'; }
hz=$(getconf CLK_TCK)
results=$work/results.tsv
echo -e "run\tclients\tmode\ttarget\ttps\tp50_us\tbusy_us\tidle_pct\tproxy_us" > "$results"

# Warm the caches and the proxy's JIT once, in every mode measured (each mode relays other messages).
for t in "${targets[@]}"; do
  for m in $modes; do
    "$pgbench" -h 127.0.0.1 -p "${port_of[$t]}" -U bench -S -M "$m" -c 4 -j 2 -T 3 -n bench >/dev/null 2>&1
  done
done

for run in $(seq "$runs"); do
  for c in $clients; do
    j=$(( c < 2 ? c : 2 ))
    for m in $modes; do
      # Rotate the order so no target always runs first or last.
      shift_by=$(( (run - 1) % ${#targets[@]} ))
      order=("${targets[@]:$shift_by}" "${targets[@]:0:$shift_by}")
      for t in "${order[@]}"; do
        log_args=(); rm -f "$work"/txlog*
        [ "$c" = 1 ] && log_args=(-l --log-prefix="$work/txlog")
        read -r busy0 idle0 < <(machine_ticks); own0=$(process_ticks "${pid_of[$t]}")
        output=$("$pgbench" -h 127.0.0.1 -p "${port_of[$t]}" -U bench -S -M "$m" -c "$c" -j "$j" -T "$duration" -n "${log_args[@]}" bench 2>&1) || {
          echo "pgbench failed for $t $m $c:" >&2; echo "$output" >&2; exit 1; }
        read -r busy1 idle1 < <(machine_ticks); own1=$(process_ticks "${pid_of[$t]}")
        tps=$(echo "$output" | sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -1)
        transactions=$(echo "$output" | sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p')
        cpu_cols=$(awk -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) -v o=$((own1 - own0)) -v n="$transactions" -v hz="$hz" -v own="${pid_of[$t]}" \
          'BEGIN { us = 1e6 / hz / n; printf "%.1f\t%.1f\t%s", b * us, 100 * i / (b + i), own == "" ? "" : sprintf("%.1f", o * us) }')
        p50=""
        if [ "$c" = 1 ]; then
          p50=$(cat "$work"/txlog* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        fi
        echo -e "$run\t$c\t$m\t$t\t$tps\t$p50\t$cpu_cols" >> "$results"
        echo "run $run clients $c $m $t: $tps tps${p50:+, p50 $p50 us}" >&2
      done
    done
  done
done

python3 - "$results" "$runs" "$duration" "$out" "$alt_args" "$upstream" "$cpu" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
runs, duration, out, alt, upstream, cpu = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7] == "1"
def med(c, m, t, key):
    vals = [float(r[key]) for r in rows if r["clients"] == c and r["mode"] == m and r["target"] == t and r[key]]
    return statistics.median(vals) if vals else None
lines = [f"Medians of {runs} runs of {duration} s each (pgbench -S, scale in the command), rotating the order of targets; PgBouncer and MemorySql reach PostgreSQL over " + ("its Unix socket" if upstream == "unix" else "TCP (127.0.0.1)") + ".", "",
         "| clients | mode | direct TPS | PgBouncer TPS | MemorySql TPS | MemorySql / direct | MemorySql / PgBouncer | p50 direct | p50 PgBouncer | p50 MemorySql | added p50 (MemorySql − direct) |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
for c in sorted({r["clients"] for r in rows}, key=int):
    for m in [m for m in ("simple", "extended", "prepared") if any(r["mode"] == m for r in rows)]:
        d, b, p = (med(c, m, t, "tps") for t in ("direct", "pgbouncer", "memorysql"))
        ld, lb, lp = (med(c, m, t, "p50_us") for t in ("direct", "pgbouncer", "memorysql"))
        f = lambda x: "" if x is None else f"{x:,.0f}"
        fl = lambda x: "" if x is None else f"{x:.0f} µs"
        added = "" if ld is None or lp is None else f"{lp - ld:+.0f} µs"
        lines.append(f"| {c} | {m} | {f(d)} | {f(b)} | {f(p)} | {p/d:.2f} | {p/b:.2f} | {fl(ld)} | {fl(lb)} | {fl(lp)} | {added} |")
if alt:
    lines += ["", f"Second MemorySql proxy in the same run ({alt}):", "",
              "| clients | mode | TPS | / PgBouncer | / first MemorySql | added p50 |", "|---|---|---|---|---|---|"]
    for c in sorted({r["clients"] for r in rows}, key=int):
        for m in [m for m in ("simple", "extended", "prepared") if any(r["mode"] == m for r in rows)]:
            a, b, p = (med(c, m, t, "tps") for t in ("alt", "pgbouncer", "memorysql"))
            la, ld = med(c, m, "alt", "p50_us"), med(c, m, "direct", "p50_us")
            added = "" if la is None or ld is None else f"{la - ld:+.0f} µs"
            lines.append(f"| {c} | {m} | {a:,.0f} | {a/b:.2f} | {a/p:.2f} | {added} |")
if cpu:
    targets = [t for t in ("direct", "pgbouncer", "memorysql", "alt") if any(r["target"] == t for r in rows)]
    lines += ["", "Where the CPU went, per transaction (medians of the same runs): the machine's busy time (all processes, "
              "both cores), the share of the time the cores were idle, and the proxy's own user+system time.", "",
              "| clients | mode | " + " | ".join(f"{t} busy | {t} idle" + ("" if t == "direct" else f" | {t} own") for t in targets) + " |",
              "|---|---|" + "|".join("---:|---:" + ("" if t == "direct" else "|---:") for t in targets) + "|"]
    for c in sorted({r["clients"] for r in rows}, key=int):
        for m in [m for m in ("simple", "extended", "prepared") if any(r["mode"] == m for r in rows)]:
            cells = []
            for t in targets:
                cells += [f"{med(c, m, t, 'busy_us'):.1f} µs", f"{med(c, m, t, 'idle_pct'):.1f} %"]
                if t != "direct": cells.append(f"{med(c, m, t, 'proxy_us'):.1f} µs")
            lines.append(f"| {c} | {m} | " + " | ".join(cells) + " |")
text = "\n".join(lines)
print(text)
if out:
    open(out, "w").write(text + "\n")
PY
