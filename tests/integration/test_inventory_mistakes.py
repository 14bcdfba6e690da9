"""Inventory mistakes as an operator meets them: tune.yml stops before anything, in a few lines
that name the host, the list index, the instance, the field and the fix, without Ansible's
argument-spec dump."""

import json
import os
import sys

import pytest

import topologies
from playbook_run import recap, run_playbook

GOOD = {"name": "one", "model_path": "/models/one", "gguf_path": "/models/one-gguf"}
KIMI = {"name": "kimi", "backend": "sglang", "model_path": "/models/kimi", "kt_weight_path": "/models/kimi-cpu"}


@pytest.fixture(scope="module")
def tune(tmp_path_factory):
    base = tmp_path_factory.mktemp("mistakes")
    topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], base / "tree")

    def run(host_vars, *args, playbook="tune.yml", group_vars=None):
        inventory = {"all": {"vars": dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                           "ktune_sysfs_root": str(base / "tree/sys"),
                                           "ktune_procfs_root": str(base / "tree/proc"),
                                           "ktune_expected_nodes_per_socket": 2}, **(group_vars or {})),
                             "hosts": {"web1": host_vars}}}
        (base / "hosts.yml").write_text(json.dumps(inventory))
        return run_playbook(playbook, [base / "hosts.yml"], "--check", *args, cwd=base, timeout=300)

    return run


def failure_block(output):
    """The lines from the first failure to the PLAY RECAP."""
    lines = output.splitlines()
    start = min(index for index, line in enumerate(lines) if line.startswith(("[ERROR]", "fatal:")))
    end = max(index for index, line in enumerate(lines) if line.startswith("PLAY RECAP"))
    return lines[start:end]


def test_instance_mistakes_are_one_line_each_and_nothing_runs(tune):
    kimi = dict(KIMI, port="abc", kt_methd="AMXINT4", kt_method="FOO", health_timeout_s="30m")
    done = tune({"ktune_service_instances": [GOOD, kimi]})
    assert done.returncode == 2, done.output[-3000:]
    assert recap(done.output)["web1"]["failed"] == "1"
    assert "ktune_service_instances[1] (kimi): port = 'abc': expected a whole number\n" in done.output
    assert "ktune_service_instances[1] (kimi): kt_methd is not a field: did you mean kt_method?" in done.output
    assert "ktune_service_instances[1] (kimi): kt_method = 'FOO': expected one of AMXINT4," in done.output
    assert "ktune_service_instances[1] (kimi): health_timeout_s = '30m': expected a whole number" in done.output
    assert "web1: 4 mistakes in the settings, nothing was changed:" in done.output
    # Stopped at the first task, before any read of the host or the role's own validation.
    assert "TASK [Read the host once" not in done.output
    assert "argument_spec" not in done.output and "Supported parameters" not in done.output
    assert "_AnsibleTagged" not in done.output
    # ansible-core 2.19 shows a failure twice ([ERROR] with its origin, then fatal): still short.
    assert len(failure_block(done.output)) < 30, "\n".join(failure_block(done.output))


def test_a_dict_instead_of_a_list(tune):
    done = tune({"ktune_service_instances": KIMI})
    assert done.returncode == 2, done.output[-3000:]
    assert "ktune_service_instances: expected a list of mappings, found a mapping" in done.output
    assert len(failure_block(done.output)) < 20, "\n".join(failure_block(done.output))


def test_a_bad_setting_given_with_e_is_named(tune):
    done = tune({}, "-e", "ktune_service_health_timeout_s=30m")
    assert done.returncode == 2, done.output[-3000:]
    assert "ktune_service_health_timeout_s = '30m': expected a whole number" in done.output


def test_good_settings_pass_on_to_the_roles(tune):
    done = tune({"ktune_service_instances": [GOOD, dict(KIMI, port="30001")]})
    assert "mistakes in the settings, nothing was changed" not in done.output
    assert "TASK [Read the host once and judge every tuning role]" in done.output, done.output[-3000:]


def test_a_misspelt_variable_is_warned_with_the_closest_name(tune):
    done = tune({"ktune_cpu_govenor": "performance"}, "-e", "ktune_expected_node_per_socket=2",
                group_vars={"ktune_drop_cache_state": "absent"})
    assert "mistakes in the settings, nothing was changed" not in done.output
    text = " ".join(done.output.split())  # warnings are wrapped
    assert ("web1: ktune_cpu_govenor is not a variable of ktune.inference: did you mean ktune_cpu_governor?; "
            "it is ignored (ktune_unknown_variables: fail stops on it)") in text
    assert "ktune_expected_node_per_socket is not a variable of ktune.inference: did you mean ktune_expected_nodes_per_socket?" in text
    assert "ktune_drop_cache_state is not a variable of ktune.inference: did you mean ktune_drop_caches_state?" in text
    assert "TASK [Read the host once and judge every tuning role]" in done.output


def test_a_misspelt_variable_stops_the_run_when_asked(tune):
    done = tune({"ktune_cpu_govenor": "performance", "ktune_unknown_variables": "fail"})
    assert done.returncode == 2, done.output[-3000:]
    assert "web1: 1 mistake in the settings, nothing was changed:\n" in done.output
    assert "ktune_cpu_govenor is not a variable of ktune.inference: did you mean ktune_cpu_governor?\n" in done.output
    assert "TASK [Read the host once" not in done.output


def test_audit_warns_and_fails_only_when_asked_after_writing_its_report(tune, tmp_path):
    host_vars = {"ktune_cpu_govenor": "performance", "ktune_drop_caches_state": "absent", "ktune_use_numa": False}
    done = tune(host_vars, "-e", "ktune_report_dir=%s" % (tmp_path / "warn"), playbook="audit.yml")
    assert "did you mean ktune_cpu_governor?" in " ".join(done.output.split())  # a warning, wrapped
    assert (tmp_path / "warn/audit.json").exists()
    done = tune(dict(host_vars, ktune_unknown_variables="fail"), "-e", "ktune_report_dir=%s" % (tmp_path / "fail"),
                playbook="audit.yml")
    assert done.returncode == 2, done.output[-3000:]
    assert "ktune_cpu_govenor is not a variable of ktune.inference: did you mean ktune_cpu_governor?\n" in done.output
    assert (tmp_path / "fail/audit.json").exists()


def test_a_run_that_would_not_be_root_stops_at_the_start_in_check_mode(tune):
    done = tune({"ansible_become": True, "ansible_become_method": "su", "ansible_become_user": "nobody"})
    assert done.returncode == 2, done.output[-3000:]
    assert ("web1: this run changes the host and needs root, but it becomes nobody, not root (checked in check mode "
            "too: the real run would fail at its first write). Fix: add --become (-b) to the command, or set become: "
            "true (ansible_become: true in the inventory) with become_user root; nothing was changed.") in " ".join(
        done.output.split())  # one line, which ansible-core 2.16 wraps
    assert "TASK [Read the host once" not in done.output


def test_the_login_decides_without_become(tune):
    """uid 0 without become is a root run (CI runs as root); any other uid stops at the start."""
    done = tune({})
    if os.geteuid() == 0:
        assert "needs root" not in done.output
        assert "TASK [Read the host once and judge every tuning role]" in done.output, done.output[-3000:]
    else:
        assert done.returncode == 2, done.output[-3000:]
        assert "but it connects as uid %d without become" % os.geteuid() in done.output
