#!/usr/bin/env bash
# Runs ansible-test on this checkout from a plain clone, offline from ansible-test's own hosts.
#   bash tests/ci/ansible-test.sh sanity --python 3.11
#   bash tests/ci/ansible-test.sh units --python 3.11
# `units` first installs tests/unit/requirements.txt into the Python that runs ansible-test
# (--local runs the tests there; --requirements would need the unreachable bootstrap).
# ansible-test (from the ansible-core on PATH) must see the collection at a path ending in
# ansible_collections/ktune/inference and refuses directory symlinks, so the tracked files are
# copied to such a path under a temporary folder (KTUNE_ANSIBLE_TEST_TREE to choose it).
# ansible-test bootstraps pip in the virtualenvs it creates with a script downloaded from
# ci-files.testing.ansible.com, unreachable here: the script it would cache is replaced by one
# built on ensurepip, which then installs the same pinned packages from the package index.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TREE=${KTUNE_ANSIBLE_TEST_TREE:-$(mktemp -d)}
COLLECTION=${TREE}/ansible_collections/ktune/inference

bootstrap_pip() {
  local test_data pip_version cache
  test_data=$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
  for pip_version in $(grep -ho "pip='[0-9.]*'" "${test_data}/_internal/python_requirements.py" | tr -dc '0-9.\n'); do
    cache=${HOME}/.ansible/test/cache/get_pip_${pip_version//./_}.py
    [[ -f ${cache} ]] && continue
    mkdir -p "$(dirname "${cache}")"
    cat >"${cache}" <<'PY'
"""Stand-in for get-pip.py: pip from ensurepip, then the packages ansible-test pins."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
arguments = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", *arguments])
PY
  done
}

copy_tracked_files() {
  rm -rf "${COLLECTION}"
  mkdir -p "${COLLECTION}"
  (cd "${ROOT}" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' path; do [[ -e ${path} && ! -L ${path} ]] && printf '%s\0' "${path}"; done |
    xargs -0 cp --parents -t "${COLLECTION}")
}

bootstrap_pip
copy_tracked_files
extra=()
if [[ ${1:-} == units ]]; then
  python -m pip install -q --disable-pip-version-check -r "${COLLECTION}/tests/unit/requirements.txt"
  # One pytest worker: the benchmark tests time a local server, and a second worker running
  # hypothesis on the same 2 cores skews their measurements.
  extra=(--num-workers "${KTUNE_UNIT_WORKERS:-1}")
fi
cd "${COLLECTION}"
ansible-test "$@" "${extra[@]}" --local --color no
