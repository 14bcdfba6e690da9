"""plugin_utils/fix_hints: the audit's tune command placeholders become the real playbook, inventory
source(s) and host, quoted for the shell."""

import shlex

import pytest

from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import TUNE
from ansible_collections.ktune.inference.plugins.plugin_utils.fix_hints import (
    host_fixes,
    tune_command,
    with_copy_paste_fixes,
)


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "ktune"
    (root / "playbooks").mkdir(parents=True)
    (root / "galaxy.yml").write_text("namespace: ktune\n")
    (root / "inventories/production").mkdir(parents=True)
    return root


@pytest.fixture
def installed(tmp_path):
    root = tmp_path / "ansible_collections/ktune/inference"
    root.mkdir(parents=True)
    (root / "MANIFEST.json").write_text("{}")
    return root


def test_from_a_checkout_the_paths_as_typed_there(checkout):
    assert tune_command("gpu-1", [str(checkout / "inventories/production")], cwd=str(checkout),
                        collection_root=str(checkout)) == \
        "ansible-playbook playbooks/tune.yml -i inventories/production --limit gpu-1"


def test_an_installed_collection_by_its_playbook_name(tmp_path, installed):
    work = tmp_path / "site"
    (work / "inv").mkdir(parents=True)
    elsewhere = tmp_path / "shared/hosts.yml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("{}")
    command = tune_command("gpu-2", [str(work / "inv"), str(elsewhere)], cwd=str(work), collection_root=str(installed))
    assert command == "ansible-playbook ktune.inference.tune -i inv -i %s --limit gpu-2" % elsewhere


def test_a_host_list_source_is_kept_as_written(installed, tmp_path):
    assert tune_command("10.0.0.5", ["10.0.0.5,10.0.0.6,"], cwd=str(tmp_path), collection_root=str(installed)) == \
        "ansible-playbook ktune.inference.tune -i 10.0.0.5,10.0.0.6, --limit 10.0.0.5"


@pytest.mark.parametrize("host", ["gpu 1", "a;touch /tmp/x", "$(reboot)", "it's"])
def test_every_word_is_quoted_for_the_shell(host, installed, tmp_path):
    command = tune_command(host, ["hosts.yml"], cwd=str(tmp_path), collection_root=str(installed))
    assert shlex.split(command) == ["ansible-playbook", "ktune.inference.tune", "-i", "hosts.yml", "--limit", host]


def test_only_the_placeholder_is_replaced():
    controls = [{"id": "a", "fix": TUNE + " --tags cpu_governor (or cpupower frequency-set -g performance)"},
                {"id": "b", "fix": "set the BIOS option NPS2"}, {"id": "c", "fix": ""}, {"id": "d"}]
    filled = with_copy_paste_fixes(controls, "ansible-playbook X -i inv --limit h")
    assert [item.get("fix") for item in filled] == [
        "ansible-playbook X -i inv --limit h --tags cpu_governor (or cpupower frequency-set -g performance)",
        "set the BIOS option NPS2", "", None]
    assert controls[0]["fix"].startswith(TUNE)  # the input is not changed


def test_host_fixes_needs_the_host_and_its_inventory(checkout):
    controls = [{"id": "a", "fix": TUNE}]
    assert host_fixes(controls, {}) == controls
    assert host_fixes(controls, None) == controls
    host_vars = {"inventory_hostname": "gpu-1", "ansible_inventory_sources": [str(checkout / "inventories/production")]}
    assert host_fixes(controls, host_vars, cwd=str(checkout), collection_root=str(checkout))[0]["fix"] == \
        "ansible-playbook playbooks/tune.yml -i inventories/production --limit gpu-1"


def test_the_bios_placeholder_becomes_the_bios_playbook(checkout, installed, tmp_path):
    from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import BIOS_REBOOT
    controls = [{"id": "bios.pending", "fix": "restart the host: " + BIOS_REBOOT}]
    tune = tune_command("gpu 1", [str(checkout / "inventories/production")], cwd=str(checkout),
                        collection_root=str(checkout))
    assert with_copy_paste_fixes(controls, tune)[0]["fix"] == (
        "restart the host: ansible-playbook playbooks/bios.yml -i inventories/production --limit 'gpu 1' "
        "-e ktune_bios_reboot=true")
    tune = tune_command("gpu-2", ["hosts.yml"], cwd=str(tmp_path), collection_root=str(installed))
    assert with_copy_paste_fixes(controls, tune)[0]["fix"] == (
        "restart the host: ansible-playbook ktune.inference.bios -i hosts.yml --limit gpu-2 -e ktune_bios_reboot=true")
