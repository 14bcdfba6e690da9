"""Issue 21, item 5: hostile kernel parameter values thrown at the sysctl.d renderer
(plugins/module_utils/sysctl.py: normalize_value, render_file, used by the sysctl_settings
module and the sysctl_file_content filter); every file it renders is then applied by both real
consumers, and each rendered line must stay one setting with its value unchanged.

Neither consumer has a dry run, so each applies the file inside an unprivileged user and mount
namespace (unshare -rm) where a scratch tree is bind-mounted over /proc/sys: the real parsers
(procps' sysctl -p FILE, systemd-sysctl FILE) write into scratch files, never into the kernel.
The tree holds one file per wanted name and decoys (kernel.core_pattern, kernel.modprobe) that
a second setting smuggled into a value would reach.
"""

import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, event, example, given, settings, strategies as st

from hostile_text import hostile_text
from ansible_collections.ktune.inference.plugins.module_utils import sysctl

PROCPS_SYSCTL = "/usr/sbin/sysctl"  # Debian package procps
SYSTEMD_SYSCTL = "/lib/systemd/systemd-sysctl"  # Debian package systemd
CONSUMERS = {"procps": [PROCPS_SYSCTL, "-p"], "systemd-sysctl": [SYSTEMD_SYSCTL]}
DECOYS = {"kernel/core_pattern": "core\n", "kernel/modprobe": "/sbin/modprobe\n"}
# Real /proc/sys files need no truncation and systemd-sysctl does not ask for it: start empty.
UNSET = ""
# Each example runs both consumers in a namespace: kept modest (CI has two cores).
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def apply_with(consumer, text, names, tmp_path):
    """{path under /proc/sys: content} after CONSUMER applied TEXT over a scratch /proc/sys."""
    for program in (PROCPS_SYSCTL, SYSTEMD_SYSCTL, shutil.which("unshare")):
        assert program and os.access(program, os.X_OK), "missing %s: apt-get install procps systemd util-linux" % program
    tree = tmp_path / consumer / "sys"
    shutil.rmtree(str(tree.parent), ignore_errors=True)
    files = dict(DECOYS, **{name.replace(".", "/"): UNSET for name in names})
    for relative, content in files.items():
        (tree / relative).parent.mkdir(parents=True, exist_ok=True)
        (tree / relative).write_text(content)
    conf = tree.parent / "90-ktune.conf"
    conf.write_bytes(text.encode("utf-8", "surrogatepass"))
    done = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount --bind "$1" /proc/sys && shift && exec "$@"', "sh",
                           str(tree)] + CONSUMERS[consumer] + [str(conf)], capture_output=True, text=True, check=False)
    assert "mount" not in done.stderr, "cannot bind-mount over /proc/sys in a user namespace: %s" % done.stderr
    found = {}
    for folder, _dirs, names_here in os.walk(str(tree)):
        for name in names_here:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, str(tree))] = open(path, encoding="utf-8", errors="surrogateescape").read()
    return done.returncode, found


def rendered(settings_):
    """The file ktune persists for SETTINGS, or None when it refuses them (before anything is written)."""
    try:
        entries = [dict(name=sysctl.validate_name(name), wanted=sysctl.normalize_value(name, value))
                   for name, value in sorted(settings_.items())]
    except sysctl.SysctlError:
        return None, None
    return sysctl.render_file(entries), {entry["name"]: entry["wanted"] for entry in entries}


def assert_each_line_is_one_setting(text, wanted, tmp_path):
    for consumer in CONSUMERS:
        returncode, found = apply_with(consumer, text, wanted, tmp_path)
        assert returncode == 0, (consumer, found)
        expected = dict(DECOYS, **{name.replace(".", "/"): value for name, value in wanted.items()})
        # procps writes the value alone, systemd-sysctl with a newline: the kernel reads both alike.
        assert {path: content.rstrip("\n") for path, content in found.items()} == {
            path: content.rstrip("\n") for path, content in expected.items()}, consumer


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_the_sysctl_consumers_are_the_judges(consumer, tmp_path):
    """Both consumers set a wanted value, skip a missing key behind '-', and systemd-sysctl ends a
    line at NUL: a raw NUL in a value would persist a second setting (what normalize_value refuses)."""
    text = sysctl.HEADER + "-kernel.numa_balancing = 0\n-vm.not_in_this_kernel = 1\n"
    returncode, found = apply_with(consumer, text, ["kernel.numa_balancing"], tmp_path)
    assert found["kernel/numa_balancing"].rstrip("\n") == "0"
    assert "vm/not_in_this_kernel" not in found
    smuggled = sysctl.HEADER + "-kernel.numa_balancing = 0\x00kernel.core_pattern=|/tmp/x\n"
    returncode, found = apply_with(consumer, smuggled, ["kernel.numa_balancing"], tmp_path)
    if consumer == "systemd-sysctl":
        assert returncode == 0 and found["kernel/core_pattern"].rstrip("\n") == "|/tmp/x"
    else:
        assert found["kernel/core_pattern"] == DECOYS["kernel/core_pattern"]


def test_a_nul_or_control_character_in_a_value_is_refused_naming_the_parameter():
    for value in ("0\x00kernel.core_pattern=|/tmp/x", "0\x01", "1\x1b[31m", "0\u202e", "0\ud800"):
        with pytest.raises(sysctl.SysctlError, match="kernel.numa_balancing: value must be printable"):
            sysctl.normalize_value("kernel.numa_balancing", value)


NAMES = st.one_of(hostile_text(min_size=1), st.from_regex(r"\A(kernel|vm|net\.ipv4)\.[a-z_][a-z0-9_-]{0,12}\Z"))
VALUES = st.one_of(hostile_text(min_size=1), st.integers(min_value=-2 ** 63, max_value=2 ** 64),
                   st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=16))


@EXAMPLES
@given(settings_=st.dictionaries(NAMES, VALUES, min_size=1, max_size=3))
@example(settings_={"kernel.numa_balancing": "0\x00kernel.core_pattern=|/tmp/x"})
@example(settings_={"kernel.numa_balancing": "0\nkernel.core_pattern=|/tmp/x"})
@example(settings_={"kernel.numa_balancing": "0\rkernel.core_pattern=|/tmp/x"})
@example(settings_={"kernel.numa_balancing": "0\u2028kernel.core_pattern=|/tmp/x"})
@example(settings_={"net.ipv4.tcp_rmem": "4096\t87380   6291456 # comment ; x = y"})
@example(settings_={"vm.x": " %h ", "kernel.numa_balancing\n-kernel.core_pattern": 1})
def test_every_rendered_line_is_one_setting_for_procps_and_systemd_sysctl(settings_, tmp_path):
    text, wanted = rendered(settings_)
    event("refused" if text is None else "accepted: applied by both")
    if text is None:
        return
    assert_each_line_is_one_setting(text, wanted, tmp_path)


def test_ordinary_values_are_accepted_and_applied(tmp_path):
    """The property above is not vacuous: multi-word and symbolic values are kept and applied."""
    text, wanted = rendered({"net.ipv4.tcp_rmem": "4096 87380 6291456", "kernel.numa_balancing": 0,
                             "kernel.hostname": "inference-01", "vm.x": "a # b = c"})
    assert wanted["net.ipv4.tcp_rmem"] == "4096 87380 6291456"
    assert_each_line_is_one_setting(text, wanted, tmp_path)
