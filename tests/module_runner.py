"""Run a module's main() in-process and capture what it would return to Ansible."""

import json
from contextlib import contextmanager
from unittest import mock

from ansible.module_utils import basic


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def _exit_json(self, **result):
    raise ModuleExit(result, failed=False)


def _fail_json(self, msg, **result):
    result["msg"] = msg
    raise ModuleExit(result, failed=True)


@contextmanager
def module_args(args):
    """Make args the module arguments AnsibleModule reads, on every supported ansible-core."""
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19
        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()):
            yield
        return
    with patch_module_args(args):
        yield


def run_module(module, args, check_mode=False, diff=False):
    """Return (result, failed) from module.main() with the given arguments."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with module_args(args), \
            mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json):
        try:
            module.main()
        except ModuleExit as outcome:
            return outcome.result, outcome.failed
    raise AssertionError("%s.main() returned without exit_json or fail_json" % module.__name__)
