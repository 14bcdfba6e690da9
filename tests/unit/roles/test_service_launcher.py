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


def render(template, **instance):
    import jinja2
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "roles/ktransformers_service/templates")),
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    base = {"name": "r1", "backend": "legacy", "port": 10002, "health_url": "http://127.0.0.1:10002/v1/models",
            "command": "/opt/kt/bin/ktransformers --port 10002", "credentials_file": "/etc/ktransformers/r1.credentials",
            "api_key": KEY, "environment": {}}
    base.update(instance)
    return environment.get_template(template).render(ktransformers_service_instance=base,
                                                     ktransformers_service_use_numa=False)


def test_environment_values_live_in_the_root_only_credentials_file_not_the_env_file():
    """Issue 21, item 4: the .env file is 0644 and shown by --diff; the credentials file is 0600 and no_log."""
    token = "hf_canary_token_0123456789"
    env_file = render("instance.env.j2", environment={"HF_TOKEN": token})
    credentials = render("instance.credentials.j2", environment={"HF_TOKEN": token})
    assert token not in env_file and KEY not in env_file
    assert 'HF_TOKEN="%s"\n' % token in credentials and "KTUNE_API_KEY=%s\n" % KEY in credentials
