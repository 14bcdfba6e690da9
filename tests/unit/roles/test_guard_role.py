"""The guard role: one truth for its settings, and its systemd unit judged by systemd-analyze.

Real ansible-playbook runs of the role: tests/integration/test_guard_playbook.py.
"""

import shutil
import subprocess
from pathlib import Path

import jinja2
import yaml

from ansible_collections.ktune.inference.plugins.module_utils import guard

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "guard"


def specs():
    return yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]


def test_defaults_equal_the_argument_specs():
    options = specs()["main"]["options"]
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    assert set(defaults) == set(options)
    for name, option in options.items():
        assert defaults[name] == option.get("default"), name
    assert specs()["validate"]["options"] == options


def test_state_machine_defaults_are_the_modules():
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    for name, (default, kind, _low, _high, _help) in guard.SETTINGS.items():
        assert defaults["ktune_guard_" + name] == default, name
        assert specs()["main"]["options"]["ktune_guard_" + name]["type"] == kind, name


def test_the_daemon_ships_every_module_it_imports():
    shared = yaml.safe_load((ROLE / "vars/main.yml").read_text())["guard_shared_modules"]
    daemon = (ROLE / "files/ktune_guard.py").read_text()
    for name in ("guard", "guard_token", "host_telemetry", "http_body", "ipmi", "openai_stream", "prom_text",
                 "secret_file", "sysfs"):
        assert "    import %s\n" % name in daemon and name + ".py" in shared
    assert "cpulist.py" in shared  # host_telemetry imports it


def render_unit(textfile_dir="/var/lib/prometheus/node-exporter", python="/usr/bin/python3",
                unit="ktune-guard.service", address="127.0.0.1", port=9441):
    variables = yaml.safe_load((ROLE / "vars/main.yml").read_text())
    variables.update(ansible_managed="Ansible managed", ktune_guard_python=python, guard_textfile_dir=textfile_dir,
                     ktune_guard_listen_address=address, ktune_guard_listen_port=port)
    template = jinja2.Template((ROLE / "templates" / (unit + ".j2")).read_text(), keep_trailing_newline=True)
    return template.render(**variables)


def test_the_socket_holds_the_readiness_address_and_the_service_needs_it():
    assert "ListenStream=127.0.0.1:9441\n" in render_unit(unit="ktune-guard.socket")
    assert "ListenStream=[::1]:9442\n" in render_unit(unit="ktune-guard.socket", address="::1", port=9442)
    service = render_unit()
    assert "Requires=ktune-guard.socket\n" in service and "After=network-online.target ktune-guard.socket\n" in service


def test_unit_passes_systemd_analyze_verify(tmp_path):
    """tests/run-all.sh installs Debian's systemd when systemd-analyze is missing."""
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: apt-get install systemd"
    unit = tmp_path / "ktune-guard.service"
    unit.write_text(render_unit())
    socket_unit = tmp_path / "ktune-guard.socket"
    socket_unit.write_text(render_unit(unit="ktune-guard.socket", address="::1"))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit), str(socket_unit)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "ktune-guard." not in done.stderr, done.stderr
    # The verifier is the judge: a misspelt directive makes it complain.
    unit.write_text(render_unit().replace("ProtectSystem=strict", "ProtectSystem=strikt"))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit), str(socket_unit)],
                          capture_output=True, text=True, check=False)
    line = render_unit().splitlines().index("ProtectSystem=strict") + 1
    assert "ktune-guard.service:%d: Failed to parse protect system value" % line in done.stderr, done.stderr


def section(unit_text, name):
    """The Key=value lines of one [section] of a unit."""
    lines, inside = [], False
    for line in unit_text.splitlines():
        if line.startswith("["):
            inside = line == "[%s]" % name
        elif inside and line and not line.startswith("#"):
            lines.append(line)
    return lines


def test_systemd_never_lets_the_port_go_while_the_guard_fails_or_restarts():
    """A service past its start limit fails its socket, and so does a socket triggered past its
    trigger limit (20 connections in 2 s while the guard restarts): the port would be free."""
    assert "StartLimitIntervalSec=0" in section(render_unit(), "Unit")
    assert "Restart=on-failure" in section(render_unit(), "Service")
    assert "TriggerLimitIntervalSec=0" in section(render_unit(unit="ktune-guard.socket"), "Socket")


def test_unit_is_hardened():
    unit = render_unit()
    for line in ("ProtectSystem=strict", "NoNewPrivileges=true", "StateDirectory=ktune-guard", "ProtectHome=true",
                 "PrivateTmp=true", "DevicePolicy=closed", "DeviceAllow=char-ipmidev rw",
                 "ReadWritePaths=/var/lib/prometheus/node-exporter"):
        assert line + "\n" in unit
