"""The ktransformers_service launcher (roles/ktransformers_service/files/ktransformers-exec) hands
the API key to the server without putting it on any command line (issue 21, item 4): every
command it runs goes through a shim that records its argv, as ps would show it."""

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
LAUNCHER = ROOT / "roles/ktransformers_service/files/ktransformers-exec"
KEY = "canary-key-0123456789abcdef"
RECORDED = ("awk", "mv", "printf", "cat", "sed", "env", "echo", "cp", "tee", "head", "tr")


@pytest.fixture
def host(tmp_path):
    """HOME with a seeded config.yaml, a runtime directory, and shims recording every argv."""
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "argv.log"
    for name in RECORDED:
        real = shutil.which(name)
        if real is None:
            continue
        shim = shims / name
        shim.write_text('#!/bin/sh\nprintf "%%s\\n" "%s $*" >> %s\nexec %s "$@"\n' % (name, log, real))
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    home = tmp_path / "home"
    (home / ".ktransformers").mkdir(parents=True)
    (home / ".ktransformers/config.yaml").write_text("log:\n  level: info\nserver:\n  ip: 127.0.0.1\n  port: 10002\n")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    return {"shims": shims, "log": log, "home": home, "runtime": runtime}


def launch(host, backend, *command):
    env = {"PATH": "%s:/usr/bin:/bin" % host["shims"], "HOME": str(host["home"]), "KTUNE_API_KEY": KEY,
           "KTUNE_BACKEND": backend, "KTUNE_INSTANCE": "r1", "RUNTIME_DIRECTORY": str(host["runtime"])}
    return subprocess.run(["/bin/sh", str(LAUNCHER)] + list(command), env=env, capture_output=True, text=True,
                          check=False, timeout=30)


def test_the_legacy_key_reaches_config_yaml_and_no_command_line(host):
    done = launch(host, "legacy", "/bin/sh", "-c", 'printf "%s" "$KTUNE_API_KEY"')
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # the server itself never inherits the key
    config = yaml.safe_load((host["home"] / ".ktransformers/config.yaml").read_text())
    assert config == {"log": {"level": "info"}, "server": {"api_key": KEY, "ip": "127.0.0.1", "port": 10002}}
    assert oct((host["home"] / ".ktransformers/config.yaml").stat().st_mode & 0o777) == "0o600"
    recorded = host["log"].read_text()
    assert "awk" in recorded  # the shims did see the commands
    assert KEY not in recorded, recorded
    assert KEY not in done.stderr


def test_the_sglang_key_goes_to_a_private_config_file_not_the_command_line(host):
    done = launch(host, "sglang", "/bin/sh", "-c", 'printf "%s|" "$@" "$KTUNE_API_KEY"', "server")
    assert done.returncode == 0, done.stderr
    secrets = host["runtime"] / "sglang-secrets.yaml"
    assert done.stdout == "--config|%s||" % secrets
    assert secrets.read_text() == 'api-key: "%s"\n' % KEY
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    recorded = host["log"].read_text() if host["log"].exists() else ""
    assert KEY not in recorded and KEY not in done.stderr
