"""plugin_utils/report_paths.operator_path: report folders resolve against the operator's working
directory and never land inside the collection (installed, or a checkout outside its build-ignored
report folders)."""

import os

import pytest

from ansible_collections.ktune.inference.plugins.plugin_utils.report_paths import operator_path


@pytest.fixture
def installed(tmp_path):
    root = tmp_path / "ansible_collections/ktune/inference"
    (root / "playbooks").mkdir(parents=True)
    (root / "MANIFEST.json").write_text("{}")
    return root


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "src/ktune"
    (root / "playbooks").mkdir(parents=True)
    (root / "galaxy.yml").write_text("namespace: ktune\n")
    return root


def test_a_relative_folder_is_under_the_working_directory(tmp_path, installed):
    work = tmp_path / "ops"
    assert operator_path("ktune-reports/x", "ktune_report_dir", cwd=str(work),
                         collection_root=str(installed)) == str(work / "ktune-reports/x")


def test_an_absolute_folder_outside_the_collection_is_kept(tmp_path, installed):
    assert operator_path(str(tmp_path / "r"), "v", cwd="/", collection_root=str(installed)) == str(tmp_path / "r")


def test_home_is_expanded(installed, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert operator_path("~/r", "v", cwd="/", collection_root=str(installed)) == str(tmp_path / "home/r")


@pytest.mark.parametrize("inside", ["ktune-reports", "ktune-diagnostics/20260101T000000Z", "playbooks/ktune-diagnostics"])
def test_nothing_inside_an_installed_collection(installed, inside):
    with pytest.raises(ValueError) as caught:
        operator_path(inside, "ktune_diagnose_dest", cwd=str(installed), collection_root=str(installed))
    message = str(caught.value)
    assert message.startswith("ktune_diagnose_dest: expected a folder outside the collection ktune.inference")
    assert "found %s" % os.path.realpath(str(installed / inside)) in message
    assert "Fix: run ansible-playbook from your own working directory" in message


def test_in_a_checkout_only_the_build_ignored_top_folders(checkout):
    for allowed in ("ktune-reports/a", "ktune-diagnostics", "ktune-baselines/h"):
        assert operator_path(allowed, "v", cwd=str(checkout), collection_root=str(checkout)) == str(checkout / allowed)
    for refused in ("playbooks/ktune-diagnostics", "roles/ktune-reports", "."):
        with pytest.raises(ValueError):
            operator_path(refused, "v", cwd=str(checkout), collection_root=str(checkout))


def test_a_symlink_into_the_collection_is_refused(tmp_path, installed):
    (tmp_path / "link").symlink_to(installed / "playbooks")
    with pytest.raises(ValueError):
        operator_path("link/out", "v", cwd=str(tmp_path), collection_root=str(installed))


def test_a_neighbour_with_a_common_prefix_is_not_inside(tmp_path, installed):
    neighbour = str(installed) + "-reports"
    assert operator_path(neighbour, "v", cwd="/", collection_root=str(installed)) == neighbour


@pytest.mark.parametrize("bad", ["", "  ", None, 3])
def test_an_empty_or_non_text_folder_names_the_variable(bad, installed):
    with pytest.raises(ValueError, match=r"^ktune_report_dir = .*: expected a folder on the controller"):
        operator_path(bad, "ktune_report_dir", cwd="/", collection_root=str(installed))
