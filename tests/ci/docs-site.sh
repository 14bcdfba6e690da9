#!/usr/bin/env bash
# The collection's docs site, built the Ansible way: antsibull-docs renders every module's,
# plugin's and role's own documentation (DOCUMENTATION, meta/argument_specs.yml) and Sphinx
# builds it with -W, so a schema error or any Sphinx warning fails this script.
#   bash tests/ci/docs-site.sh [OUT_DIR]       # default ./docs-site (git ignores it); HTML in OUT_DIR/build/html
# antsibull-docs and Sphinx live in a venv of their own (their pins clash with the test venv's):
# KTUNE_DOCS_VENV, default <KTUNE_VENV or ./.venv>-docs, made here from PyPI when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${KTUNE_DOCS_VENV:-${KTUNE_VENV:-${ROOT}/.venv}-docs}
OUT=$(realpath -m "${1:-${ROOT}/docs-site}")
cd "${ROOT}"
python3 tests/checkout.py >/dev/null
if [[ ! -x ${VENV}/bin/antsibull-docs ]]; then
  python3 -m venv "${VENV}"
  "${VENV}/bin/pip" install -q --disable-pip-version-check 'antsibull-docs>=2.16,<3' 'ansible-core>=2.16,<2.22'
fi
rm -rf "${OUT}"
mkdir -p "${OUT}"
export ANSIBLE_COLLECTIONS_PATH=${ROOT}/collections PATH=${VENV}/bin:${PATH}
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir "${OUT}" \
  --project ktune.inference --title "ktune.inference" ktune.inference >/dev/null
pip install -q --disable-pip-version-check -r "${OUT}/requirements.txt"
# Cross-references: only Ansible's own docs are linked (Python's and Jinja's inventories are not
# needed). Offline, Sphinx falls back on an inventory of the few labels the pages use
# (tests/fixtures/docs/ansible-devel-labels.txt), so the build never needs the network.
cat >>"${OUT}/conf.py" <<'CONF'

intersphinx_mapping = {
    'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', (None, '../ansible_devel.inv')),
}
intersphinx_timeout = 10
CONF
python3 - "${ROOT}/tests/fixtures/docs/ansible-devel-labels.txt" "${OUT}/ansible_devel.inv" <<'PY'
import sys
import zlib
lines = [line for line in open(sys.argv[1]).read().splitlines() if line and not line.startswith("#")]
header = "# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n" \
         "# The remainder of this file is compressed using zlib.\n"
with open(sys.argv[2], "wb") as inventory:
    inventory.write(header.encode() + zlib.compress(("\n".join(lines) + "\n").encode()))
PY
# build.sh: antsibull-docs collection --fail-on-error, then sphinx-build -W --keep-going.
bash "${OUT}/build.sh"
echo "docs site: ${OUT}/build/html/index.html"
