"""The guard daemon against hostile host input (issue 21, item 7): bounded reads, no traceback.

An endless HTTP answer, a garbage /proc/net/tcp, an endless key file and an endless drain file.
"""

import importlib.util
from pathlib import Path

import pytest

from bounded_memory import MIB, traced
from flood_server import flooding

ROOT = Path(__file__).resolve().parents[3]


def load_daemon():
    spec = importlib.util.spec_from_file_location("ktune_guard", ROOT / "roles/guard/files/ktune_guard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ktune_guard = load_daemon()


def sparse(path, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path), "wb") as handle:
        handle.truncate(size)
    return path


def test_an_endless_http_answer_is_no_answer_read_in_bounded_memory():
    with flooding(b"# HELP x\n", b"sglang:num_running_reqs 1\n") as url:
        (status, why), peak = traced(ktune_guard.http_get, url + "/metrics", 10)
    assert status is None
    assert b"/metrics: expected an answer of at most 4194304 bytes, found more" in why
    assert peak < 16 * MIB


def test_a_garbage_tcp_table_tells_nothing(tmp_path):
    table = tmp_path / "net/tcp"
    table.parent.mkdir()
    table.write_text("  sl  local_address rem_address   st\n   0: garbage 00000000:0000 01 x\n")
    assert ktune_guard.established_connections(str(tmp_path), 8080) is None


def test_an_endless_key_file_gives_no_key_in_bounded_memory(tmp_path):
    path = sparse(tmp_path / "r1.credentials", 64 * MIB)
    path.chmod(0o600)

    def read():
        with pytest.raises(ktune_guard.secret_file.SecretFileError, match="expected at most 65536 bytes, found more"):
            ktune_guard.read_api_key(str(path))

    _nothing, peak = traced(read)
    assert peak < 4 * MIB


def test_an_endless_drain_file_is_ignored_in_bounded_memory(tmp_path, capsys):
    sparse(tmp_path / "drain.json", 64 * MIB)
    drain, peak = traced(ktune_guard.read_drain, str(tmp_path))
    assert drain == {}
    assert "drain.json: expected at most 1048576 bytes, found more, ignored" in capsys.readouterr().out
    assert peak < 4 * MIB
