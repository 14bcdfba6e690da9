#!/usr/bin/env bash
# Every test of ktune.inference, from a bare Debian machine:
#   1. installs what it needs (apt: python3-venv, podman, runc, debootstrap; pip: requirements-test.txt)
#   2. lint: yamllint, ansible-lint (production profile), ansible-doc of every plugin,
#      ansible-galaxy collection build
#   3. unit tests (pytest, hypothesis)
#   4. the molecule scenarios on systemd containers (podman, debootstrap image)
#
# Usage: bash tests/run-all.sh [--skip-molecule] [SCENARIO...]
# Exits non-zero on the first failing stage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${ROOT}"
VENV=${KTUNE_VENV:-${ROOT}/.venv}
SKIP_MOLECULE=0
SCENARIOS=()
for arg in "$@"; do
  case ${arg} in
    --skip-molecule) SKIP_MOLECULE=1 ;;
    -*) echo "unknown option ${arg}" >&2; exit 2 ;;
    *) SCENARIOS+=("${arg}") ;;
  esac
done

stage() { printf '\n==== %s ====\n' "$*"; }
SECONDS=0

stage "python environment (${VENV})"
if ! python3 -c 'import ensurepip' 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
fi
[[ -x ${VENV}/bin/python ]] || python3 -m venv "${VENV}"
"${VENV}/bin/pip" install -q --disable-pip-version-check -r requirements-test.txt
export PATH=${VENV}/bin:${PATH}
export ANSIBLE_CONFIG=${ROOT}/ansible.cfg

stage "promtool (from Debian's prometheus package, unpacked, no service started)"
if ! command -v promtool >/dev/null; then
  promtool_dir=$(mktemp -d)
  (cd "${promtool_dir}" && apt-get download -qq prometheus 2>/dev/null ||
    { apt-get update -qq && apt-get download -qq prometheus; })
  dpkg-deb -x "${promtool_dir}"/prometheus_*.deb "${promtool_dir}/root"
  install -m 0755 "${promtool_dir}/root/usr/bin/promtool" "${VENV}/bin/promtool"
  rm -rf "${promtool_dir}"
fi
promtool --version | head -1

stage "systemd-analyze (Debian's systemd; the guard role's unit is verified with it)"
command -v systemd-analyze >/dev/null ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd; }
systemd-analyze --version | head -1

stage "yamllint"
yamllint --strict .

stage "ansible-lint (production profile)"
ansible-lint --offline

stage "ansible-doc of every plugin"
for module in plugins/modules/*.py; do
  name=$(basename "${module}" .py)
  ansible-doc "ktune.inference.${name}" >/dev/null
  echo "module ktune.inference.${name}: ok"
done
for doc in plugins/filter/*.yml; do
  name=$(basename "${doc}" .yml)
  ansible-doc -t filter "ktune.inference.${name}" >/dev/null
  echo "filter ktune.inference.${name}: ok"
done

stage "ansible-galaxy collection build"
build_dir=$(mktemp -d)
ansible-galaxy collection build --output-path "${build_dir}" --force .
contents=$(tar -tzf "${build_dir}"/ktune-inference-*.tar.gz)
grep -qx 'plugins/modules/numa_facts.py' <<<"${contents}"
if grep -qE '^(tests|molecule|collections)/' <<<"${contents}"; then
  echo "the built collection carries test doubles or the dev symlink" >&2; exit 1
fi
rm -rf "${build_dir}"

stage "unit tests"
python -m pytest -q tests/unit

stage "integration tests (playbooks on localhost against test servers)"
python -m pytest -q tests/integration

if ((SKIP_MOLECULE)); then
  echo "molecule skipped (--skip-molecule)"
else
  stage "container harness"
  bash tests/harness/setup-podman.sh
  bash tests/harness/build-image.sh
  if ((${#SCENARIOS[@]} == 0)); then
    for dir in molecule/*/; do SCENARIOS+=("$(basename "${dir}")"); done
  fi
  for scenario in "${SCENARIOS[@]}"; do
    stage "molecule test -s ${scenario}"
    molecule test -s "${scenario}"
  done
fi

stage "all tests passed in ${SECONDS}s"
