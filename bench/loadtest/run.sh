#!/usr/bin/env bash
# bench/loadtest: the load generator's highest sustainable request rate
# against a trivial loopback endpoint, every latency recorded, side by side
# in one run with wrk (Debian package) and vegeta v12.12.0 (built here from
# the module proxy). Server and generators share this machine's cores, so a
# generator that spends less CPU per request leaves more to the server and
# reaches a higher rate: that is what the ratio measures.
#
#   bench/run.sh loadtest                      # or: bash bench/loadtest/run.sh
#   DUR=10 ROUNDS=3 CONNS=32 bash bench/loadtest/run.sh
#   KILN_SERVE_URL=http://127.0.0.1:8080/predict bash bench/loadtest/run.sh   # also against kiln serve
#   KILN_BIN=bin/kiln-serve bash bench/loadtest/run.sh   # measure this binary instead of building one
#
# Each round runs wrk, vegeta and kiln one after another for DUR seconds
# with CONNS connections (closed-loop, as fast as the server answers); the
# table shows the median over ROUNDS with the ratio to wrk and to vegeta.
# Then vegeta and kiln run OPEN-loop at the same fixed rates: which kept
# the rate, and what tail each reported.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
DUR=${DUR:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
GO=${GO:-go}
cache=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-loadtest.XXXXXX")
server_pid=""
cleanup() {
	if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench/loadtest: wrk not found (apt-get install wrk)" >&2; exit 1; }

# KILN_BIN (make test/bench export it) names a kiln binary to measure;
# otherwise build the serving-only one (no libtorch needed).
kiln=${KILN_BIN:-}
if [[ -z $kiln ]]; then
	echo "building kiln (notorch)…" >&2
	$GO build -tags notorch -o "$work/kiln" ./cmd/kiln
	kiln="$work/kiln"
fi
$GO build -o "$work/echoserver" ./bench/loadtest/echoserver

# vegeta: `go install …@v12.12.0` fails (the proxy refuses the version list),
# so build it from a throwaway module that requires the pinned version.
# Idempotent: the binary is kept in the cache, keyed by version.
vegeta_dir="$cache/vegeta-v12.12.0"
vegeta="$vegeta_dir/vegeta"
if [[ ! -x $vegeta ]]; then
	echo "building vegeta v12.12.0 in $vegeta_dir…" >&2
	mkdir -p "$vegeta_dir"
	cat >"$vegeta_dir/go.mod" <<-'EOF'
		module kiln-bench-vegeta

		go 1.22

		require github.com/tsenart/vegeta/v12 v12.12.0
	EOF
	cat >"$vegeta_dir/tools.go" <<-'EOF'
		//go:build tools

		package tools

		import _ "github.com/tsenart/vegeta/v12"
	EOF
	(cd "$vegeta_dir" && GOFLAGS=-mod=mod $GO build -o vegeta.tmp github.com/tsenart/vegeta/v12 && mv vegeta.tmp vegeta)
fi

"$work/echoserver" -port-file "$work/addr" 2>/dev/null &
server_pid=$!
for _ in $(seq 100); do [[ -s $work/addr ]] && break; sleep 0.1; done
[[ -s $work/addr ]] || { echo "bench/loadtest: echo server did not start" >&2; exit 1; }
echo_url="http://$(cat "$work/addr")/"

# Each runner prints one number: successful requests per second.
run_wrk() { # url [lua]
	local extra=()
	[[ -n ${2:-} ]] && extra=(-s "$2")
	wrk -t2 -c"$CONNS" -d"${DUR}s" --latency "${extra[@]}" "$1" >"$work/wrk.out" 2>&1
	awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out"
}
run_vegeta() { # targets-file
	# -rate=0 is vegeta's "as fast as possible" mode with a fixed worker
	# pool; every result is encoded to the file (every latency recorded).
	"$vegeta" attack -targets="$1" -rate=0 -workers="$CONNS" -max-workers="$CONNS" -connections="$CONNS" \
		-duration="${DUR}s" >"$work/vegeta.bin"
	"$vegeta" report -type=text "$work/vegeta.bin" >"$work/vegeta.txt"
	awk -F'[],[ ]+' '/^Requests/ {print $NF}' "$work/vegeta.txt"
}
run_kiln() { # url [kiln flags…]
	local url=$1
	shift
	"$kiln" loadtest "$url" --clients "$CONNS" --duration "${DUR}s" -q --json "$work/kiln.json" "$@" >"$work/kiln.txt"
	json_number throughput "$work/kiln.json"
}
# json_number KEY FILE: the first top-level "KEY": number in a kiln result
# (top-level fields come before the timeline's, which reuse some names).
json_number() { grep -m1 "^  \"$1\":" "$2" | sed -E 's/.*: *([0-9.eE+-]+).*/\1/'; }
json_number_in() { grep -m1 "\"$1\":" | sed -E 's/.*: *([0-9.eE+-]+).*/\1/'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

compare() { # name url wrk-lua vegeta-targets [kiln flags…]
	local name=$1 url=$2 lua=$3 targets=$4
	shift 4
	: >"$work/r.wrk"; : >"$work/r.vegeta"; : >"$work/r.kiln"
	for r in $(seq "$ROUNDS"); do
		w=$(run_wrk "$url" "$lua"); v=$(run_vegeta "$targets"); k=$(run_kiln "$url" "$@")
		echo "  round $r: wrk $w/s, vegeta $v/s, kiln $k/s" >&2
		echo "$w" >>"$work/r.wrk"; echo "$v" >>"$work/r.vegeta"; echo "$k" >>"$work/r.kiln"
	done
	W=$(median <"$work/r.wrk"); V=$(median <"$work/r.vegeta"); K=$(median <"$work/r.kiln")
	echo
	echo "### $name: $CONNS connections, ${DUR}s per run, median of $ROUNDS rounds"
	echo
	echo "| generator | requests/s (2xx) | kiln ÷ it |"
	echo "|---|---:|---:|"
	awk -v w="$W" -v v="$V" -v k="$K" 'BEGIN {
		printf "| wrk 4.1 (-t2 -c%d) | %.0f | %.2f |\n", '"$CONNS"', w, k / w
		printf "| vegeta v12.12.0 (-rate=0, %d workers, results to file) | %.0f | %.2f |\n", '"$CONNS"', v, k / v
		printf "| kiln loadtest (--clients %d, HDR histogram of every latency) | %.0f | 1.00 |\n", '"$CONNS"', k
	}'
	echo
	echo "targets: kiln ≥ 0.8× wrk, ≥ 1.0× vegeta"
}

echo "## bench/loadtest — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$echo_url" | sed 's/^/GET /' >"$work/echo.targets"
compare "trivial loopback endpoint (Go net/http, 11-byte answer)" "$echo_url" "" "$work/echo.targets"

# Open loop: both open-loop generators at the same fixed rates (10%, 20%
# and 40% of kiln's closed-loop median), 256 connections at most. Did each
# keep the rate, and what p99 did it report? vegeta measures from the
# actual send (a late send hides its delay); kiln from the intended send
# time, and says whether it kept the schedule.
echo
echo "### open loop at fixed rates: ${DUR}s each (kiln after 1s warm-up), at most 256 connections"
echo
echo "| rate/s | vegeta sent/s | vegeta p99 ms | kiln sent/s | kiln p99 ms | kiln send-lag p99 ms | kiln verdict |"
echo "|---:|---:|---:|---:|---:|---:|---|"
for frac in 0.1 0.2 0.4; do
	rate=$(awk -v k="$K" -v f="$frac" 'BEGIN {printf "%.0f", f * k}')
	"$vegeta" attack -targets="$work/echo.targets" -rate="$rate" -max-workers=256 -duration="${DUR}s" >"$work/vegeta.bin"
	"$vegeta" report -type=json "$work/vegeta.bin" >"$work/vegeta.json"
	v_rate=$(sed -E 's/.*"rate":([0-9.eE+-]+).*/\1/' "$work/vegeta.json")
	v_p99=$(sed -E 's/.*"99th":([0-9]+).*/\1/' "$work/vegeta.json")
	"$kiln" loadtest "$echo_url" --rate "$rate" --duration "${DUR}s" --warmup 1s --connections 256 -q \
		--json "$work/open.json" >"$work/open.txt" || true
	k_rate=$(json_number achieved_rate "$work/open.json")
	k_p99=$(grep -m1 -A8 '^  "latency":' "$work/open.json" | json_number_in p99_ms)
	k_lag=$(grep -m1 -A8 '"send_lag":' "$work/open.json" | json_number_in p99_ms)
	verdict="kept the schedule"
	grep -q '^Generator: SATURATED' "$work/open.txt" && verdict="SATURATED"
	awk -v r="$rate" -v vr="$v_rate" -v vp="$v_p99" -v kr="$k_rate" -v kp="$k_p99" -v kl="$k_lag" -v verdict="$verdict" \
		'BEGIN {printf "| %d | %.0f | %.2f | %.0f | %.2f | %.2f | %s |\n", r, vr, vp / 1e6, kr, kp, kl, verdict}'
done

if [[ -n ${KILN_SERVE_URL:-} ]]; then
	# The same comparison against a running kiln serve (/predict, one SST-2
	# sentence per request; the same body for all three generators).
	body='{"inputs": "a gripping, funny and ultimately moving film"}'
	printf '%s' "$body" >"$work/body.json"
	cat >"$work/post.lua" <<-EOF
		wrk.method = "POST"
		wrk.body = '$body'
		wrk.headers["Content-Type"] = "application/json"
	EOF
	printf 'POST %s\nContent-Type: application/json\n@%s\n' "$KILN_SERVE_URL" "$work/body.json" >"$work/serve.targets"
	compare "kiln serve at $KILN_SERVE_URL (POST /predict, one sentence)" "$KILN_SERVE_URL" "$work/post.lua" "$work/serve.targets" \
		--body "$work/body.json"
else
	echo
	echo "(set KILN_SERVE_URL=http://host:port/predict with a running kiln serve to compare against it too)"
fi
