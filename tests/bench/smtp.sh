#!/usr/bin/env bash
# The SMTP intake benchmark: Faxbox's email-to-fax server (faxd on its embedded store) against a private Postfix,
# driven by the same generator in the same run, with a real email-to-fax message (a note and a ~20 KB PDF).
#   bash tests/bench/smtp.sh
# For each concurrency N (SMTP_BENCH_SESSIONS, default "1 20 50") it runs Postfix's own
#   smtp-source -s N -m M -F msg.eml -f <user email> -t 15551234567@<faxbox address>
# against both servers (msgs/s = M / wall time), then tests/src/bin/smtp_load.rs at the same N against both for
# the time from the end of DATA to the 250. Postfix runs first, every level, on a quiet machine; then Faxbox, whose
# accepted jobs are converted in the background by low-priority threads beside its own later runs. M is sized from
# a Postfix warm-up so that a Postfix run takes about 2 * SMTP_BENCH_SECONDS (default 5). At the end faxd is killed
# (SIGKILL, no clean shutdown) and its store must hold one job per 250 it answered: every accepted message durable.
# Prints a Markdown table and one verdict line per target; performance is reported, not asserted (exit 0 unless
# the benchmark itself could not run).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

levels="${SMTP_BENCH_SESSIONS:-1 20 50}"
fax_seconds="${SMTP_BENCH_SECONDS:-5}"
number="15551234567"

work="$(mktemp -d /tmp/faxbox-smtp-bench.XXXXXX)"
chmod 755 "$work"   # the private Postfix runs as user postfix and must reach its directories inside
faxd_pid=""
postfix_started=0
cleanup() {
  if [ -n "$faxd_pid" ] && kill -0 "$faxd_pid" 2>/dev/null; then
    kill -TERM "$faxd_pid" 2>/dev/null || true
    wait "$faxd_pid" 2>/dev/null || true
  fi
  if [ "$postfix_started" = 1 ]; then bash tests/bench/postfix.sh stop "$work/postfix" || true; fi
  if [ "${SMTP_BENCH_KEEP:-0}" = 1 ]; then echo "smtp bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "smtp bench: failed at line $LINENO" >&2' ERR

say() { echo "smtp bench: $*" >&2; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_get() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
wait_port() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if [ -n "$faxd_pid" ] && ! kill -0 "$faxd_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  say "nothing listens on 127.0.0.1:$1"; tail -n 30 "$work/faxd.log" >&2 || true; exit 1
}

# ---- build ----
say "building release binaries"
# One command, so faxd, sup and the client share one feature resolution (no second build of the dependencies).
cargo build --release -q -p faxd -p sup -p faxbox-tests --bins
bin="$root/target/release"
command -v smtp-source >/dev/null || { say "smtp-source missing (bash tests/services/deps.sh bench)"; exit 1; }

# ---- faxd on free loopback ports, embedded store in a temporary data_dir ----
admin_port="$(free_port)"; smtp_port="$(free_port)"; api_port="$(free_port)"; postfix_port="$(free_port)"
cat > "$work/faxd.toml" <<TOML
node = "faxd@bench.localhost"
data_dir = "$work/var"

[log]
format = "human"
level = "info"

[store]
backend = "embedded"

[bus]
backend = "local"

[admin]
listen = "127.0.0.1:$admin_port"

[smtp]
listen = "127.0.0.1:$smtp_port"

[api]
listen = "127.0.0.1:$api_port"
TOML
start_faxd() {
  NO_COLOR=1 "$bin/faxd" --config "$work/faxd.toml" >/dev/null 2>>"$work/faxd.log" &
  faxd_pid=$!
  wait_port "$admin_port"; wait_port "$api_port"; wait_port "$smtp_port"
}
start_faxd
sup() { "$bin/sup" --admin "http://127.0.0.1:$admin_port" "$@"; }
# The same session limit as the private Postfix's (default_process_limit = 200 in postfix.sh) rather than the
# default 50: at 50 clients that reconnect for every message, the default limit itself is what gets measured.
# The server reads it when it starts, hence the restart.
sup kapps_config set_default fax smtp_sessions 200 >/dev/null
kill -TERM "$faxd_pid"; wait "$faxd_pid" 2>/dev/null || true
start_faxd
grep -q 'max_sessions=200' "$work/faxd.log" || say "warning: faxd did not report max_sessions=200"
say "faxd $faxd_pid: smtp 127.0.0.1:$smtp_port, api 127.0.0.1:$api_port, data in $work/var"

# ---- an account, a user and a faxbox, through sup and the REST API ----
sup crossbar_maintenance create_account "Bench Master" bench.test admin@bench.test bench-secret >/dev/null
setup="$(python3 tests/bench/setup_faxbox.py --api "http://127.0.0.1:$api_port" --realm bench.test \
  --user admin@bench.test --password bench-secret)"
faxbox_id="$(json_get "$setup" faxbox_id)"
sender="$(json_get "$setup" email)"
rcpt="$number@$(json_get "$setup" smtp_email_address)"
say "faxbox $faxbox_id: $sender -> $rcpt"

python3 tests/bench/make_message.py --from "$sender" --to "$rcpt" "$work/msg.eml"
msg_bytes="$(wc -c < "$work/msg.eml")"

# ---- the private Postfix ----
postfix_started=1
bash tests/bench/postfix.sh start "$work/postfix" "$postfix_port" >&2

# ---- helpers ----
fax_ok=0           # 250s Faxbox gave, as counted by the clients
fax_runs_clean=1   # whether every Faxbox run ended without a failure (then the count is exact)
: > "$work/fax_ids"
: > "$work/results.tsv"
problems=()

# Waits until Postfix has handed everything queued to its discard transport, so no run pays for the last one.
postfix_drain() {
  local spool="$work/postfix/spool"
  for _ in $(seq 1 600); do
    if [ -z "$(find "$spool/maildrop" "$spool/incoming" "$spool/active" "$spool/deferred" -type f -print -quit 2>/dev/null)" ]; then
      return 0
    fi
    sleep 0.1
  done
  say "postfix queue not empty after 60 s"
}

# CPU time (clock ticks) a server has used: faxd's own, or the Postfix master's with its children's (the live
# ones, and the ones it has reaped). Fields after the command name: utime stime cutime cstime are 12-15.
ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk -v all="$2" '{ print $12 + $13 + (all ? $14 + $15 : 0) }'; }
# Faxbox: the intake's share, i.e. every live thread but the low-priority conversion threads (`fax-convert-N`,
# which convert the accepted jobs in the background with the CPU both servers leave idle).
intake_ticks() {
  local total=0 task comm v
  for task in /proc/"$1"/task/*; do
    comm="$(cat "$task/comm" 2>/dev/null || true)"
    case "$comm" in fax-convert*) continue ;; esac
    # A thread that ends meanwhile counts nothing.
    v="$(sed 's/.*) //' "$task/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)"
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
server_cpu() {
  if [ "$1" = Faxbox ]; then intake_ticks "$faxd_pid"; return; fi
  local master total child
  master="$(tr -d ' ' < "$work/postfix/spool/pid/master.pid")"
  total="$(ticks "$master" 1)"
  for child in $(ps -o pid= --ppid "$master"); do total=$((total + $(ticks "$child" 0 || echo 0))); done
  echo "$total"
}
hz="$(getconf CLK_TCK)"

# source_run SERVER PORT N M: runs smtp-source; sets r_count (250s), r_elapsed (s) and r_cpu (server CPU ms per
# accepted message). Failures become problems.
source_run() {
  local server="$1" port="$2" n="$3" m="$4" out="$work/source.out" err="$work/source.err" t0 t1 c0 c1 rc=0 count
  c0="$(server_cpu "$server")"
  t0="$EPOCHREALTIME"
  smtp-source -c -s "$n" -m "$m" -F "$work/msg.eml" -f "$sender" -t "$rcpt" "127.0.0.1:$port" >"$out" 2>"$err" || rc=$?
  t1="$EPOCHREALTIME"
  if [ "$server" = Postfix ]; then postfix_drain; fi   # its deliveries (to discard) count in its CPU
  c1="$(server_cpu "$server")"
  count="$(tr '\r' '\n' < "$out" | grep -E '^[0-9]+$' | tail -n 1 || true)"
  count="${count:-0}"
  if [ "$rc" != 0 ] || [ "$count" != "$m" ]; then
    problems+=("$server, smtp-source -s $n -m $m: exit $rc after $count messages: $(tr '\n' ' ' < "$err" | cut -c1-300)")
    if [ "$server" = Faxbox ]; then fax_runs_clean=0; fi
  fi
  if [ "$server" = Faxbox ]; then fax_ok=$((fax_ok + count)); fi
  r_count="$count"
  r_elapsed="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
  r_cpu="$(awk -v c="$((c1 - c0))" -v hz="$hz" -v n="$count" 'BEGIN { printf "%.2f", n ? c * 1000 / hz / n : 0 }')"
}

# latency_run SERVER PORT N M [smtp_load options]: runs smtp_load; sets r_report (its JSON line).
latency_run() {
  local server="$1" port="$2" n="$3" m="$4" ids="$work/ids.last" report accepted failed
  shift 4
  report="$("$bin/smtp_load" send --server "127.0.0.1:$port" --sessions "$n" --messages "$m" \
    --from "$sender" --to "$rcpt" --file "$work/msg.eml" --ids "$ids" "$@")"
  accepted="$(json_get "$report" accepted)"; failed="$(json_get "$report" failed)"
  if [ "$failed" != 0 ]; then
    problems+=("$server, smtp_load -s $n -m $m: $failed failed: $(json_get "$report" failures)")
    if [ "$server" = Faxbox ]; then fax_runs_clean=0; fi
  fi
  if [ "$server" = Faxbox ]; then fax_ok=$((fax_ok + accepted)); cat "$ids" >> "$work/fax_ids"; fi
  r_report="$report"
}

rate() { awk -v c="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", c / t; else print 0 }'; }

# ---- a first message to each, so a broken setup stops here ----
for server in Faxbox Postfix; do
  port="$smtp_port"; [ "$server" = Postfix ] && port="$postfix_port"
  latency_run "$server" "$port" 1 1
  if [ "$(json_get "$r_report" accepted)" != 1 ]; then
    say "$server refused the benchmark message: $r_report"; tail -n 20 "$work/faxd.log" >&2; exit 1
  fi
done
postfix_drain

# ---- the runs ----
# Postfix first, every level, on a quiet machine; then Faxbox. Faxbox converts the jobs it accepts in the
# background (low-priority threads), so its own backlog runs beside its later runs, never beside Postfix's.
declare -A run_m run_pc run_pt run_pl run_pcpu
for n in $levels; do
  warm=$((n * 20 > 200 ? n * 20 : 200))
  source_run Postfix "$postfix_port" "$n" "$warm"; pf_warm="$(rate "$r_count" "$r_elapsed")"
  # M: about 2 * fax_seconds of Postfix (fax_seconds of Faxbox at the 2x target), at least 500; a multiple of 100.
  m="$(awk -v p="$pf_warm" -v s="$fax_seconds" 'BEGIN {
    m = p * s * 2; if (m < 500) m = 500; printf "%d", int(m / 100) * 100 }')"
  say "$n sessions: Postfix warm-up $pf_warm msgs/s, $m messages per run, $((m / 2)) per latency run"
  postfix_drain
  source_run Postfix "$postfix_port" "$n" "$m"
  run_m[$n]="$m"; run_pc[$n]="$r_count"; run_pt[$n]="$r_elapsed"; run_pcpu[$n]="$r_cpu"
  sleep 1
  latency_run Postfix "$postfix_port" "$n" $((m / 2)); run_pl[$n]="$r_report"
  postfix_drain
  say "$n sessions: Postfix $(rate "${run_pc[$n]}" "${run_pt[$n]}") msgs/s, p99 $(json_get "$r_report" p99_ms) ms"
done
for n in $levels; do
  warm=$((n * 20 > 200 ? n * 20 : 200)); m="${run_m[$n]}"
  source_run Faxbox "$smtp_port" "$n" "$warm"
  source_run Faxbox "$smtp_port" "$n" "$m"; fc="$r_count"; ft="$r_elapsed"; fcpu="$r_cpu"
  sleep 1
  latency_run Faxbox "$smtp_port" "$n" $((m / 2)); fl="$r_report"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$m" "$fc" "$ft" "${run_pc[$n]}" "${run_pt[$n]}" "$fl" \
    "${run_pl[$n]}" "$fcpu" "${run_pcpu[$n]}" >> "$work/results.tsv"
  say "$n sessions: Faxbox $(rate "$fc" "$ft") msgs/s, p99 $(json_get "$fl" p99_ms) ms"
done
# Real mail carries a Message-ID, from which the job id is derived for the duplicate check: the same load with a
# distinct Message-ID in every message.
unique_report="{}"
if [[ " $levels " == *" 20 "* ]]; then
  latency_run Faxbox "$smtp_port" 20 $((run_m[20] / 2)) --message-ids unique; unique_report="$r_report"
  say "20 sessions, a Message-ID per message: Faxbox $(json_get "$r_report" msgs_per_s) msgs/s, p99 $(json_get "$r_report" p99_ms) ms"
fi

# ---- durability: kill the node without warning, then count its jobs ----
kill -KILL "$faxd_pid"
wait "$faxd_pid" 2>/dev/null || true
faxd_pid=""
count="$("$bin/smtp_load" count-jobs --store "$work/var/store" --faxbox "$faxbox_id" --ids "$work/fax_ids")"
stored="$(json_get "$count" jobs)"
ids_checked="$(json_get "$count" ids_checked)"
ids_missing="$(json_get "$count" ids_missing)"
errors_logged="$(grep -c -E 'Z +(ERROR|WARN) ' "$work/faxd.log" || true)"
# What they said, each kind once (ids and times cut off).
grep -E 'Z +(ERROR|WARN) ' "$work/faxd.log" | sed -E 's/^[^ ]+ +//; s/ [a-z_]+=.*//' | sort | uniq -c | head -n 5 >&2 || true

# ---- the table ----
python3 - "$work/results.tsv" "$msg_bytes" "$stored" "$fax_ok" "$fax_runs_clean" "$ids_checked" "$ids_missing" \
  "$errors_logged" "$unique_report" "${problems[@]+"${problems[@]}"}" <<'PY'
import json
import sys

path, msg_bytes, stored, fax_ok, clean, ids_checked, ids_missing, errors_logged, unique, *problems = sys.argv[1:]
unique = json.loads(unique)
stored, fax_ok, ids_checked, ids_missing = int(stored), int(fax_ok), int(ids_checked), int(ids_missing)
rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]

print(f"### SMTP intake: Faxbox (embedded store) vs Postfix, {int(msg_bytes) / 1024:.0f} KB message with a ~20 KB PDF")
print()
print("| sessions | messages | Faxbox msgs/s | Postfix msgs/s | ratio | Faxbox p50 / p99 ms | Postfix p50 / p99 ms "
      "| CPU ms/msg Faxbox / Postfix |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
verdict_rows = {}
for n, m, fc, ft, pc, pt, fl, pl, fcpu, pcpu in rows:
    fl, pl = json.loads(fl), json.loads(pl)
    fax_rate = int(fc) / float(ft) if float(ft) > 0 else 0.0
    pf_rate = int(pc) / float(pt) if float(pt) > 0 else 0.0
    ratio = fax_rate / pf_rate if pf_rate else float("nan")
    verdict_rows[n] = (fax_rate, pf_rate, ratio, fl, pl)
    print(f"| {n} | {m} | {fax_rate:,.0f} | {pf_rate:,.0f} | {ratio:.2f}x | "
          f"{fl['p50_ms']:.1f} / {fl['p99_ms']:.1f} | {pl['p50_ms']:.1f} / {pl['p99_ms']:.1f} | {fcpu} / {pcpu} |")
print()
print("msgs/s: `smtp-source -s N -m M -F msg.eml` (one connection per message), M / wall time. Latency: end of DATA "
      "to the reply, from smtp_load at the same N (M/2 messages, one connection per message). CPU: the server's "
      "processes during the smtp-source run (Postfix: every process, queue manager and discard delivery included; "
      "Faxbox: every thread but its low-priority conversion threads, which convert the accepted jobs in the "
      "background; the client excluded). Postfix ran first, every level, on a quiet machine; Faxbox after, with "
      "the conversion of the jobs it had accepted running in the background. Both servers allow 200 sessions.")
print()
if "20" in verdict_rows:
    fax_rate, pf_rate, ratio, fl, _ = verdict_rows["20"]
    print(f"- throughput at 20 sessions: {fax_rate:,.0f} vs {pf_rate:,.0f} msgs/s = {ratio:.2f}x Postfix "
          f"(target >= 2x): {'MET' if ratio >= 2 else 'NOT MET'}")
    print(f"- p99 at 20 sessions: {fl['p99_ms']:.1f} ms (target < 50 ms): {'MET' if fl['p99_ms'] < 50 else 'NOT MET'}")
else:
    print("- 20 sessions not run: no verdict on the 20-session targets")
if unique:
    print(f"- 20 sessions with a distinct Message-ID in every message (job ids derived for the duplicate check): "
          f"Faxbox {unique['msgs_per_s']:,.0f} msgs/s (smtp_load), p50 {unique['p50_ms']:.1f} / p99 "
          f"{unique['p99_ms']:.1f} ms")
durable = stored == fax_ok and ids_missing == 0 if clean == "1" else stored >= fax_ok and ids_missing == 0
print(f"- durability after SIGKILL: {stored} jobs stored for the faxbox, {fax_ok} 250s received "
      f"({ids_checked} job ids checked one by one, {ids_missing} missing): {'MET' if durable else 'NOT MET'}")
if errors_logged != "0":
    print(f"- faxd logged {errors_logged} WARN/ERROR lines during the run")
for p in problems:
    print(f"- problem: {p}")
PY
