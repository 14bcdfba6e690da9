# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running collection's own version, on the controller: MANIFEST.json's in an installed
collection (ansible-galaxy writes it from galaxy.yml), galaxy.yml's in a source checkout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import yaml

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_version(collection_root=COLLECTION_ROOT):
    """The version string, or None when neither file names one."""
    manifest = os.path.join(collection_root, "MANIFEST.json")
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as handle:
            version = (json.load(handle).get("collection_info") or {}).get("version")
    else:
        galaxy = os.path.join(collection_root, "galaxy.yml")
        if not os.path.isfile(galaxy):
            return None
        with open(galaxy, encoding="utf-8") as handle:
            version = (yaml.safe_load(handle) or {}).get("version")
    return str(version) if version is not None else None
