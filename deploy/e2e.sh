#!/usr/bin/env bash
# End-to-end test of the Compose deployment (deploy/compose.yaml), bounded to
# 10 minutes. Builds the binary and images, starts the stack under its own
# project name with random host ports, and checks through the API:
#   1. all simulated devices are online;  2. a Get on one device;  3. a bulk
#   job over every online device;  4. with one NATS node
#   stopped, provisioning (`cuttle creds add`) and a Get still work;
#   5. after a broker restart every device comes back online.
# Tears everything down (volumes included) at the end or on failure, when it
# also prints what failed and the containers' logs.
# Needs: docker with compose (v2 plugin or docker-compose 1.29+), go, curl, jq,
# and Debian's busybox-static (see build.sh).
set -euo pipefail

if [[ -z "${E2E_BOUNDED:-}" ]]; then
	exec timeout --foreground -k 15 "${E2E_TIMEOUT:-600}" env E2E_BOUNDED=1 "$0" "$@"
fi

deploy=$(cd "$(dirname "$0")" && pwd)
devices=${SIM_DEVICES:-100}
prefix=os::00CAFE-SIM
export SIM_DEVICES=$devices
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-cuttle-e2e}
export CUTTLE_API_PORT=0 CUTTLE_MQTT_PORT=0 # random host ports: a shared machine may use 8080
export NATS_PASSWORD=e2e-nats-$RANDOM$RANDOM NATS_CLUSTER_PASSWORD=e2e-routes-$RANDOM$RANDOM
export CONTROLLER_PASSWORD=e2e-controller-$RANDOM$RANDOM

if docker compose version >/dev/null 2>&1; then
	dc=(docker compose -f "$deploy/compose.yaml")
else
	dc=(docker-compose -f "$deploy/compose.yaml")
fi
for tool in curl jq; do
	command -v "$tool" >/dev/null || { echo "e2e: $tool is required" >&2; exit 1; }
done

t0=$(date +%s)
step_name="setup"
step_start=$t0
step() {
	local now
	now=$(date +%s)
	[[ "$step_name" == setup ]] || echo "    ok ($((now - step_start))s)"
	step_name=$1
	step_start=$now
	echo "==> [$((now - t0))s] $1"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ $rc -ne 0 ]]; then
		echo
		echo "e2e: FAILED at step: $step_name (after $(($(date +%s) - t0))s, exit $rc)" >&2
		echo "---- docker compose ps ----" >&2
		"${dc[@]}" ps >&2 || true
		echo "---- docker compose logs (last 150 lines per service) ----" >&2
		"${dc[@]}" logs --no-color --tail=150 >&2 || true
	fi
	if [[ -z "${E2E_KEEP:-}" ]]; then
		"${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "e2e: interrupted or out of time" >&2; exit 124' INT TERM

fail() {
	echo "e2e: $*" >&2
	exit 1
}

# until SECONDS DESCRIPTION COMMAND...: retry COMMAND every 2s.
until_ok() {
	local limit=$1 what=$2
	shift 2
	local deadline=$(($(date +%s) + limit))
	until "$@"; do
		[[ $(date +%s) -lt $deadline ]] || fail "$what: not within ${limit}s"
		sleep 2
	done
}

healthy() {
	local id
	id=$("${dc[@]}" ps -q "$1")
	[[ -n "$id" && "$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)" == healthy ]]
}

api() { # METHOD PATH [BODY]: prints the body, fails on a non-2xx status
	local args=(-sS --max-time 20 -H "Authorization: Bearer $token" -X "$1" "$api_url$2")
	[[ $# -lt 3 ]] || args+=(-H 'Content-Type: application/json' -d "$3")
	curl --fail-with-body "${args[@]}"
}

online_count() {
	api GET "/api/v1/devices?status=online&limit=1" | jq -r .total
}

all_online() {
	local n
	n=$(online_count 2>/dev/null) || return 1
	echo "    online: $n/$devices"
	[[ "$n" == "$devices" ]]
}

# back_since EPOCH: every simulated device is online again since EPOCH
# (status_since), so each has really reconnected, not just kept a stale state.
back_since() {
	local n
	n=$(api GET "/api/v1/devices?status=online&q=SIM&limit=1000" 2>/dev/null |
		jq --argjson t "$1" '[.devices[] | select(.endpoint_id | test("SIM[0-9]+$"))
			| select((.status_since | sub("\\.[0-9]+"; "") | fromdateiso8601) >= $t)] | length') || return 1
	echo "    reconnected since the restart: $n/$devices"
	[[ "$n" == "$devices" ]]
}

get_ok() {
	local out
	out=$(api POST "/api/v1/devices/$1/get" '{"paths":["Device.DeviceInfo.SoftwareVersion"]}') || { echo "    get: $out"; return 1; }
	echo "    get $1: $(echo "$out" | jq -c . | cut -c1-200)"
}

step "build the binary and images"
"$deploy/build.sh" 2> >(grep -v -e DEPRECATED -e 'legacy builder' -e buildx -e '^ *$' >&2)

step "docker compose up -d"
"${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
"${dc[@]}" up -d

step "wait for health"
for svc in nats1 nats2 nats3 broker controller sim; do
	until_ok 180 "$svc healthy" healthy "$svc"
done
"${dc[@]}" logs --no-color provision | grep provisioned || fail "the provision job did not report"
api_url="http://$("${dc[@]}" port controller 8080 | tail -1)"
docker cp "$("${dc[@]}" ps -q controller):/data/admin.token" "$deploy/bin/e2e-admin.token"
token=$(tr -d '\n' <"$deploy/bin/e2e-admin.token")
rm -f "$deploy/bin/e2e-admin.token"
echo "    API at $api_url"

step "all $devices simulated devices online"
until_ok 180 "$devices devices online" all_online

step "USP Get on one device"
until_ok 30 "Get on ${prefix}000001" get_ok "${prefix}000001"

step "bulk job: Get SoftwareVersion on every online device"
job_id=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -X POST "$api_url/api/v1/jobs" \
	-d '{"name":"e2e","operation":"get","request":{"paths":["Device.DeviceInfo.SoftwareVersion"]},"selector":{"status":"online"},"concurrency":50}' |
	jq -r .id) || fail "creating the bulk job failed"
job_done() {
	local job
	job=$(curl -sf -H "Authorization: Bearer $token" "$api_url/api/v1/jobs/$job_id") || return 1
	[[ $(jq -r .state <<<"$job") == completed && $(jq -r .succeeded <<<"$job") == "$devices" ]]
}
until_ok 120 "bulk job $job_id completed on $devices devices" job_done

step "stop one NATS node (nats3); provisioning and Get still work"
"${dc[@]}" stop nats3
provision_one() {
	"${dc[@]}" run --rm --no-deps -T provision "/cuttle creds add --role device --endpoint-id ${prefix}E2E001 -o json" | grep -q '"secret"'
}
until_ok 60 "cuttle creds add with nats3 down" provision_one
echo "    provisioned ${prefix}E2E001"
until_ok 60 "Get with nats3 down" get_ok "${prefix}000002"
"${dc[@]}" start nats3
until_ok 60 "nats3 healthy again" healthy nats3

step "restart the broker; every device comes back"
restarted=$(date -u +%s)
"${dc[@]}" restart broker
until_ok 60 "broker healthy after restart" healthy broker
until_ok 180 "$devices devices reconnected after the broker restart" back_since "$restarted"
until_ok 30 "$devices devices online" all_online
until_ok 30 "Get after the broker restart" get_ok "${prefix}000003"

step "tear down"
"${dc[@]}" down -v --remove-orphans >/dev/null
trap - EXIT
echo "    ok"
echo "e2e: PASS in $(($(date +%s) - t0))s"
