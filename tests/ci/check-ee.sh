#!/usr/bin/env bash
# Checks the execution environment definition without building an image (no registry here):
# ansible-builder create turns ee/execution-environment.yml into a build context, the
# context's collection install step is replayed from the context's _build folder (where the
# Containerfile runs it), and ansible-builder introspect on the installed collections finds
# the requirements that meta/execution-environment.yml declares.
#   bash tests/ci/check-ee.sh ktune-inference-X.Y.Z.tar.gz   (built at the checkout's root)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARBALL=$(realpath "$1")
DEFINITION=${ROOT}/ee/execution-environment.yml
[[ $(dirname "${TARBALL}") == "${ROOT}" ]] || { echo "${TARBALL}: build it at ${ROOT}, the definition copies it from there" >&2; exit 1; }
version=$(sed -n 's/^version: *//p' "${ROOT}/galaxy.yml")
grep -q "name: collections/ktune-inference-${version}.tar.gz" "${DEFINITION}" ||
  { echo "${DEFINITION}: the galaxy requirement must name ktune-inference-${version}.tar.gz (galaxy.yml's version)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
ansible-builder create -f "${DEFINITION}" -c "${work}/context" --output-filename Containerfile >/dev/null
grep -q '^COPY _build /build$' "${work}/context/Containerfile"
install_step=$(sed -n 's/^RUN \(ANSIBLE_GALAXY_DISABLE_GPG_VERIFY=1 ansible-galaxy collection install .*\)/\1/p' "${work}/context/Containerfile")
[[ -n ${install_step} ]] || { echo "no ansible-galaxy collection install step in the Containerfile" >&2; exit 1; }
install_step=${install_step//\$ANSIBLE_GALAXY_CLI_COLLECTION_OPTS/}
install_step=${install_step//\/usr\/share\/ansible\/collections/${work}/installed}
(cd "${work}/context/_build" && ANSIBLE_COLLECTIONS_PATH=${work}/installed eval "${install_step}")
test -f "${work}/installed/ansible_collections/ktune/inference/MANIFEST.json"
introspected=$(ansible-builder introspect "${work}/installed")
# (introspect leaves out PyYAML, which every base image has, so the system list is what shows)
grep -q 'openssh-client \[platform:dpkg\]  # from collection ktune.inference' <<<"${introspected}" ||
  { echo "ansible-builder introspect does not find meta/ee-bindep.txt:" >&2; echo "${introspected}" >&2; exit 1; }
echo "ee/execution-environment.yml: the context installs $(basename "${TARBALL}") and its requirements"
