#!/usr/bin/env bash
# End-to-end test of the Compose deployment (deploy/compose.yaml), bounded to
# 10 minutes. Builds the binary and images, makes the TLS material
# (tls/make-certs.sh), starts the stack under its own project name with
# random host ports, and checks:
#   1. every JetStream stream and KV bucket has 3 current replicas;
#   2. through the API, all simulated devices are online: the password group
#      on MQTT and the mTLS group on MQTT over TLS;
#   3. a Get on one device, then a bulk job over every online device;
#   4. with one NATS node stopped, the buckets keep a leader and two current
#      replicas, and provisioning (`cuttle creds add`) and a Get still work;
#   5. a renewed broker certificate is served without a restart;
#   6. after a broker restart every device of both groups comes back online.
# Tears everything down (volumes included) at the end or on failure, when it
# also prints what failed and the containers' logs. E2E_KEEP=1 leaves the
# stack up; COMPOSE_PROJECT_NAME picks another project (default: unique).
# Needs: docker with compose (v2 plugin or docker-compose 1.29+), go, curl, jq,
# openssl and Debian's busybox-static (see build.sh).
set -euo pipefail

if [[ -z "${E2E_BOUNDED:-}" ]]; then
	# The checks get 9 minutes; on a timeout the teardown (and the logs) get
	# up to 45 s more, so the whole run stays within 10 minutes.
	exec timeout --foreground -k 45 "${E2E_TIMEOUT:-540}" env E2E_BOUNDED=1 "$0" "$@"
fi

deploy=$(cd "$(dirname "$0")" && pwd)
devices=${SIM_DEVICES:-100}
tls_devices=${TLS_DEVICES:-10}
prefix=os::00CAFE-SIM
tls_prefix=os::00CAFE-TLS
export SIM_DEVICES=$devices TLS_DEVICES=$tls_devices
# A project of its own, so that a run never meets another's containers or
# volumes, and the teardown removes only what this run made.
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-cuttle-e2e-$$-$RANDOM}
export CUTTLE_API_PORT=0 CUTTLE_MQTT_PORT=0 CUTTLE_MQTTS_PORT=0 # random host ports: a shared machine may use 8080
export CUTTLE_TLS_DIR=$deploy/bin/e2e-tls
export NATS_PASSWORD=e2e-nats-$RANDOM$RANDOM NATS_CLUSTER_PASSWORD=e2e-routes-$RANDOM$RANDOM
export CONTROLLER_PASSWORD=e2e-controller-$RANDOM$RANDOM

if docker compose version >/dev/null 2>&1; then
	dc=(docker compose -f "$deploy/compose.yaml")
else
	dc=(docker-compose -f "$deploy/compose.yaml")
fi
# compose ARGS...: docker compose without its progress lines (Creating …,
# Stopping …), which Compose v1 writes to stderr; errors still show.
compose() {
	"${dc[@]}" "$@" 2> >(grep -v -E '^ *(Creating|Starting|Stopping|Removing|Restarting|Recreating|Network|Volume|Container) ' >&2)
}
# back_since reads every device in one API page, at most 1000.
[[ $((devices + tls_devices)) -le 1000 ]] || { echo "e2e: SIM_DEVICES + TLS_DEVICES must be at most 1000" >&2; exit 1; }
for tool in curl jq openssl; do
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

# online_count GROUP: how many devices of a group (SIM or TLS) are online.
online_count() {
	api GET "/api/v1/devices?status=online&q=00CAFE-$1&limit=1" | jq -r .total
}

all_online() {
	local n m
	n=$(online_count SIM 2>/dev/null) || return 1
	m=$(online_count TLS 2>/dev/null) || return 1
	echo "    online: $n/$devices with passwords, $m/$tls_devices with client certificates (mTLS)"
	[[ "$n" == "$devices" && "$m" == "$tls_devices" ]]
}

# back_since EPOCH: every simulated device is online again since EPOCH
# (status_since), so each has really reconnected, not just kept a stale state.
back_since() {
	local n
	n=$(api GET "/api/v1/devices?status=online&q=00CAFE-&limit=1000" 2>/dev/null |
		jq --argjson t "$1" '[.devices[] | select(.endpoint_id | test("(SIM|TLS)[0-9]+$"))
			| select((.status_since | sub("\\.[0-9]+"; "") | fromdateiso8601) >= $t)] | length') || return 1
	echo "    reconnected since the restart: $n/$((devices + tls_devices))"
	[[ "$n" == "$((devices + tls_devices))" ]]
}

# replicas MIN_CURRENT: every stream (KV buckets included) is configured
# with 3 replicas and at least MIN_CURRENT of its peers are current, as
# deploy/jsreplicas reports it from inside the Compose network.
replicas() {
	compose run --rm --no-deps -T -v "$deploy/bin/jsreplicas:/jsreplicas:ro" --entrypoint /jsreplicas provision \
		-want 3 -min-current "$1" -min-streams 9 | sed 's/^/    /'
}

get_ok() {
	local out
	out=$(api POST "/api/v1/devices/$1/get" '{"paths":["Device.DeviceInfo.SoftwareVersion"]}') || { echo "    get: $out"; return 1; }
	echo "    get $1: $(echo "$out" | jq -c . | cut -c1-200)"
}

step "build the binary and images; make the TLS material"
"$deploy/build.sh" 2> >(grep -v -e DEPRECATED -e 'legacy builder' -e buildx -e '^ *$' >&2)
(cd "$deploy/.." && CGO_ENABLED=0 go build -trimpath -o "$deploy/bin/jsreplicas" ./deploy/jsreplicas)
TLS_DEVICES=$tls_devices TLS_ID_PREFIX=$tls_prefix "$deploy/tls/make-certs.sh" "$CUTTLE_TLS_DIR"

step "docker compose up -d"
"${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
compose up -d

step "wait for health"
for svc in nats1 nats2 nats3 broker controller sim sim-tls; do
	until_ok 180 "$svc healthy" healthy "$svc"
done
"${dc[@]}" logs --no-color provision | grep provisioned || fail "the provision job did not report"
api_url="http://$("${dc[@]}" port controller 8080 | tail -1)"
docker cp "$("${dc[@]}" ps -q controller):/data/admin.token" "$deploy/bin/e2e-admin.token"
token=$(tr -d '\n' <"$deploy/bin/e2e-admin.token")
rm -f "$deploy/bin/e2e-admin.token"
echo "    API at $api_url"

step "all $devices + $tls_devices (mTLS) simulated devices online"
until_ok 180 "$devices + $tls_devices devices online" all_online

step "every KV bucket and stream has 3 current replicas"
until_ok 60 "3 current replicas of every stream" replicas 3

step "USP Get on one device"
until_ok 30 "Get on ${prefix}000001" get_ok "${prefix}000001"

step "bulk job: Get SoftwareVersion on every online device"
job_id=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -X POST "$api_url/api/v1/jobs" \
	-d '{"name":"e2e","operation":"get","request":{"paths":["Device.DeviceInfo.SoftwareVersion"]},"selector":{"status":"online"},"concurrency":50}' |
	jq -r .id) || fail "creating the bulk job failed"
job_done() {
	local job state
	job=$(curl -sf -H "Authorization: Bearer $token" "$api_url/api/v1/jobs/$job_id") || return 1
	state=$(jq -r .state <<<"$job")
	case $state in
	pending | running) return 1 ;;
	completed) [[ $(jq -r .succeeded <<<"$job") == "$((devices + tls_devices))" ]] && return 0 ;;
	esac
	fail "bulk job $job_id ended: $(jq -c 'del(.request)' <<<"$job" | cut -c1-400)"
}
until_ok 120 "bulk job $job_id completed on $((devices + tls_devices)) devices" job_done

step "stop one NATS node (nats3); replicas, provisioning and Get still work"
compose stop nats3
until_ok 60 "a leader and 2 current replicas with nats3 down" replicas 2
provision_one() {
	compose run --rm --no-deps -T provision "/cuttle creds add --role device --endpoint-id ${prefix}E2E001 -o json" | grep -q '"secret"'
}
until_ok 60 "cuttle creds add with nats3 down" provision_one
echo "    provisioned ${prefix}E2E001"
until_ok 60 "Get with nats3 down" get_ok "${prefix}000002"
compose start nats3
until_ok 60 "nats3 healthy again" healthy nats3

step "renew the broker's certificate; the broker serves it without a restart"
mqtts=$("${dc[@]}" port broker 8883 | tail -1)
# serial: the serial number of the certificate the broker's TLS listener
# serves, in a full mTLS handshake as the first certificate device.
serial() {
	openssl s_client -connect "$mqtts" -servername broker -verify_return_error \
		-CAfile "$CUTTLE_TLS_DIR/ca.crt" -cert "$CUTTLE_TLS_DIR/devices/${tls_prefix}000001.crt" \
		-key "$CUTTLE_TLS_DIR/devices/${tls_prefix}000001.key" </dev/null 2>/dev/null |
		openssl x509 -noout -serial
}
old_serial=$(serial) || fail "no TLS handshake with the broker on $mqtts"
broker_since=$(docker inspect -f '{{.State.StartedAt}}' "$("${dc[@]}" ps -q broker)")
rm -f "$CUTTLE_TLS_DIR/server.crt" # make-certs.sh reissues what is missing
TLS_DEVICES=$tls_devices TLS_ID_PREFIX=$tls_prefix "$deploy/tls/make-certs.sh" "$CUTTLE_TLS_DIR" | sed 's/^/    /'
compose run --rm --no-deps -T tls | sed 's/^/    /'
renewed() {
	local s
	s=$(serial) || return 1
	[[ "$s" != "$old_serial" ]] && echo "    served: $old_serial -> $s"
}
until_ok 60 "the broker serving the renewed certificate" renewed
[[ $(docker inspect -f '{{.State.StartedAt}}' "$("${dc[@]}" ps -q broker)") == "$broker_since" ]] ||
	fail "the broker restarted to pick up its certificate"
until_ok 30 "$devices + $tls_devices devices online" all_online

step "restart the broker; every device comes back"
restarted=$(date -u +%s)
compose restart broker
until_ok 60 "broker healthy after restart" healthy broker
until_ok 180 "$((devices + tls_devices)) devices reconnected after the broker restart" back_since "$restarted"
until_ok 30 "$devices + $tls_devices devices online" all_online
until_ok 30 "Get after the broker restart" get_ok "${prefix}000003"

step "tear down"
compose down -v --remove-orphans >/dev/null
trap - EXIT
echo "    ok"
echo "e2e: PASS in $(($(date +%s) - t0))s"
