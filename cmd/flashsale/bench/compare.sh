#!/bin/sh
# compare.sh loads one running server with `flashsale bench` and, when it
# is installed, with wrk, one after the other, and prints for each
# scenario and tool the requests/s, the ratio to that tool's own
# GET /healthz (the ceiling scenario) and p50/p99. wrk runs only what it
# can do the same way: ceiling and hot (wrk.lua, beside this script); the
# other scenarios are the bench's alone.
#
#   cmd/flashsale/bench/compare.sh http://127.0.0.1:8080 ADMIN_TOKEN
#
# Environment: FLASHSALE, the binary (default: flashsale on PATH);
# SCENARIOS (default "ceiling hot", ceiling first); CONNECTIONS (64);
# DURATION (10s); THREADS, wrk's (2); FLASHSALE_WEBHOOK_SECRET, the
# server's, with which the bench signs checkout's webhooks (without it a
# server that has one refuses them, and checkout measures refusals). The
# errors column counts answers a scenario did not expect; a row with
# errors is also named on standard error. Needs curl and jq.
set -eu

target=${1:?usage: compare.sh TARGET ADMIN_TOKEN}
token=${2:?usage: compare.sh TARGET ADMIN_TOKEN}
target=${target%/}
flashsale=${FLASHSALE:-flashsale}
scenarios=${SCENARIOS:-ceiling hot}
connections=${CONNECTIONS:-64}
duration=${DURATION:-10s}
threads=${THREADS:-2}
here=$(cd "$(dirname "$0")" && pwd)
for tool in curl jq "$flashsale"; do
	command -v "$tool" >/dev/null || { echo "compare.sh: $tool is not installed" >&2; exit 2; }
done
wrk=$(command -v wrk || true)
[ -n "$wrk" ] || echo "compare.sh: wrk is not installed: the bench alone" >&2

# wrk holds units of a product of its own, of a stock it cannot exhaust.
product=$(curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
	-d '{"name":"wrk hot","price":"1.00","stock":100000000}' "$target/api/admin/products" | jq -r .id)

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

# row SCENARIO TOOL REQ_PER_S P50_MS P99_MS ERRORS
row() {
	echo "$1 $2 $3 $4 $5 $6" >>"$rows"
	[ "$2" = wrk ] || [ "$6" = 0 ] || echo "compare.sh: $2 $1: $6 answers were errors" >&2
}

for scenario in $scenarios; do
	echo "compare.sh: $scenario, flashsale bench" >&2
	"$flashsale" bench --target "$target" --admin-token "$token" --scenario "$scenario" \
		--connections "$connections" --duration "$duration" --json 2>/dev/null |
		jq -r '"\(.requests_per_second) \(.latency_ms.p50) \(.latency_ms.p99) \(.errors + .no_answer)"' |
		{ read -r rps p50 p99 errors && row "$scenario" "flashsale-bench" "$rps" "$p50" "$p99" "$errors"; }

	case $scenario in
	ceiling) url=$target/healthz; args= ;;
	hot) url=$target/api/holds; args="-- $product" ;;
	*) continue ;;
	esac
	[ -n "$wrk" ] || continue
	echo "compare.sh: $scenario, wrk" >&2
	# shellcheck disable=SC2086 # args is empty or two words
	"$wrk" -t"$threads" -c"$connections" -d"$duration" -s "$here/wrk.lua" "$url" $args |
		awk '/^wrk-summary / {
			for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			print v["requests"] / v["seconds"], v["p50_us"] / 1000, v["p99_us"] / 1000, v["non2xx"], v["socket_errors"]
		}' |
		{
			read -r rps p50 p99 non2xx socket_errors
			[ "$non2xx$socket_errors" = 00 ] || echo "compare.sh: wrk $scenario: $non2xx answers not 2xx, $socket_errors socket errors" >&2
			row "$scenario" wrk "$rps" "$p50" "$p99" $((non2xx + socket_errors))
		}
done

echo
awk '
	{ scenario[NR] = $1; tool[NR] = $2; rps[NR] = $3; p50[NR] = $4; p99[NR] = $5; errors[NR] = $6 }
	$1 == "ceiling" { ceiling[$2] = $3 }
	END {
		printf "%-10s %-16s %10s %10s %10s %10s %8s\n", "scenario", "tool", "req/s", "÷ healthz", "p50 ms", "p99 ms", "errors"
		for (i = 1; i <= NR; i++) {
			ratio = ceiling[tool[i]] > 0 ? sprintf("%.2f", rps[i] / ceiling[tool[i]]) : "-"
			printf "%-10s %-16s %10.0f %10s %10.2f %10.2f %8d\n", scenario[i], tool[i], rps[i], ratio, p50[i], p99[i], errors[i]
		}
	}' "$rows"
