"""The preflight action's root check with the connections it meets: local (the controller's uid),
an explicit root login, and an SSH login it must ask (one raw `id -u`, never a module)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from unittest import mock

import pytest

from ansible_collections.ktune.inference.plugins.action.preflight import ActionModule


def action(transport="ssh", remote_user=None, become=False, become_user=None, probe=None):
    task = mock.MagicMock()
    task.args = {"root": True}
    task.async_val = 0
    connection = mock.MagicMock()
    connection.transport = transport
    connection.get_option.side_effect = lambda name: remote_user if name == "remote_user" else None
    play_context = mock.MagicMock(become=become, become_user=become_user, remote_user=remote_user, check_mode=True)
    module = ActionModule(task, connection, play_context, loader=mock.MagicMock(), templar=mock.MagicMock(),
                          shared_loader_obj=mock.MagicMock())
    module._low_level_execute_command = mock.MagicMock(return_value=probe or {"rc": 0, "stdout": "0\n"})
    return module


def problems(module):
    return module._root_problems({"inventory_hostname": "web1"})


def test_an_ssh_login_that_is_not_root_is_asked_once_and_stops():
    module = action(remote_user="deploy", probe={"rc": 0, "stdout": "1000\n"})
    found = problems(module)
    module._low_level_execute_command.assert_called_once_with("id -u", sudoable=False)
    assert len(found) == 1 and "connects as uid 1000 without become" in found[0]
    assert "Fix: add --become (-b) to the command, or set become: true" in found[0]


def test_an_ssh_login_without_a_user_that_turns_out_root_passes():
    module = action(remote_user=None, probe={"rc": 0, "stdout": "0\n"})
    assert problems(module) == []
    module._low_level_execute_command.assert_called_once()


@pytest.mark.parametrize("settings", [
    {"remote_user": "root"},  # known without asking
    {"remote_user": "deploy", "become": True},
    {"remote_user": "deploy", "become": True, "become_user": "root"},
])
def test_root_known_without_asking_the_host(settings):
    module = action(**settings)
    assert problems(module) == []
    module._low_level_execute_command.assert_not_called()


def test_local_is_the_controllers_uid():
    module = action(transport="local")
    with mock.patch("os.geteuid", return_value=1000):
        assert "connects as uid 1000 without become" in problems(module)[0]
    with mock.patch("os.geteuid", return_value=0):
        assert problems(module) == []
    module._low_level_execute_command.assert_not_called()


def test_a_probe_that_fails_leaves_it_to_the_hosts_read():
    module = action(remote_user="deploy", probe={"rc": 255, "stdout": "", "stderr": "ssh: connect refused"})
    assert problems(module) == []
