#!/usr/bin/env bash
# Smoke test for the ktune container harness.
#
# Boots the systemd image built by build-image.sh with a fixture sysfs tree
# bind-mounted over /sys/devices/system/node and /sys/devices/system/cpu, and checks:
#   1. systemd comes up (is-system-running: running, or degraded at worst);
#   2. cron.service is active;
#   3. the fixture trees are what the container sees there, and writes made inside
#      the container (e.g. cpufreq/policy0/scaling_governor) land in the host files,
#      and the other way round.
# The container and the fixture are removed on exit, pass or fail.
#
# Environment:
#   KTUNE_IMAGE          image to test (default localhost/ktune-debian12:latest)
#   KTUNE_BOOT_TIMEOUT   seconds to wait for systemd (default 60)
set -euo pipefail

IMAGE=${KTUNE_IMAGE:-localhost/ktune-debian12:latest}
BOOT_TIMEOUT=${KTUNE_BOOT_TIMEOUT:-60}
NAME=ktune-smoke-$$

log() { printf '[smoke] %s\n' "$*"; }
fail() {
  printf '[smoke] FAIL: %s\n' "$*" >&2
  if podman container exists "${NAME}" 2>/dev/null; then
    printf '[smoke] --- last container log lines ---\n' >&2
    podman logs --tail 20 "${NAME}" >&2 2>&1 || true
    podman exec "${NAME}" systemctl --failed --no-pager >&2 2>&1 || true
  fi
  exit 1
}

[[ ${EUID} -eq 0 ]] || fail "must run as root (rootful podman)"
command -v podman >/dev/null 2>&1 || fail "podman missing: run tests/harness/setup-podman.sh"
podman image exists "${IMAGE}" || fail "image ${IMAGE} missing: run tests/harness/build-image.sh"

FIXTURE=$(mktemp -d /tmp/ktune-smoke-sysfs.XXXXXX)
cleanup() {
  podman rm -f -t 0 "${NAME}" >/dev/null 2>&1 || true
  rm -rf "${FIXTURE}"
}
trap cleanup EXIT

# --- fixture: a 2-node, 4-cpu machine -------------------------------------------
mkdir -p "${FIXTURE}"/node/node{0,1} "${FIXTURE}"/cpu/cpu{0,1,2,3} \
  "${FIXTURE}"/cpu/cpufreq/policy{0,1,2,3}
printf '0-1\n' >"${FIXTURE}/node/online"
printf '0-1\n' >"${FIXTURE}/node/node0/cpulist"
printf '2-3\n' >"${FIXTURE}/node/node1/cpulist"
printf '10 32\n' >"${FIXTURE}/node/node0/distance"
printf '32 10\n' >"${FIXTURE}/node/node1/distance"
printf '0-3\n' >"${FIXTURE}/cpu/online"
for p in 0 1 2 3; do
  printf 'schedutil\n' >"${FIXTURE}/cpu/cpufreq/policy${p}/scaling_governor"
  printf 'performance powersave schedutil\n' \
    >"${FIXTURE}/cpu/cpufreq/policy${p}/scaling_available_governors"
done
printf 'ktune-fixture\n' >"${FIXTURE}/cpu/ktune-marker"

# --- boot -------------------------------------------------------------------------
log "starting ${NAME} from ${IMAGE}"
podman run -d --name "${NAME}" --hostname "${NAME}" \
  --privileged --systemd=always \
  --tmpfs /run --tmpfs /tmp \
  --volume "${FIXTURE}/node:/sys/devices/system/node:rw" \
  --volume "${FIXTURE}/cpu:/sys/devices/system/cpu:rw" \
  "${IMAGE}" /sbin/init >/dev/null || fail "podman run failed"

start=${SECONDS}
state=""
while :; do
  [[ "$(podman inspect --format '{{.State.Running}}' "${NAME}" 2>/dev/null)" == true ]] \
    || fail "container exited during boot"
  # Before systemd listens on its socket, systemctl prints an error: keep polling.
  state=$(timeout 10 podman exec "${NAME}" systemctl is-system-running 2>/dev/null || true)
  case ${state} in
    running | degraded) break ;;
  esac
  ((SECONDS - start < BOOT_TIMEOUT)) || fail "systemd not up after ${BOOT_TIMEOUT}s (state: '${state:-no answer}')"
  sleep 0.5
done
# is-system-running --wait must agree (it blocks while still starting).
state=$(timeout "${BOOT_TIMEOUT}" podman exec "${NAME}" systemctl is-system-running --wait 2>/dev/null || true)
case ${state} in
  running) log "systemd state: running ($((SECONDS - start))s)" ;;
  degraded)
    log "systemd state: degraded ($((SECONDS - start))s); failed units:"
    podman exec "${NAME}" systemctl --failed --no-pager --plain || true
    ;;
  *) fail "systemctl is-system-running --wait said '${state}'" ;;
esac

# --- cron ------------------------------------------------------------------------
cron_state=$(podman exec "${NAME}" systemctl is-active cron.service 2>/dev/null || true)
[[ ${cron_state} == active ]] || fail "cron.service is '${cron_state}', expected active"
log "cron.service: active"

# --- fixture sysfs ---------------------------------------------------------------
marker=$(podman exec "${NAME}" cat /sys/devices/system/cpu/ktune-marker 2>/dev/null || true)
[[ ${marker} == ktune-fixture ]] || fail "fixture not mounted over /sys/devices/system/cpu"
cpulist=$(podman exec "${NAME}" cat /sys/devices/system/node/node1/cpulist 2>/dev/null || true)
[[ ${cpulist} == 2-3 ]] || fail "fixture not mounted over /sys/devices/system/node (node1/cpulist='${cpulist}')"
log "fixture trees visible at /sys/devices/system/{node,cpu}"

gov=/sys/devices/system/cpu/cpufreq/policy0/scaling_governor
podman exec "${NAME}" sh -c "echo performance > ${gov}" \
  || fail "cannot write ${gov} inside the container"
host_gov=$(cat "${FIXTURE}/cpu/cpufreq/policy0/scaling_governor")
[[ ${host_gov} == performance ]] || fail "write inside the container not seen on the host (host reads '${host_gov}')"
podman exec "${NAME}" sh -c 'echo 0 > /sys/devices/system/node/node0/ktune-written' \
  || fail "cannot write in /sys/devices/system/node inside the container"
[[ -f ${FIXTURE}/node/node0/ktune-written ]] || fail "file written in the node tree not seen on the host"
printf 'powersave\n' >"${FIXTURE}/cpu/cpufreq/policy1/scaling_governor"
seen=$(podman exec "${NAME}" cat /sys/devices/system/cpu/cpufreq/policy1/scaling_governor)
[[ ${seen} == powersave ]] || fail "host write not seen inside the container (reads '${seen}')"
log "fixture trees writable both ways (${gov} -> performance)"

# --- teardown ----------------------------------------------------------------------
podman rm -f -t 0 "${NAME}" >/dev/null || fail "could not remove ${NAME}"
! podman container exists "${NAME}" || fail "${NAME} still exists after removal"
log "PASS (container removed)"
