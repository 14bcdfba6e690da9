"""Transparent hugepages on the converged hosts: amd-nps2 asks for never (its THP file is the
fixture's, bind-mounted over the kernel's), the others leave it unset and are left alone."""

CONF = "/etc/tmpfiles.d/ktune-transparent-hugepage.conf"
ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"
ASKS = "amd-nps2"  # the one host with ktune_transparent_hugepage (never) in molecule.yml


def test_each_host_runs_and_keeps_what_it_asks_for(host):
    conf = host.file(CONF)
    if host.backend.get_hostname() != ASKS:
        assert not conf.exists  # unset: nothing written, the kernel's file not touched
        return
    assert host.file(ENABLED).content_string.split() == ["never"]  # the fixture file holds what tune wrote
    assert (conf.user, conf.group, conf.mode) == ("root", "root", 0o644)
    assert conf.content_string.splitlines()[-1] == "w %s - - - - never" % ENABLED


def test_systemd_tmpfiles_restores_the_mode_as_at_boot(host):
    """Upstream is the judge: the container's own systemd-tmpfiles applies the boot line."""
    if host.backend.get_hostname() != ASKS:
        assert "transparent_hugepage" not in host.check_output("systemd-tmpfiles --cat-config")
        return
    # A short word first: the fixture is a plain file and tmpfiles' w does not truncate (sysfs needs no truncation).
    host.run_expect([0], "echo x > %s && systemd-tmpfiles --create %s" % (ENABLED, CONF))
    assert host.file(ENABLED).content_string.split() == ["never"]
