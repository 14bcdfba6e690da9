#!/usr/bin/env bash
# Prepare this host for rootful podman systemd containers (the ktune test harness).
#
# - apt-installs podman, runc, debootstrap and helpers, only when missing;
# - writes /etc/containers/containers.conf.d/ktune.conf (runc runtime, lowered
#   default ulimits: the hosts lack CAP_SYS_RESOURCE and run cgroup v1, where
#   crun refuses hybrid cgroups);
# - picks a storage driver that works on this host (kernel overlay if it mounts
#   on the storage filesystem, else vfs) and writes /etc/containers/storage.conf
#   when that is needed.
#
# Idempotent: files are only rewritten when their content differs.
#
# Environment:
#   KTUNE_STORAGE_DRIVER  force "overlay" or "vfs" instead of probing.
set -euo pipefail

log() { printf '[setup-podman] %s\n' "$*"; }
die() { printf '[setup-podman] ERROR: %s\n' "$*" >&2; exit 1; }

[[ ${EUID} -eq 0 ]] || die "must run as root (rootful podman is used)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script targets Debian hosts"

PACKAGES=(
  podman
  runc
  conmon
  containernetworking-plugins
  debootstrap
  debian-archive-keyring
  uidmap
  slirp4netns
  fuse-overlayfs
  iptables
  # the controller side of molecule/ssh (ssh, ssh-keygen)
  openssh-client
)

# --- 1. packages ---------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("${pkg}")
  fi
done
if ((${#missing[@]})); then
  log "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "packages already installed: ${PACKAGES[*]}"
fi

# write_if_changed PATH CONTENT: (re)write PATH only when its content differs.
write_if_changed() {
  local path=$1 content=$2
  if [[ -f ${path} ]] && [[ "$(cat "${path}")" == "${content}" ]]; then
    log "${path} is up to date"
    return 0
  fi
  mkdir -p "$(dirname "${path}")"
  local tmp
  tmp=$(mktemp "${path}.XXXXXX")
  printf '%s\n' "${content}" >"${tmp}"
  chmod 0644 "${tmp}"
  mv -f "${tmp}" "${path}"
  log "wrote ${path}"
}

# --- 2. containers.conf drop-in --------------------------------------------------
CONTAINERS_CONF_CONTENT='# Managed by ktune tests/harness/setup-podman.sh
# cgroup v1 (hybrid) host without CAP_SYS_RESOURCE: crun refuses hybrid cgroups and
# podman'"'"'s default nofile/nproc ulimits exceed the hard limits we may set.
[containers]
default_ulimits = ["nofile=1024:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"'
write_if_changed /etc/containers/containers.conf.d/ktune.conf "${CONTAINERS_CONF_CONTENT}"

# --- 3. storage driver -----------------------------------------------------------
STORAGE_CONF=/etc/containers/storage.conf
GRAPH_ROOT=/var/lib/containers/storage
MARKER='# Managed by ktune tests/harness/setup-podman.sh'

probe_kernel_overlay() {
  # Mount a throwaway overlay on the filesystem that will hold the graph root.
  local base rc=1
  mkdir -p "${GRAPH_ROOT%/*}"
  base=$(mktemp -d "${GRAPH_ROOT%/*}/.ktune-overlay-probe.XXXXXX")
  mkdir -p "${base}"/{lower,upper,work,merged}
  touch "${base}/lower/file"
  if mount -t overlay overlay \
    -o "lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work" \
    "${base}/merged" 2>/dev/null; then
    if [[ -e ${base}/merged/file ]] && touch "${base}/merged/new" 2>/dev/null; then
      rc=0
    fi
    umount "${base}/merged" || true
  fi
  rm -rf "${base}"
  return "${rc}"
}

driver=${KTUNE_STORAGE_DRIVER:-}
if [[ -z ${driver} ]]; then
  if probe_kernel_overlay; then
    driver=overlay
  else
    driver=vfs
  fi
  log "storage probe: kernel overlay $([[ ${driver} == overlay ]] && echo works || echo 'does not work, using vfs')"
fi
case ${driver} in
  overlay | vfs) ;;
  *) die "KTUNE_STORAGE_DRIVER must be overlay or vfs, not '${driver}'" ;;
esac

STORAGE_CONF_CONTENT="${MARKER}
[storage]
driver = \"${driver}\"
runroot = \"/run/containers/storage\"
graphroot = \"${GRAPH_ROOT}\""

if [[ -f ${STORAGE_CONF} ]] && ! grep -qF "${MARKER}" "${STORAGE_CONF}"; then
  log "${STORAGE_CONF} exists and is not managed by ktune: leaving it alone"
else
  write_if_changed "${STORAGE_CONF}" "${STORAGE_CONF_CONTENT}"
fi

# A store initialised with another driver refuses to open: say so clearly.
if ! podman info >/dev/null 2>&1; then
  podman info 2>&1 | tail -n 5 >&2 || true
  die "podman info fails; if the graph driver changed, run 'podman system reset -f' (deletes all images)"
fi
effective_driver=$(podman info --format '{{.Store.GraphDriverName}}')
runtime=$(podman info --format '{{.Host.OCIRuntime.Name}}')
log "podman ready: storage driver=${effective_driver}, runtime=${runtime}"
[[ ${runtime} == runc ]] || die "podman runtime is '${runtime}', expected runc"
