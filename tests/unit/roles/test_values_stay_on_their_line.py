"""Issue 21, item 5: a value written into another program's file stays one value on its line.

Python's `$` (and Jinja's `is match('...$')`, the same re module) also matches before a final
newline, so a pattern anchored with it passes "x\\n": a cron line split in two, a second line in
a unit or environment file. Every validation pattern anchors with \\Z; each role refuses such a
value, naming the variable, before anything is written.
"""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests/unit/roles"))
from role_vars import evaluate  # noqa: E402

from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import role_options  # noqa: E402
from ansible_collections.ktune.inference.plugins.plugin_utils.role_settings import settings_problems  # noqa: E402


def problems_of(role, **settings):
    """The role's own checks (plugins/plugin_utils/role_settings.py) of its defaults overlaid with settings."""
    values = dict((name, option.get("default")) for name, option in role_options(role).items())
    values.update(settings)
    return settings_problems(role, values)


# `is match(...$)`, `is search(...$)` (not a (?m) one), or a pattern variable ending in $ (a lineinfile regexp,
# applied line by line, is the one place where $ is meant).
YAML_DOLLAR = re.compile(r"""is (?:match|search)\('(?!\(\?m\))[^']*\$'\)|^\s*\w+_pattern: '[^']*\$'\s*$""", re.M)
PY_DOLLAR = re.compile(r"""re\.(?:compile|match|search)\(r?"[^"]*\$"[,)]""")
# Readers of host lines (already split at newlines) and lineinfile patterns: $ is a line end there.
LINE_PARSERS = {"plugins/module_utils/host_telemetry.py", "plugins/module_utils/ipmi.py",
                "plugins/module_utils/concerns.py", "roles/numa_env/vars/main.yml"}


def tracked(*patterns):
    """The collection's files matching the glob patterns (also under ansible-test, which has no .git)."""
    files = sorted(set(path.relative_to(ROOT).as_posix() for pattern in patterns for path in ROOT.glob(pattern)))
    assert files, patterns
    return [name for name in files if name not in LINE_PARSERS]


def test_no_validation_pattern_anchors_with_a_dollar():
    found = []
    for name in tracked("roles/**/*.yml", "playbooks/**/*.yml"):
        found += ["%s: %s" % (name, hit.strip()) for hit in YAML_DOLLAR.findall((ROOT / name).read_text())]
    for name in tracked("plugins/**/*.py"):
        found += ["%s: %s" % (name, hit) for hit in PY_DOLLAR.findall((ROOT / name).read_text())]
    assert found == []


def test_the_dollar_anchor_is_what_lets_a_newline_through():
    assert re.match(r"^[a-z.]+$", "ktransformers.service\n")
    assert not re.match(r"^[a-z.]+\Z", "ktransformers.service\n")


@pytest.mark.parametrize("variable, value, named", [
    ("ktune_drop_caches_skip_unit", "ktransformers.service\n", "ktune_drop_caches_skip_unit = "),
    ("ktune_drop_caches_skip_unit", "ktransformers.service\n* * * * * root /bin/sh -c id", "ktune_drop_caches_skip_unit = "),
    ("ktune_cron_service", "cron\n", "ktune_cron_service = "),
    ("ktune_procfs_root", "/proc\n", "ktune_procfs_root = "),
    ("ktune_drop_caches_minute", "17\n", "ktune_drop_caches_minute"),
])
def test_page_cache_refuses_a_value_that_would_split_the_cron_line(variable, value, named):
    problems = problems_of("page_cache", **{variable: value})
    assert [problem for problem in problems if named in problem], problems


@pytest.mark.parametrize("variable, value", [
    ("ktune_monitoring_python", "/usr/bin/python3\nExecStartPre=/bin/touch /tmp/pwned"),
    ("ktune_monitoring_python", "/usr/bin/python%h"),
    ("ktune_monitoring_node_exporter_args", ["--web.listen-address=0.0.0.0:9100 --web.config.file=/tmp/x"]),
    ("ktune_monitoring_node_exporter_args", ["--collector.textfile.directory=$(id)"]),
    ("ktune_monitoring_node_exporter_args", ["--x\"\nARGS=\"--web.listen-address=:1"]),
])
def test_monitoring_refuses_values_that_would_leave_their_unit_or_args_line(variable, value):
    problems = problems_of("monitoring", **{variable: value})
    assert [problem for problem in problems if problem.startswith(variable + " = ")], problems


def test_monitoring_takes_plain_node_exporter_words():
    words = ["--collector.disable-defaults", "--collector.systemd"]
    assert problems_of("monitoring", ktune_monitoring_node_exporter_args=words) == []


def test_node_exporter_listens_on_loopback_unless_told_otherwise():
    """Issue 21, item 8: node_exporter authenticates nobody, so its ARGS line names loopback by default."""
    decided = evaluate("monitoring", {"line": "monitoring_node_exporter_args_line"}, [
        {"ktune_monitoring_textfile_dir": "/var/lib/prometheus/node-exporter"},
        {"ktune_monitoring_textfile_dir": "/var/lib/prometheus/node-exporter",
         "ktune_monitoring_node_exporter_listen_address": "10.0.0.5:9100",
         "ktune_monitoring_node_exporter_web_config_file": "/etc/prometheus/web.yml"},
        {"ktune_monitoring_textfile_dir": "/var/lib/prometheus/node-exporter",
         "ktune_monitoring_node_exporter_listen_address": "0.0.0.0:9100\nARGS=x"},
        {"ktune_monitoring_textfile_dir": "/var/lib/prometheus/node-exporter",
         "ktune_monitoring_node_exporter_args": ["--web.listen-address=:9100"]},
    ])
    assert decided[0]["line"] == ('ARGS="--web.listen-address=127.0.0.1:9100 '
                                  '--collector.textfile.directory=/var/lib/prometheus/node-exporter"')
    assert decided[1]["line"] == ('ARGS="--web.listen-address=10.0.0.5:9100 --web.config.file=/etc/prometheus/web.yml '
                                  '--collector.textfile.directory=/var/lib/prometheus/node-exporter"')
    assert [p for p in problems_of("monitoring", ktune_monitoring_node_exporter_listen_address="0.0.0.0:9100\nARGS=x")
            if p.startswith("ktune_monitoring_node_exporter_listen_address = ")]
    assert [p for p in problems_of("monitoring", ktune_monitoring_node_exporter_args=["--web.listen-address=:9100"])
            if "have their own variables" in p]
