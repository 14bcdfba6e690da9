#!/usr/bin/env bash
# Build (or reuse) the Debian 12 systemd image used by the ktune container tests.
#
# No container registry is reachable, so the image is made locally: debootstrap a
# bookworm root, trim and configure it for running systemd as PID 1 in a container,
# then `tar | podman import` it. The image carries a label with a hash of the recipe
# (suite, variant, package list, masked units, rootfs customisation); when an image
# with the same hash exists the build is skipped. The customised rootfs is also kept
# as a tarball per recipe hash, so a lost image is re-imported without debootstrap.
#
# Usage: build-image.sh [--print-mirror]
#
# Environment:
#   KTUNE_IMAGE              image name        (default localhost/ktune-debian12:latest)
#   KTUNE_DEBIAN_MIRROR      Debian mirror URL (default: derived from the host's apt sources)
#   KTUNE_DEBOOTSTRAP_CACHE  .deb cache folder (default /var/cache/ktune/debootstrap)
#   KTUNE_ROOTFS_CACHE       rootfs tarballs   (default /var/cache/ktune/rootfs)
#   KTUNE_BUILD_DIR          scratch folder    (default /var/tmp)
#   KTUNE_FORCE_REBUILD=1    debootstrap again even when the recipe hash matches
set -euo pipefail

log() { printf '[build-image] %s\n' "$*"; }
die() { printf '[build-image] ERROR: %s\n' "$*" >&2; exit 1; }

IMAGE=${KTUNE_IMAGE:-localhost/ktune-debian12:latest}
SUITE=bookworm
VARIANT=minbase
CACHE_ROOT=/var/cache/ktune
CACHE_DIR=${KTUNE_DEBOOTSTRAP_CACHE:-${CACHE_ROOT}/debootstrap}
ROOTFS_CACHE=${KTUNE_ROOTFS_CACHE:-${CACHE_ROOT}/rootfs}
BUILD_DIR=${KTUNE_BUILD_DIR:-/var/tmp}
LABEL=io.ktune.recipe-hash

PACKAGES=(
  systemd
  systemd-sysv
  dbus
  python3
  python3-apt
  cron
  procps
  iproute2
  ca-certificates
  sudo
  numactl
  curl
  kmod
)

# Units that fail, hang or would touch the host kernel from a privileged container.
MASKED_UNITS=(
  systemd-remount-fs.service
  systemd-udevd.service
  systemd-udevd-control.socket
  systemd-udevd-kernel.socket
  systemd-udev-trigger.service
  systemd-udev-settle.service
  systemd-modules-load.service
  systemd-sysctl.service
  systemd-binfmt.service
  proc-sys-fs-binfmt_misc.automount
  proc-sys-fs-binfmt_misc.mount
  systemd-firstboot.service
  systemd-hwdb-update.service
  systemd-journald-audit.socket
  systemd-pstore.service
  systemd-random-seed.service
  systemd-timesyncd.service
  sys-kernel-config.mount
  sys-kernel-debug.mount
  sys-kernel-tracing.mount
  sys-fs-fuse-connections.mount
  dev-hugepages.mount
  dev-mqueue.mount
  getty.target
  getty@.service
  serial-getty@.service
  console-getty.service
  apt-daily.timer
  apt-daily-upgrade.timer
  dpkg-db-backup.timer
  e2scrub_all.timer
  e2scrub_reap.service
  fstrim.timer
)

# Configure the unpacked root for running systemd as PID 1 in a container.
# Its source is part of the recipe hash: edit it and the image is rebuilt.
customize_rootfs() {
  local root=$1 unit

  # Minimal, locale-free configuration (C.UTF-8 is built into glibc).
  printf 'LANG=C.UTF-8\n' >"${root}/etc/default/locale"
  printf 'ktune\n' >"${root}/etc/hostname"
  : >"${root}/etc/fstab"
  # Empty machine-id: systemd generates a fresh one on every boot.
  : >"${root}/etc/machine-id"
  rm -f "${root}/var/lib/dbus/machine-id"

  # Keep later package installs small as well.
  cat >"${root}/etc/dpkg/dpkg.cfg.d/ktune-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
EOF
  cat >"${root}/etc/apt/apt.conf.d/90ktune" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF

  # Units that do not belong in a container.
  for unit in "${MASKED_UNITS[@]}"; do
    ln -sfn /dev/null "${root}/etc/systemd/system/${unit}"
  done
  ln -sfn /lib/systemd/system/multi-user.target "${root}/etc/systemd/system/default.target"
  # Make sure cron and dbus start at boot.
  mkdir -p "${root}/etc/systemd/system/multi-user.target.wants"
  ln -sfn /lib/systemd/system/cron.service "${root}/etc/systemd/system/multi-user.target.wants/cron.service"

  # journald: keep logs in memory, small.
  mkdir -p "${root}/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' \
    >"${root}/etc/systemd/journald.conf.d/ktune.conf"

  # Trim what a test container never needs.
  rm -rf "${root}"/usr/share/doc/* "${root}"/usr/share/man/* "${root}"/usr/share/info/* \
    "${root}"/var/cache/apt/archives/*.deb "${root}"/var/cache/apt/*.bin \
    "${root}"/var/lib/apt/lists/* "${root}"/var/log/*.log "${root}"/var/cache/debconf/*-old
  find "${root}/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
}

# Print the URL of the Debian archive (the one serving bookworm/main) from the
# host's apt sources: one-line *.list files and deb822 *.sources files.
# Candidates are confirmed by apt's downloaded Release file (Origin: Debian) when
# present; otherwise the URL path must end in /debian. Third-party repos are skipped.
derive_debian_mirror() {
  local files=() f
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f ${f} ]] && files+=("${f}")
  done
  ((${#files[@]})) || return 1

  local candidates uri
  candidates=$(awk -v suite="${SUITE}" '
    function emit822(   i, n, t, s, c, u, ok_t, ok_s, ok_c) {
      if (enabled == "no") { reset(); return }
      ok_t = ok_s = ok_c = 0
      n = split(types, t, /[ \t]+/);  for (i = 1; i <= n; i++) if (t[i] == "deb") ok_t = 1
      n = split(suites, s, /[ \t]+/); for (i = 1; i <= n; i++) if (s[i] == suite) ok_s = 1
      n = split(comps, c, /[ \t]+/);  for (i = 1; i <= n; i++) if (c[i] == "main") ok_c = 1
      if (ok_t && ok_s && ok_c) { n = split(uris, u, /[ \t]+/); for (i = 1; i <= n; i++) if (u[i] != "") print u[i] }
      reset()
    }
    function reset() { types = suites = comps = uris = enabled = ""; key = "" }
    FNR == 1 { if (in822) emit822(); in822 = (FILENAME ~ /\.sources$/); reset() }
    in822 {
      if ($0 ~ /^[ \t]*#/) next
      if ($0 ~ /^[ \t]*$/) { emit822(); next }
      if ($0 ~ /^[^ \t][^:]*:/) {
        key = tolower(substr($0, 1, index($0, ":") - 1)); val = substr($0, index($0, ":") + 1)
      } else { val = $0 }
      if (key == "types") types = types " " val
      else if (key == "uris") uris = uris " " val
      else if (key == "suites") suites = suites " " val
      else if (key == "components") comps = comps " " val
      else if (key == "enabled") { gsub(/[ \t]/, "", val); enabled = tolower(val) }
      next
    }
    {
      sub(/#.*/, "")
      if ($1 != "deb") next
      line = $0; sub(/^[ \t]*deb[ \t]+/, "", line)
      if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
      n = split(line, w, /[ \t]+/)
      if (n < 3 || w[2] != suite) next
      for (i = 3; i <= n; i++) if (w[i] == "main") { print w[1]; break }
    }
    END { if (in822) emit822() }
  ' "${files[@]}" | awk '!seen[$0]++')

  # Rank: 1 = apt's Release file says Debian; 2 = no Release file and the host
  # name contains "debian"; 3 = no Release file and the path ends in /debian.
  # A source whose Release file names another origin is third-party: skipped.
  local best="" best_rank=9 rank stem rel found
  while IFS= read -r uri; do
    [[ ${uri} =~ ^https?:// ]] || continue
    uri=${uri%/}
    # apt's list file name for this source: scheme dropped, "/" replaced by "_".
    stem=${uri#*://}
    stem=${stem//\//_}
    found=""
    for rel in "/var/lib/apt/lists/${stem}_dists_${SUITE}_InRelease" \
      "/var/lib/apt/lists/${stem}_dists_${SUITE}_Release"; do
      [[ -f ${rel} ]] && found=${rel} && break
    done
    if [[ -n ${found} ]]; then
      if grep -q '^Origin: Debian$' "${found}" && grep -q '^Label: Debian$' "${found}"; then
        rank=1
      else
        continue
      fi
    elif [[ ${uri} =~ ^https?://[^/]*debian[^/]*/ ]]; then
      rank=2
    elif [[ ${uri} =~ /debian$ ]]; then
      rank=3
    else
      continue
    fi
    if ((rank < best_rank)); then
      best=${uri}
      best_rank=${rank}
    fi
  done <<<"${candidates}"
  [[ -n ${best} ]] || return 1
  printf '%s\n' "${best}"
}

recipe_hash() {
  {
    printf 'suite=%s variant=%s\n' "${SUITE}" "${VARIANT}"
    printf 'pkg=%s\n' "${PACKAGES[@]}"
    printf 'mask=%s\n' "${MASKED_UNITS[@]}"
    declare -f customize_rootfs
  } | sha256sum | cut -c1-16
}

# Allow `build-image.sh --print-mirror` for debugging the mirror derivation.
if [[ ${1:-} == --print-mirror ]]; then
  if [[ -n ${KTUNE_DEBIAN_MIRROR:-} ]]; then
    printf '%s\n' "${KTUNE_DEBIAN_MIRROR}"
  else
    derive_debian_mirror || die "no Debian ${SUITE}/main source found in the host's apt sources"
  fi
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: $0 [--print-mirror]"

[[ ${EUID} -eq 0 ]] || die "must run as root (debootstrap and rootful podman)"
command -v podman >/dev/null 2>&1 || die "podman missing: run tests/harness/setup-podman.sh first"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap missing: run tests/harness/setup-podman.sh first"

HASH=$(recipe_hash)

# One build at a time on this host; whoever waited re-checks the image below.
mkdir -p "${CACHE_ROOT}"
exec 9>"${CACHE_ROOT}/build-image.lock"
if ! flock -n 9; then
  log "another build-image.sh is running; waiting for it"
  flock 9
fi

image_label() {
  podman image inspect --format "{{ index .Labels \"${LABEL}\" }}" "${IMAGE}" 2>/dev/null || true
}

# --- reuse ---------------------------------------------------------------------
if [[ ${KTUNE_FORCE_REBUILD:-0} != 1 ]] && podman image exists "${IMAGE}"; then
  have=$(image_label)
  if [[ ${have} == "${HASH}" ]]; then
    log "image ${IMAGE} is up to date (recipe ${HASH}); nothing to do"
    exit 0
  fi
  log "image ${IMAGE} has recipe '${have:-none}', want ${HASH}: rebuilding"
fi

old_id=$(podman image inspect --format '{{.Id}}' "${IMAGE}" 2>/dev/null || true)
start=${SECONDS}
mkdir -p "${CACHE_DIR}" "${ROOTFS_CACHE}" "${BUILD_DIR}"
TARBALL=${ROOTFS_CACHE}/ktune-debian12-${HASH}.tar
WORK=$(mktemp -d "${BUILD_DIR}/ktune-rootfs.XXXXXX")
cleanup() {
  # Never delete through a mount left in the scratch root.
  local m
  for m in proc sys dev/pts dev; do
    if mountpoint -q "${WORK}/rootfs/${m}" 2>/dev/null; then
      umount -l "${WORK}/rootfs/${m}" || true
    fi
  done
  rm -rf --one-file-system "${WORK}"
}
trap cleanup EXIT
ROOTFS=${WORK}/rootfs

# --- rootfs tarball (cached per recipe hash) -------------------------------------
if [[ -f ${TARBALL} && ${KTUNE_FORCE_REBUILD:-0} != 1 ]]; then
  log "reusing cached rootfs ${TARBALL}"
else
  MIRROR=${KTUNE_DEBIAN_MIRROR:-}
  if [[ -z ${MIRROR} ]]; then
    MIRROR=$(derive_debian_mirror) \
      || die "no Debian ${SUITE}/main source found in the host's apt sources; set KTUNE_DEBIAN_MIRROR"
  fi
  log "mirror: ${MIRROR}"
  include=$(IFS=,; printf '%s' "${PACKAGES[*]}")
  log "debootstrap ${SUITE} (${VARIANT}) into ${ROOTFS} (.deb cache ${CACHE_DIR}); takes 1-2 minutes"
  if ! debootstrap --variant="${VARIANT}" --include="${include}" \
    --cache-dir="${CACHE_DIR}" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "${SUITE}" "${ROOTFS}" "${MIRROR}" >"${WORK}/debootstrap.log" 2>&1; then
    tail -n 30 "${WORK}/debootstrap.log" >&2
    if [[ -f ${ROOTFS}/debootstrap/debootstrap.log ]]; then
      tail -n 30 "${ROOTFS}/debootstrap/debootstrap.log" >&2
    fi
    die "debootstrap failed (full log above; mirror ${MIRROR})"
  fi
  log "debootstrap done in $((SECONDS - start))s"

  customize_rootfs "${ROOTFS}"

  # Keep one rootfs tarball per recipe so a lost image is re-imported in seconds.
  rm -f "${ROOTFS_CACHE}"/ktune-debian12-*.tar
  tar --numeric-owner --xattrs --acls -C "${ROOTFS}" -cf "${TARBALL}.tmp" .
  mv -f "${TARBALL}.tmp" "${TARBALL}"
  rm -rf --one-file-system "${ROOTFS}"
fi

# --- import ----------------------------------------------------------------------
log "importing into podman as ${IMAGE}"
podman import --quiet \
  --change 'CMD ["/sbin/init"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change 'ENV container=podman' \
  --change "LABEL ${LABEL}=${HASH}" \
  --message "ktune debian ${SUITE} systemd image, recipe ${HASH}" \
  "${TARBALL}" "${IMAGE}" >/dev/null
[[ "$(image_label)" == "${HASH}" ]] || die "imported image lacks label ${LABEL}=${HASH}"
# Drop the previous build (now untagged), but only if nothing else uses it.
if [[ -n ${old_id} && ${old_id} != "$(podman image inspect --format '{{.Id}}' "${IMAGE}")" ]]; then
  podman image rm "${old_id}" >/dev/null 2>&1 || true
fi
size=$(podman image inspect --format '{{.Size}}' "${IMAGE}")
log "built ${IMAGE} (recipe ${HASH}, $((size / 1024 / 1024)) MiB) in $((SECONDS - start))s"
