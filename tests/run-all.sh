#!/usr/bin/env bash
# Every test of ktune.inference, from a bare Debian machine:
#   1. installs what it needs (apt: python3-venv, shellcheck, openjdk-17-jre-headless, chromium, podman,
#      runc, debootstrap; cron and libfaketime unpacked; pip: requirements-test.txt, ansible-rulebook in a venv of its own)
#   2. lint: yamllint, ansible-lint (production profile), ansible-doc of every plugin,
#      ansible-galaxy collection build, galaxy-importer on the tarball, ansible-builder create,
#      the docs site (antsibull-docs, Sphinx -W)
#   3. ansible-test sanity on ansible-core 2.16, 2.19, 2.20 and 2.21 (one venv each; 2.20 and
#      2.21 on the pyenv's Python 3.12 and 3.13), and the unit tests (pytest, hypothesis; the
#      contract tests parse the generated ktransformers command lines with upstream's parsers)
#      on 2.16 and 2.21 (the main venv: Python 3.13, the newest ansible-core, runs the playbook
#      tests)
#   4. `tests/upstream/derive.py verify` (the upstream option lists still match the pinned
#      released wheels), integration tests
#   5. the molecule scenarios on systemd containers (podman, debootstrap image), two at a time
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

# Each stage header carries the seconds the previous stage took, so a slow CI run shows where.
STAGE_STARTED=0
stage() {
  printf '\n==== %s (previous stage: %ds, total %ds) ====\n' "$*" $((SECONDS - STAGE_STARTED)) "${SECONDS}"
  STAGE_STARTED=${SECONDS}
}
SECONDS=0

# find_python X.Y: that interpreter, from PATH or the machine's pyenv (ansible-core 2.20 and
# 2.21 need Python 3.12 or newer on the controller; Debian 12's python3 is 3.11)
find_python() {
  local found="" candidate
  # a pyenv shim is on PATH for every installed version but runs only the selected ones
  for candidate in "$(command -v "python$1" || true)" "${PYENV_ROOT:-${HOME}/.pyenv}/versions/$1".*/bin/"python$1"; do
    if [[ -z ${found} && -x ${candidate} ]] && "${candidate}" -c '' 2>/dev/null; then
      found=${candidate}
    fi
  done
  if [[ -z ${found} ]]; then
    echo "Python $1 not found on PATH or under ${PYENV_ROOT:-${HOME}/.pyenv}/versions: install it (pyenv install $1)" >&2
    return 1
  fi
  echo "${found}"
}

stage "python environment (${VENV}, ansible-core 2.21 on Python 3.13: lint, integration, molecule)"
if ! python3 -c 'import ensurepip' 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
fi
if ! command -v shellcheck >/dev/null; then  # ansible-test sanity's shellcheck test needs it
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck
fi
if ! command -v java >/dev/null; then  # ansible-rulebook's rule engine (drools) runs on Java 17
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless
fi
# the newest ansible-core the collection supports runs the playbook tests (2.16 to 2.20: sanity, units)
[[ -x ${VENV}/bin/python ]] || "$(find_python 3.13)" -m venv "${VENV}"
"${VENV}/bin/pip" install -q --disable-pip-version-check -r requirements-test.txt
export PATH=${VENV}/bin:${PATH}
export ANSIBLE_CONFIG=${ROOT}/ansible.cfg
python tests/checkout.py  # collections/ansible_collections/ktune/inference -> this checkout

# tool_venv NAME PIP-ARGS...: a venv beside the main one for a tool whose pins clash with it
# (made with ${TOOL_PYTHON}, python3 unless a stage needs another interpreter)
tool_venv() {
  local dir=${VENV}-$1
  shift
  [[ -x ${dir}/bin/python ]] || "${TOOL_PYTHON:-python3}" -m venv "${dir}"
  "${dir}/bin/pip" install -q --disable-pip-version-check "$@" >&2
  echo "${dir}"
}

stage "promtool (from Debian's prometheus package, unpacked, no service started)"
if ! command -v promtool >/dev/null; then
  promtool_dir=$(mktemp -d)
  (cd "${promtool_dir}" && { apt-get download -qq prometheus 2>/dev/null ||
    { apt-get update -qq && apt-get download -qq prometheus; }; })
  dpkg-deb -x "${promtool_dir}"/prometheus_*.deb "${promtool_dir}/root"
  install -m 0755 "${promtool_dir}/root/usr/bin/promtool" "${VENV}/bin/promtool"
  rm -rf "${promtool_dir}"
fi
promtool --version | head -1

stage "cron and libfaketime (Debian's packages, unpacked, no daemon started; the cron line test runs cron itself)"
cron_tools=${VENV}-cron
if [[ ! -x ${cron_tools}/usr/sbin/cron ]]; then
  mkdir -p "${cron_tools}"
  (cd "${cron_tools}" && { apt-get download -qq cron libfaketime 2>/dev/null ||
    { apt-get update -qq && apt-get download -qq cron libfaketime; }; })
  for deb in "${cron_tools}"/*.deb; do dpkg-deb -x "${deb}" "${cron_tools}"; done
  rm -f "${cron_tools}"/*.deb
fi
KTUNE_TEST_CRON=${cron_tools}/usr/sbin/cron
KTUNE_TEST_LIBFAKETIME=$(find "${cron_tools}" -name libfaketime.so.1 -print -quit)
export KTUNE_TEST_CRON KTUNE_TEST_LIBFAKETIME
ls -l "${KTUNE_TEST_CRON}"
ls -l "${KTUNE_TEST_LIBFAKETIME}"

stage "systemd-analyze (Debian's systemd; the guard role's unit is verified with it)"
command -v systemd-analyze >/dev/null ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd; }
systemd-analyze --version | head -1

stage "chromium (Debian's package; the audit page is loaded in it headless, one launch for every page)"
command -v chromium >/dev/null ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
chromium --version 2>/dev/null | head -1

stage "yamllint"
yamllint --strict .

stage "ansible-lint (production profile)"
ansible-lint --offline

stage "ansible-doc of every plugin"
# one ansible-doc per plugin type (a start per plugin cost minutes): it leaves out, with a warning
# and exit 0, a plugin whose documentation it cannot load, so every name is looked for in its answer
ansible_doc_every() {  # ansible_doc_every TYPE NAME...: each NAME has documentation ansible-doc loads
  local type=$1
  shift
  ansible-doc --json -t "${type}" "${@/#/ktune.inference.}" | python -c '
import json, sys
docs = json.load(sys.stdin)
missing = [name for name in sys.argv[2:] if not (docs.get("ktune.inference." + name) or {}).get("doc")]
if missing:
    sys.exit("ansible-doc could not load the %s documentation of: %s" % (sys.argv[1], ", ".join(missing)))
print("%s: %d documented (%s)" % (sys.argv[1], len(sys.argv) - 2, " ".join(sys.argv[2:])))
' "${type}" "$@"
}
mapfile -t modules < <(for module in plugins/modules/*.py; do basename "${module}" .py; done)
mapfile -t filters < <(for doc in plugins/filter/*.yml; do basename "${doc}" .yml; done)
ansible_doc_every module "${modules[@]}"
ansible_doc_every filter "${filters[@]}"

stage "ansible-galaxy collection build"
rm -f ktune-inference-*.tar.gz
ansible-galaxy collection build --force .
tarball=$(echo ktune-inference-*.tar.gz)
contents=$(tar -tzf "${tarball}")
grep -qx 'plugins/modules/numa_facts.py' <<<"${contents}"
if grep -qE '^(tests|molecule|collections|ee)/' <<<"${contents}"; then
  echo "the built collection carries test doubles or the dev symlink" >&2; exit 1
fi

stage "galaxy-importer (what Galaxy runs on an upload) on ${tarball}"
importer_venv=$(tool_venv importer 'galaxy-importer>=0.4.30,<0.5' 'ansible-builder>=3.1,<4')
import_dir=$(mktemp -d)
cp "${tarball}" "${import_dir}/"
# Its own ansible-lint pass is off: the ansible-lint stage above ran the production profile on the
# same files, and the importer gives that pass a fixed 180 s that a loaded 2-core runner overran.
(cd "${import_dir}" && PATH=${importer_venv}/bin:${PATH} GALAXY_IMPORTER_RUN_ANSIBLE_LINT=false \
  python -m galaxy_importer.main "${tarball}" | tee importer.log)
grep -q '^Importer processing completed successfully$' "${import_dir}/importer.log"
if grep -E '^(ERROR|WARNING)' "${import_dir}/importer.log"; then
  echo "galaxy-importer reported the lines above" >&2; exit 1
fi
rm -rf "${import_dir}"

stage "ansible-builder create (execution environment context, no image build)"
PATH=${importer_venv}/bin:${PATH} bash tests/ci/check-ee.sh "${tarball}"
rm -f "${tarball}"

stage "docs site (antsibull-docs and Sphinx -W, as docs.ansible.com builds a collection's pages)"
docs_out=$(mktemp -d)
KTUNE_DOCS_VENV=${VENV}-docs bash tests/ci/docs-site.sh "${docs_out}"
rm -rf "${docs_out}"

# Sanity on every ansible-core the collection supports, each on a Python its controller runs on
# (its import test proves the modules and module_utils import no controller code), and the unit
# tests with pytest on each: ansible-test units ran the same tests four times slower.
# `KTUNE_ANSIBLE_TEST_UNITS=1` adds ansible-test units on 2.16 (bash tests/ci/ansible-test.sh units).
units_requirements() {  # units_requirements VENV: pytest and what ansible-test units and the tests need
  local units_txt
  units_txt=$("$1/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
  "$1/bin/pip" install -q --disable-pip-version-check -r "${units_txt}/_data/requirements/units.txt" \
    -r tests/unit/requirements.txt
}
run_units() {  # run_units VENV: the whole unit suite on that venv's ansible-core
  units_requirements "$1"
  # Two processes, one test file each at a time, then alone the tests that measure time or load:
  # the guard daemon counts requests in flight on local servers, cron runs on a faked clock.
  local alone=(tests/unit/roles/test_guard_daemon.py tests/unit/roles/test_guard_daemon_hostile_input.py
    tests/unit/roles/test_cron_line_read_by_cron.py)
  PATH=$1/bin:${PATH} "$1/bin/python" -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests/unit \
    "${alone[@]/#/--ignore=}"
  PATH=$1/bin:${PATH} "$1/bin/python" -m pytest -q -p no:cacheprovider "${alone[@]}"
}
for core_and_python in 2.16:3.11 2.19:3.11 2.20:3.12 2.21:3.13; do
  core=${core_and_python%:*}
  python_version=${core_and_python#*:}
  stage "ansible-test sanity on ansible-core ${core} (Python ${python_version})"
  core_venv=$(TOOL_PYTHON=$(find_python "${python_version}") tool_venv "core${core/./}" "ansible-core==${core}.*")
  PATH=${core_venv}/bin:${PATH} bash tests/ci/ansible-test.sh sanity --python "${python_version}"
  if [[ ${core} == 2.16 && ${KTUNE_ANSIBLE_TEST_UNITS:-0} == 1 ]]; then
    stage "ansible-test units on ansible-core ${core} (Python ${python_version})"
    units_requirements "${core_venv}"
    PATH=${core_venv}/bin:${PATH} bash tests/ci/ansible-test.sh units --python "${python_version}"
  fi
  if [[ ${core} != 2.21 ]]; then  # 2.21 is the main venv's, run below
    stage "unit tests (pytest) on ansible-core ${core} (Python ${python_version})"
    run_units "${core_venv}"
  fi
done
stage "unit tests (pytest) on ansible-core $(ansible --version | head -1 | tr -dc '0-9.') (${VENV})"
run_units "${VENV}"

# `python -m pytest -q tests/unit` runs the unit tests directly while developing.

stage "upstream contract fixtures against the released wheels (cached in \${KTUNE_UPSTREAM_CACHE:-~/.cache/ktune-upstream})"
python tests/upstream/derive.py verify

stage "integration tests (playbooks on localhost against test servers)"
# ansible-rulebook (the guard's fleet rulebook test) in its own venv: it pulls its own
# dependency pins; it runs the main venv's ansible-playbook. The test finds it at ${VENV}-eda.
tool_venv eda 'ansible-rulebook>=1.1,<2' >/dev/null
# antsibull-changelog (CHANGELOG.md is its output) likewise: <venv>-changelog.
tool_venv changelog 'antsibull-changelog>=0.29,<1' >/dev/null
# two processes, each running one test file at a time (its module fixtures and servers stay together)
python -m pytest -q -n 2 --dist loadfile tests/integration

# run_scenarios NAME...: `molecule test` of each, KTUNE_MOLECULE_JOBS (2) at a time: a scenario
# spends most of its time waiting on containers, so two share the 2 cores well. Each has its own
# containers, fixture folder and ports; its output is printed whole when it ends.
run_scenarios() {
  local parallel=${KTUNE_MOLECULE_JOBS:-2} logs scenario failed=()
  logs=$(mktemp -d)
  for scenario in "$@"; do
    while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
    stage "molecule test -s ${scenario} started"
    (
      started=${SECONDS}
      if molecule test -s "${scenario}" >"${logs}/${scenario}.log" 2>&1; then result=passed; else result=FAILED; fi
      echo "${result}" >"${logs}/${scenario}.result"
      (
        flock 9
        cat "${logs}/${scenario}.log"
        printf '\n==== molecule test -s %s %s in %ds ====\n' "${scenario}" "${result}" $((SECONDS - started))
      ) 9>"${logs}/print.lock"
    ) &
  done
  wait
  for scenario in "$@"; do
    [[ $(cat "${logs}/${scenario}.result" 2>/dev/null) == passed ]] || failed+=("${scenario}")
  done
  rm -rf "${logs}"
  if ((${#failed[@]})); then
    echo "molecule scenarios failed: ${failed[*]}" >&2
    return 1
  fi
}

if ((SKIP_MOLECULE)); then
  echo "molecule skipped (--skip-molecule)"
else
  stage "container harness"
  bash tests/harness/setup-podman.sh
  bash tests/harness/build-image.sh
  if ((${#SCENARIOS[@]} == 0)); then
    # the longest first, so the last to start are short ones
    for scenario in tune fleet nps service ssh monitoring guard tuned remove; do
      if [[ -d molecule/${scenario} ]]; then SCENARIOS+=("${scenario}"); fi
    done
    for dir in molecule/*/; do
      if [[ " ${SCENARIOS[*]} " != *" $(basename "${dir}") "* ]]; then SCENARIOS+=("$(basename "${dir}")"); fi
    done
  fi
  run_scenarios "${SCENARIOS[@]}"
fi

stage "all tests passed in ${SECONDS}s"
