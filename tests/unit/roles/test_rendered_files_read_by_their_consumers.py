"""Issue 21, item 5: hostile values thrown at the service role's validation and, where it accepts
them, at the files it renders; each file is then read by the program that consumes it, and the
values must come back unchanged.

- The environment and credentials files: systemd's own environment-file parser. Without systemd
  as PID 1 its EnvironmentFile= reading cannot run here; systemd-environment-d-generator (same
  package, same systemd release) reads environment.d files with the same parser
  (parse_env_file_internal in systemd's env-file.c) and prints what it read. It also expands $VAR,
  which the role refuses in values anyway.
- The unit: systemd-analyze verify, and systemd's own line syntax (one Key=value per line).
- YAML values added to the legacy config.yaml: yaml.safe_load.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import yaml
from hypothesis import HealthCheck, event, example, given, settings, strategies as st

from hostile_text import hostile_text
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import instance_problems, resolve_instances
from ansible_collections.ktune.inference.plugins.module_utils.router import router_plan
from ansible_collections.ktune.inference.plugins.module_utils.service_home import yaml_scalar

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "ktransformers_service"
ENV_GENERATOR = "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator"
# Each example runs a program: kept modest (CI has two cores).
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TOPOLOGY = "epyc-2s-nps2"


def values():
    """Hostile text, or plain printable text (which the role mostly accepts: the round trip is tried)."""
    plain = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")), min_size=1, max_size=12)
    return st.one_of(hostile_text(min_size=1), plain)


def hostile_path():
    return values().map(lambda text: "/srv/" + text)


def render(template, **variables):
    values = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    values.update(yaml.safe_load((ROLE / "vars/main.yml").read_text()))
    values.update(ansible_managed="Ansible managed", **variables)
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return environment.get_template(template).render(**values)


def systemd_reads_env_file(text, tmp_path):
    """{name: value} as systemd's environment-file parser reads TEXT (see the module docstring)."""
    assert os.access(ENV_GENERATOR, os.X_OK), "systemd's environment.d generator missing: apt-get install systemd"
    config = tmp_path / "config"
    shutil.rmtree(str(config), ignore_errors=True)
    (config / "environment.d").mkdir(parents=True)
    (config / "environment.d" / "50-ktune.conf").write_bytes(text.encode("utf-8"))
    done = subprocess.run([ENV_GENERATOR], capture_output=True, check=False,
                          env={"XDG_CONFIG_HOME": str(config), "XDG_CONFIG_DIRS": str(tmp_path / "none"),
                               "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert done.returncode == 0, done.stderr
    found = {}
    for line in done.stdout.decode("utf-8").splitlines():
        name, _equals, value = line.partition("=")
        # It prints a value with spaces or shell characters in double quotes, C-escaped.
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = C_ESCAPE.sub(_unescaped, value[1:-1])
        found[name] = value
    return found


C_ESCAPE = re.compile(r"\\([0-7]{3}|x[0-9a-fA-F]{2}|.)", re.S)
C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescaped(match):
    code = match.group(1)
    if len(code) == 3 and code[0] != "x":
        return chr(int(code, 8))
    if len(code) == 3:
        return chr(int(code[1:], 16))
    return C_ESCAPES.get(code, code)


def test_the_env_reader_is_systemds(tmp_path):
    """The reader is systemd's: quotes only open a value, a backslash escapes inside them, a line
    break inside quotes stays in the value, and a control character survives."""
    read = systemd_reads_env_file('A="one two"\nB=x\nC="x\ny"\nD=a"b\nE="q\\"x\tz\x01"\nF=a\\b\n', tmp_path)
    assert [read[name] for name in "ABCDEF"] == ["one two", "x", "x\ny", 'a"b', 'q"x\tz\x01', "ab"]


def instance_with(**fields):
    instance = {"name": "s1", "backend": "sglang", "model_path": "/srv/models/V3", "kt_weight_path": "/srv/models/V3-kt",
                "port": 30000}
    instance.update(fields)
    return instance


def accepted(numa, instance, settings_=None):
    """The resolved instance, or None when the role refuses it (before anything is written)."""
    if instance_problems([instance], numa(TOPOLOGY), settings_):
        return None
    return resolve_instances([instance], numa(TOPOLOGY), settings_)[0]


@EXAMPLES
@given(value=values(), key=st.one_of(st.none(), values(), st.text("abcXYZ0189._~+/=:-", min_size=8, max_size=40)))
@example(value="hf_abc def#ghi'jkl", key="sk-0123456789abcdef")
@example(value="x\nKTUNE_COMMAND=/bin/sh", key=None)
def test_environment_values_and_the_key_read_back_unchanged_or_are_refused(numa, tmp_path, value, key):
    resolved = accepted(numa, instance_with(environment={"HF_TOKEN": value}, api_key=key))
    event("refused" if resolved is None else "accepted: read back")
    if resolved is None:
        return  # refused, naming the field, before anything is written
    read = systemd_reads_env_file(render("instance.credentials.j2", ktransformers_service_instance=resolved),
                                  tmp_path)
    # The generator drops an empty assignment (EnvironmentFile= keeps it, empty): missing reads as "".
    assert read.get("HF_TOKEN", "") == value
    assert read.get("KTUNE_API_KEY", "") == (key or "")
    assert "KTUNE_COMMAND" not in read


def test_ordinary_environment_values_are_accepted(numa, tmp_path):
    """The property above is not vacuous: tokens with spaces, # and quotes of the other kind pass."""
    for value in ("hf_abc def#ghi'jkl", "10", "/opt/cache dir", "\u00e9t\u00e9"):
        resolved = accepted(numa, instance_with(environment={"HF_TOKEN": value}))
        assert resolved is not None, value
        assert systemd_reads_env_file(render("instance.credentials.j2", ktransformers_service_instance=resolved),
                                      tmp_path)["HF_TOKEN"] == value


@EXAMPLES
@given(model_path=hostile_path(), weights=hostile_path())
@example(model_path="/srv/models/V3 --host 0.0.0.0", weights="/srv/k")
@example(model_path="/srv/m\nUSE_NUMA=0", weights="/srv/k")
def test_the_command_line_systemd_reads_from_the_env_file_is_the_argv(numa, tmp_path, model_path, weights):
    """ExecStart=... $KTUNE_COMMAND: systemd splits the variable at whitespace into the words."""
    resolved = accepted(numa, instance_with(model_path=model_path, kt_weight_path=weights))
    event("refused" if resolved is None else "accepted: read back")
    if resolved is None:
        return  # refused, naming the field, before anything is written
    text = render("instance.env.j2", ktransformers_service_instance=resolved, ktransformers_service_use_numa=True)
    read = systemd_reads_env_file(text, tmp_path)
    assert read["KTUNE_COMMAND"].split() == resolved["argv"]
    assert (read["USE_NUMA"], read["KTUNE_INSTANCE"], read["KTUNE_PORT"]) == ("1", "s1", "30000")


def unit_directives(text):
    """[(section, key, value)] as systemd's unit syntax reads TEXT (no continuation lines are written)."""
    section, found = None, []
    for line in text.splitlines():
        if not line.strip() or line.lstrip()[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _equals, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def systemd_analyze_verify(text, tmp_path):
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: apt-get install systemd"
    unit = tmp_path / "ktransformers@r1.service"
    unit.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          check=False)
    return done.returncode, [line for line in done.stderr.splitlines() if "ktransformers@" in line]


def render_unit(home, paths):
    # The launcher is installed by the role; verify needs an executable, so a real one stands in.
    return render("ktransformers@.service.j2", ktune_service_home=home, ktune_service_read_write_paths=paths,
                  ktransformers_service_launcher="/bin/true")


def test_the_unit_verifier_is_the_judge(tmp_path):
    assert systemd_analyze_verify(render_unit("/var/lib/ktransformers", ["/srv/cache"]), tmp_path) == (0, [])
    assert systemd_analyze_verify(render_unit("/var/lib/kt x", []), tmp_path)[1]  # a second word
    assert systemd_analyze_verify(render_unit("/var/lib/ktransformers", ["srv"]), tmp_path)[1]  # not absolute


@EXAMPLES
@given(home=hostile_path(), paths=st.lists(hostile_path(), max_size=2))
@example(home="/var/lib/kt%h", paths=[])
@example(home="/var/lib/kt\nExecStartPre=/bin/sh -c id", paths=[])
@example(home="/var/lib/ktransformers", paths=["/srv/a /etc"])
@example(home="/srv/../", paths=[])
def test_paths_in_the_unit_pass_systemd_analyze_verify_and_stay_one_value(numa, tmp_path, home, paths):
    refused = instance_problems([instance_with()], numa(TOPOLOGY), {"home": home, "read_write_paths": paths})
    event("refused" if refused else "accepted: verified")
    if refused:
        return  # refused, naming the variable, before anything is written
    text = render_unit(home, paths)
    assert systemd_analyze_verify(text, tmp_path) == (0, [])
    expected = render_unit("/HOME", ["/RW%d" % index for index in range(len(paths))])
    assert [(section, key) for section, key, _value in unit_directives(text)] == \
        [(section, key) for section, key, _value in unit_directives(expected)]
    directives = dict(((section, key), value) for section, key, value in unit_directives(text)
                      if key in ("WorkingDirectory", "ReadWritePaths"))
    assert directives[("Service", "WorkingDirectory")] == home
    assert directives[("Service", "ReadWritePaths")].split(" ") == [home] + paths


def test_ordinary_paths_are_accepted(numa):
    assert not instance_problems([instance_with()], numa(TOPOLOGY),
                                 {"home": "/var/lib/ktransformers", "read_write_paths": ["/srv/cache", "/mnt/ssd-1"]})


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(hostile_text(), st.text(), st.integers(), st.booleans(), st.none(),
                       st.floats(allow_nan=False)))
@example(value="\x85")
@example(value="\u2028")
@example(value="\ud800")
@example(value="\U0001f600")
@example(value="\ufeff")
@example(value=1e-05)
def test_a_yaml_scalar_reads_back_as_the_same_value(value):
    text = "kvc2:\n  disk_path: %s\n" % yaml_scalar(value)
    text.encode("utf-8")  # the file is written as UTF-8: no lone surrogate may remain
    assert yaml.safe_load(text) == {"kvc2": {"disk_path": value}}
    assert "\n" not in yaml_scalar(value)


# --- the router of a sharded entry (issue 25) -----------------------------------------------------

def router_verify(text, tmp_path):
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: apt-get install systemd"
    unit = tmp_path / "ktransformers-router@k2.service"
    unit.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          check=False)
    return done.returncode, [line for line in done.stderr.splitlines() if "ktransformers-router@" in line]


def router_of(numa, **extra):
    entry = {"name": "k2", "backend": "sglang", "model_path": "/srv/models/k2", "kt_weight_path": "/srv/models/k2-cpu",
             "replicas": "per_numa_node", "port": 30000}
    entry.update(extra)
    return router_plan(resolve_instances([entry], numa(TOPOLOGY)))[0]


def test_the_router_unit_passes_systemd_analyze_verify(tmp_path):
    # The router's python is installed by the role; verify needs an executable, so a real one stands in.
    assert router_verify(render("ktransformers-router@.service.j2", ktune_service_router_python="/bin/true"),
                         tmp_path) == (0, [])
    assert router_verify(render("ktransformers-router@.service.j2", ktune_service_router_python="bin/true"),
                         tmp_path)[1]  # the judge can refuse: not absolute


def test_the_router_command_systemd_reads_from_its_env_file_is_the_argv(numa, tmp_path):
    router = router_of(numa)
    read = systemd_reads_env_file(render("router.env.j2", ktransformers_service_router=router), tmp_path)
    assert read["KTUNE_ROUTER_COMMAND"].split() == router["argv"]
    assert (read["KTUNE_ROUTER_PORT"], read["KTUNE_ROUTER_HEALTH_URL"]) == ("30000", "http://127.0.0.1:30000/health")
    unit = dict(((section, key), value) for section, key, value in unit_directives(
        render("ktransformers-router@.service.j2", ktune_service_router_python="/opt/smg/bin/python")))
    assert unit[("Service", "ExecStart")] == "/opt/smg/bin/python -m smg $KTUNE_ROUTER_COMMAND"
    assert unit[("Service", "EnvironmentFile")] == "/etc/ktransformers/router-%i.env"
    assert router["env_file"] == "/etc/ktransformers/router-k2.env"
