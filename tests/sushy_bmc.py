"""Serve sushy-tools' Redfish emulator (OpenStack's, not ours) for the tests that judge bios_layout
against a Redfish server nobody here wrote.

sushy-tools' routes, JSON templates, HTTP basic authentication (htpasswd, bcrypt) and reset action
are used as released. Its fake systems driver has no BIOS (only the libvirt driver has one); the
subclass below stores BIOS attributes the way its libvirt driver does: PATCH on BIOS/Settings
updates the stored attributes, which BIOS and BIOS/Settings both show.

  KTUNE_SUSHY_PASSWORD=... python tests/sushy_bmc.py PORT_FILE HTPASSWD_FILE BIOS_JSON
writes HTPASSWD_FILE for the user ktune (bcrypt, as sushy-tools reads it), then the port it
listens on (127.0.0.1) to PORT_FILE once it serves.
"""

import json
import os
import sys

import bcrypt

from sushy_tools.emulator import main as emulator
from sushy_tools.emulator.resources.systems import fakedriver
from werkzeug.serving import make_server

SYSTEM_UUID = "27946b59-9e44-4fa7-8e91-f3527a1ef094"


class BiosFakeDriver(fakedriver.FakeDriver):
    def get_bios(self, identity):
        system = self._get(identity)
        return dict(system.get("bios") or self._config["KTUNE_BIOS"])

    def set_bios(self, identity, attributes):
        bios = self.get_bios(identity)
        bios.update(attributes)
        self._update(identity, bios=bios)

    def reset_bios(self, identity):
        self._update(identity, bios=dict(self._config["KTUNE_BIOS"]))


def main(port_file, htpasswd, bios_json):
    with open(bios_json) as stream:
        bios = json.load(stream)
    with open(htpasswd, "w") as stream:
        password = os.environ["KTUNE_SUSHY_PASSWORD"].encode()
        stream.write("ktune:%s\n" % bcrypt.hashpw(password, bcrypt.gensalt(4)).decode())
    emulator.app.configure(extra_config={
        "SUSHY_EMULATOR_FAKE_DRIVER": True, "SUSHY_EMULATOR_AUTH_FILE": htpasswd,
        "SUSHY_EMULATOR_FAKE_SYSTEMS": [{"uuid": SYSTEM_UUID, "name": "gpu-a", "power_state": "On",
                                         "external_notifier": False, "nics": []}],
        "KTUNE_BIOS": bios})
    fakedriver.FakeDriver = BiosFakeDriver  # what emulator.app.systems builds on first use
    server = make_server("127.0.0.1", 0, emulator.app, threaded=True)
    with open(port_file + ".tmp", "w") as stream:
        stream.write(str(server.server_port))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:4])
