from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import (
    InstanceError,
    host_problems,
    instance_problems,
    parse_listeners,
    resolve_instances,
)
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts


def legacy(**extra):
    instance = {"name": "r1", "model_path": "/srv/models/r1", "gguf_path": "/srv/models/r1-gguf"}
    instance.update(extra)
    return instance


def sglang(**extra):
    instance = {"name": "k2", "backend": "sglang", "model_path": "/srv/models/k2",
                "kt_weight_path": "/srv/models/k2-cpu"}
    instance.update(extra)
    return instance


def one(numa, instance, settings=None):
    return resolve_instances([instance], numa, settings)[0]


def flag(argv, name, count=None):
    index = argv.index(name)
    return argv[index + 1] if count is None else argv[index + 1:index + 1 + count]


# --- defaults from the facts ----------------------------------------------------------


@pytest.mark.parametrize("name, cores, cpu_nodes", [
    ("epyc-2s-nps2", 32, [0, 1, 2, 3]),
    ("epyc-2s-nps1", 32, [0, 1]),
    ("xeon8592-2s-snc-off", 128, [0, 1]),
    ("xeon-2s-cxl-memory-only", 104, [0, 1]),
    ("epyc-2s-nps1-hbm-sparse", 16, [0, 2]),
    ("vm-1node-no-cpufreq", 4, [0]),
])
def test_defaults_follow_the_facts(numa, name, cores, cpu_nodes):
    facts = numa(name)
    assert facts["physical_cores"] == cores
    old = one(facts, legacy())
    assert old["cpu_infer"] == cores - 2
    assert flag(old["argv"], "--cpu_infer") == str(cores - 2)
    new = one(facts, sglang())
    assert flag(new["argv"], "--kt-cpuinfer") == str(cores)
    assert flag(new["argv"], "--kt-threadpool-count") == str(len(cpu_nodes))
    assert flag(new["argv"], "--kt-numa-nodes", len(cpu_nodes)) == [str(node) for node in cpu_nodes]
    # memory-only nodes (CXL, HBM) are neither thread pools nor NUMA nodes for kt-kernel
    assert new["kt_numa_nodes"] == cpu_nodes


def test_legacy_command_line_is_the_documented_one(numa):
    instance = one(numa("epyc-2s-nps2"), legacy(optimize_config_path="/srv/rules/DeepSeek-V3-Chat.yaml",
                                                force_think=True))
    assert instance["argv"] == [
        "/usr/local/bin/ktransformers", "--model_path", "/srv/models/r1", "--gguf_path", "/srv/models/r1-gguf",
        "--host", "0.0.0.0", "--port", "10002", "--cpu_infer", "30", "--max_new_tokens", "1024",
        "--cache_lens", "32768", "--max_batch_size", "4", "--backend_type", "balance_serve", "--chunk_size", "256",
        "--optimize_config_path", "/srv/rules/DeepSeek-V3-Chat.yaml", "--force_think"]
    assert instance["health_url"] == "http://127.0.0.1:10002/v1/models"
    assert instance["unit"] == "ktransformers@r1.service"
    assert instance["env_file"] == "/etc/ktransformers/r1.env"
    assert instance["credentials_file"] == "/etc/ktransformers/r1.credentials"
    assert instance["command"] == " ".join(instance["argv"])


def test_sglang_command_line_is_the_documented_one(numa):
    instance = one(numa("epyc-2s-nps2"), sglang(kt_num_gpu_experts=0, extra_args=["--trust-remote-code"]))
    assert instance["argv"] == [
        "/usr/bin/python3", "-m", "sglang.launch_server", "--model-path", "/srv/models/k2",
        "--kt-weight-path", "/srv/models/k2-cpu", "--kt-cpuinfer", "32", "--kt-threadpool-count", "4",
        "--kt-numa-nodes", "0", "1", "2", "3", "--kt-method", "AMXINT4", "--kt-num-gpu-experts", "0",
        "--host", "0.0.0.0", "--port", "30000", "--trust-remote-code"]
    assert instance["health_url"] == "http://127.0.0.1:30000/health"


def test_settings_and_instance_override_the_defaults(numa):
    settings = {"executable": "/opt/kt/bin/ktransformers", "health_timeout_s": 95, "health_interval_s": 10,
                "legacy_defaults": {"max_new_tokens": 2048, "port": 10100}}
    instance = one(numa("epyc-2s-nps2"), legacy(cpu_infer=20, host="127.0.0.1", cache_lens=65536), settings)
    assert instance["argv"][0] == "/opt/kt/bin/ktransformers"
    assert flag(instance["argv"], "--max_new_tokens") == "2048"
    assert flag(instance["argv"], "--port") == "10100"
    assert flag(instance["argv"], "--cpu_infer") == "20"
    assert instance["health_url"] == "http://127.0.0.1:10100/v1/models"
    assert instance["health_retries"] == 10  # 95 s in 10 s steps, rounded up
    # untouched backend defaults survive a partial override
    assert flag(instance["argv"], "--backend_type") == "balance_serve"


def test_ipv6_host_is_bracketed_in_the_health_url(numa):
    assert one(numa("epyc-2s-nps2"), legacy(host="fd00::5"))["health_url"] == "http://[fd00::5]:10002/v1/models"
    assert one(numa("epyc-2s-nps2"), legacy(host="::"))["health_url"].startswith("http://127.0.0.1:")


# --- numactl --------------------------------------------------------------------------


def test_bind_uses_the_node_cpulist_and_its_cores(numa):
    facts = numa("epyc-2s-nps2")
    old = one(facts, legacy(numactl="bind"))
    assert old["argv"][:3] == ["/usr/bin/numactl", "--physcpubind=0-7,32-39", "--membind=0"]
    assert old["cpu_infer"] == 6  # 8 physical cores on node 0, minus 2
    new = one(facts, sglang(numactl="bind", numa_node=2))
    assert new["argv"][:3] == ["/usr/bin/numactl", "--physcpubind=16-23,48-55", "--membind=2"]
    assert flag(new["argv"], "--kt-cpuinfer") == "8"
    assert flag(new["argv"], "--kt-threadpool-count") == "1"
    assert flag(new["argv"], "--kt-numa-nodes") == "2"
    assert {"field": "numactl", "path": "/usr/bin/numactl", "kind": "exec"} in new["paths"]


def test_bind_skips_a_memoryless_node_by_default(numa):
    facts = numa("epyc-2s-nps2-memoryless")
    facts = dict(facts, cpu_node_ids=[1, 0, 2, 3])  # the memoryless node first
    assert one(facts, legacy(numactl="bind"))["numa_node"] == 0


def test_interleave_spans_the_cpu_nodes_with_memory(numa):
    assert one(numa("epyc-2s-nps2"), legacy(numactl="interleave"))["argv"][:2] == [
        "/usr/bin/numactl", "--interleave=0-3"]
    assert one(numa("epyc-2s-nps2-memoryless"), legacy(numactl="interleave"))["argv"][1] == "--interleave=0,2-3"
    assert one(numa("xeon-2s-cxl-memory-only"), legacy(numactl="interleave"))["argv"][1] == "--interleave=0-1"
    assert one(numa("epyc-2s-nps2"), legacy(numactl="interleave"))["cpu_infer"] == 30


def test_numactl_mode_from_settings(numa):
    assert one(numa("epyc-2s-nps2"), legacy(), {"numactl": "bind", "numactl_path": "/bin/numactl"})["argv"][0] \
        == "/bin/numactl"


# --- problems with the settings --------------------------------------------------------


@pytest.mark.parametrize("instance, expected", [
    (legacy(cache_lens=4096, max_new_tokens=1024, max_batch_size=4),
     "ktune_service_instances[0] (r1): cache_lens = 4096 must be greater than max_batch_size * max_new_tokens "
     "= 4 * 1024 = 4096"),
    (legacy(cache_lens=4000), "cache_lens = 4000 must be greater than max_batch_size * max_new_tokens"),
    (legacy(backend="vllm"), "ktune_service_instances[0] (r1): backend = 'vllm' is not a known backend"),
    (legacy(name="r1/../x"), "name = 'r1/../x' is not safe as a systemd instance and file name"),
    (legacy(name="-r1"), "name = '-r1' is not safe"),
    (legacy(name="r 1"), "is not safe as a systemd instance"),
    (legacy(name=".hidden"), "is not safe"),
    (legacy(name="a" * 65), "is not safe"),
    (legacy(name=None), "ktune_service_instances[0]: name = None is not safe"),
    (legacy(port=80), "port = 80 is out of range: expected an integer in 1024-65535"),
    (legacy(port=70000), "port = 70000 is out of range"),
    (legacy(port="http"), "port = 'http' is not a whole number"),
    (legacy(model_path=None), "model_path is missing: expected an absolute path"),
    (legacy(model_path="models/r1"), "model_path = 'models/r1' is not an absolute path"),
    (legacy(model_path="/srv/my models/r1"), "model_path = '/srv/my models/r1' contains whitespace"),
    (legacy(gguf_path=None), "gguf_path is missing"),
    (legacy(kt_method="AMXINT4"), "kt_method is only for backend sglang, and this instance uses legacy"),
    (sglang(cpu_infer=10, gguf_path="/x"), "gguf_path, cpu_infer are only for backend legacy"),
    (sglang(kt_weight_path=None), "kt_weight_path is missing"),
    (legacy(cache_len=100000), "unknown setting cache_len: expected some of name, state"),
    (legacy(cpu_infer=0), "cpu_infer = 0 is out of range: expected an integer in 1-64"),
    (legacy(cpu_infer=65), "cpu_infer = 65 is out of range: expected an integer in 1-64. Fix: use at most the 64 "
                           "CPUs online; guidance: physical cores minus 2 = 30"),
    (legacy(numactl="bind", cpu_infer=17), "cpu_infer = 17 is out of range: expected an integer in 1-16. Fix: use "
                                           "at most the 16 CPUs of NUMA node 0"),
    (legacy(backend_type="vllm"), "backend_type = 'vllm' is not a ktransformers backend"),
    (legacy(force_think="maybe"), "force_think = 'maybe' is not a boolean"),
    (legacy(numactl="spread"), "numactl = 'spread' is not a numactl mode"),
    (legacy(numactl="bind", numa_node=7), "numa_node = 7 is not a NUMA node with CPUs: expected one of 0-3"),
    (legacy(numa_node=1), "numa_node = 1 is only used with numactl: bind"),
    (legacy(extra_args="--foo"), "extra_args = '--foo' is not a list of words"),
    (legacy(extra_args=["--web True"]), "word '--web True' is empty or contains whitespace"),
    (legacy(extra_args=["--api_key", "abc"]), "contains --api_key: the API key must never be on the command line"),
    (sglang(extra_args=["--api-key=abc"]), "contains --api-key=abc: the API key must never be on the command line"),
    (sglang(api_key="0123456789abcdef", extra_args=["--config", "/etc/x.yaml"]), "contains --config"),
    (legacy(environment={"HOME": "/tmp"}), "environment sets HOME, which the role or systemd manages"),
    (legacy(environment={"USE_NUMA": "1"}), "environment sets USE_NUMA"),
    (legacy(environment={"KTUNE_COMMAND": "x"}), "environment sets KTUNE_COMMAND"),
    (legacy(environment={"1X": "1"}), "environment name '1X' is not a variable name"),
    (legacy(environment={"X": "a\"b"}), "environment X = 'a\"b' contains a quote"),
    (legacy(environment=["X=1"]), "environment = ['X=1'] is not a dictionary"),
    (legacy(api_key="short"), "api_key is not usable: expected 8-256 characters"),
    (legacy(api_key="has space in it"), "api_key is not usable"),
    (legacy(health_timeout_s=0), "health_timeout_s = 0 is out of range"),
    (legacy(state="stopped"), "state = 'stopped' is not a state: expected present or absent"),
    (sglang(kt_numa_nodes=[0, 9]), "kt_numa_nodes = 0 9: expected distinct nodes with CPUs, from 0-3"),
    (sglang(kt_numa_nodes=[1, 1]), "kt_numa_nodes = 1 1: expected distinct nodes"),
    (sglang(kt_numa_nodes="all"), "kt_numa_nodes = 'all' is not a list of NUMA node ids"),
    (sglang(kt_threadpool_count=8), "kt_threadpool_count = 8 is out of range: expected an integer in 1-4"),
    (sglang(kt_threadpool_count=2, kt_numa_nodes=[0, 1, 2]),
     "kt_threadpool_count = 2 does not match kt_numa_nodes (0 1 2, 3 nodes)"),
    (sglang(kt_cpuinfer=100), "kt_cpuinfer = 100 is out of range: expected an integer in 1-64"),
    (sglang(kt_method="AMX INT4"), "kt_method = 'AMX INT4' is not a kt-kernel method"),
    (sglang(numactl="bind", kt_numa_nodes=[1]), "(numactl binds the instance to one node), from 0"),
    ("r1", "ktune_service_instances[0] = 'r1' is not a dictionary"),
])
def test_bad_settings_name_the_variable(numa, instance, expected):
    problems = instance_problems([instance], numa("epyc-2s-nps2"))
    assert any(expected in problem for problem in problems), problems
    with pytest.raises(InstanceError):
        resolve_instances([instance], numa("epyc-2s-nps2"))


def test_the_api_key_is_never_echoed(numa):
    problems = instance_problems([legacy(api_key="s3cr3t key!")], numa("epyc-2s-nps2"))
    assert problems and not any("s3cr3t" in problem for problem in problems)


def test_memoryless_bind_node_is_refused(numa):
    problems = instance_problems([legacy(numactl="bind", numa_node=1)], numa("epyc-2s-nps2-memoryless"))
    assert problems == ["ktune_service_instances[0] (r1): numa_node = 1 has no memory (0 MB): numactl "
                        "--membind=1 would fail. Fix: bind to a node with memory, such as 0"]


def test_bind_without_numa_is_refused(numa):
    problems = instance_problems([legacy(numactl="bind")], numa("no-numa-kernel"))
    assert problems == ["ktune_service_instances[0] (r1): numactl = bind needs a NUMA node with CPUs and memory, "
                        "and the host has none (CPU nodes: none). Fix: set numactl: none"]


def test_no_numa_kernel_still_gets_a_command(numa):
    instance = one(numa("no-numa-kernel"), sglang())
    assert "--kt-numa-nodes" not in instance["argv"]
    assert flag(instance["argv"], "--kt-threadpool-count") == "1"
    assert flag(instance["argv"], "--kt-cpuinfer") == "4"


def test_duplicates_across_instances(numa):
    problems = instance_problems([legacy(), legacy(port=10003), sglang(name="k2", port=10002)], numa("epyc-2s-nps2"))
    assert ("ktune_service_instances[1] (r1): name = 'r1' is also the name of ktune_service_instances[0]: "
            "expected unique names (one unit per instance)") in problems
    assert any(problem.startswith("ktune_service_instances[2] (k2): port = 10002 is also the port of "
                                  "ktune_service_instances[0]") for problem in problems)


def test_legacy_instances_share_one_key(numa):
    problems = instance_problems([legacy(api_key="aaaaaaaaaa"), legacy(name="v3", port=10003, api_key="bbbbbbbbbb"),
                                  sglang(api_key="cccccccccc")], numa("epyc-2s-nps2"))
    assert len(problems) == 1 and "have different api_key values" in problems[0]
    assert "ktune_service_instances[2]" not in problems[0]


def test_absent_instances_need_only_a_name(numa):
    resolved = resolve_instances([{"name": "old", "state": "absent"}], numa("epyc-2s-nps2"))
    assert resolved[0]["unit"] == "ktransformers@old.service"
    assert "argv" not in resolved[0]


def test_no_instances_no_problems(numa):
    assert instance_problems([], numa("epyc-2s-nps2")) == []
    assert instance_problems(None, numa("epyc-2s-nps2")) == []
    assert instance_problems({"name": "r1"}, numa("epyc-2s-nps2"))[0].startswith(
        "ktune_service_instances = {'name': 'r1'} is not a list")


def test_role_level_problems(numa):
    problems = instance_problems([legacy()], numa("epyc-2s-nps2"),
                                 {"health_interval_s": 0, "home": "relative", "read_write_paths": "/x"})
    assert len(problems) == 3
    assert problems[0].startswith("ktune_service_health_interval_s = 0")
    assert problems[1].startswith("ktune_service_home = 'relative'")
    assert problems[2].startswith("ktune_service_read_write_paths = '/x'")


def test_string_numbers_from_extra_vars(numa):
    instance = one(numa("epyc-2s-nps2"), legacy(port="10005", cpu_infer="12", force_think="true"))
    assert instance["port"] == 10005 and instance["cpu_infer"] == 12 and instance["force_think"] is True


# --- problems on the host --------------------------------------------------------------


def present(path, kind="dir"):
    return {"exists": True, "isdir": kind == "dir", "isreg": kind != "dir", "executable": kind == "exec"}


def good_stats():
    return {"/srv/models/r1": present("/srv/models/r1"), "/srv/models/r1-gguf": present("/srv/models/r1-gguf"),
            "/usr/local/bin/ktransformers": present("x", "exec")}


def test_host_problems_paths(numa):
    resolved = resolve_instances([legacy()], numa("epyc-2s-nps2"))
    assert host_problems(resolved, None, good_stats(), []) == []
    stats = good_stats()
    stats["/srv/models/r1"] = {"exists": False}
    stats["/usr/local/bin/ktransformers"] = present("x", "file")
    problems = host_problems(resolved, None, stats, [])
    assert problems == [
        "ktune_service_instances[0] (r1): model_path = /srv/models/r1 does not exist on the host: expected a "
        "directory. Fix: copy it there or correct the path",
        "ktune_service_instances[0] (r1): executable = /usr/local/bin/ktransformers is not an executable file. Fix: "
        "install it (ktune_service_build: true builds ktransformers) or correct the path"]


def test_models_inside_writable_paths_are_refused(numa):
    instance = legacy(model_path="/var/lib/ktransformers/models/r1")
    resolved = resolve_instances([instance], numa("epyc-2s-nps2"))
    stats = dict(good_stats(), **{"/var/lib/ktransformers/models/r1": present("x")})
    problems = host_problems(resolved, None, stats, [])
    assert problems == ["ktune_service_instances[0] (r1): model_path = /var/lib/ktransformers/models/r1 is inside "
                        "/var/lib/ktransformers, which the service may write: expected the model read-only to the "
                        "service. Fix: keep models outside /var/lib/ktransformers"]
    assert host_problems(resolved, {"home": "/var/lib/kt"}, stats, []) == []


def test_a_port_held_by_the_instance_itself_is_free(numa):
    resolved = resolve_instances([legacy(), sglang()], numa("epyc-2s-nps2"))
    listeners = parse_listeners("10002 812 ktransformers@r1.service\n30000 913 ktransformers@k2.service\n22 1 -\n")
    assert host_problems(resolved, None, {}, listeners) == []


def test_a_port_held_by_something_else_is_refused(numa):
    resolved = resolve_instances([legacy(), sglang()], numa("epyc-2s-nps2"))
    listeners = parse_listeners("10002 812 ktransformers@k2.service\n30000 77 nginx.service\n30000 78 nginx.service")
    assert host_problems(resolved, None, {}, listeners) == [
        "ktune_service_instances[0] (r1): port = 10002 is already in use by pid 812 (ktransformers@k2.service): "
        "expected a free port, or one held by ktransformers@r1.service itself. Fix: pick another port, or stop "
        "what listens on 10002",
        "ktune_service_instances[1] (k2): port = 30000 is already in use by pid 77 (nginx.service): expected a free "
        "port, or one held by ktransformers@k2.service itself. Fix: pick another port, or stop what listens on "
        "30000"]
    unknown = host_problems(resolved, None, {}, parse_listeners("10002 - -"))
    assert unknown[0].startswith("ktune_service_instances[0] (r1): port = 10002 is already in use by pid unknown "
                                 "(no systemd service)")


def test_a_port_held_by_an_instance_being_removed_is_free(numa):
    resolved = resolve_instances([{"name": "old", "state": "absent"}, legacy()], numa("epyc-2s-nps2"))
    assert host_problems(resolved, None, {}, parse_listeners("10002 5 ktransformers@old.service")) == []


def test_parse_listeners():
    assert parse_listeners("10002 812 ktransformers@r1.service\n\nnoise\n53 - -\n") == [
        {"port": 10002, "pid": 812, "unit": "ktransformers@r1.service"}, {"port": 53, "pid": None, "unit": None}]


# --- properties ------------------------------------------------------------------------


@hsettings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 64), new_tokens=st.integers(1, 65536), cache=st.integers(1, 2 ** 22))
def test_cache_lens_rule(batch, new_tokens, cache):
    facts = gather_numa_facts("/nonexistent", "/nonexistent")
    problems = instance_problems([legacy(max_batch_size=batch, max_new_tokens=new_tokens, cache_lens=cache)], facts)
    assert (cache > batch * new_tokens) == (problems == []), problems


@hsettings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1, max_size=70))
def test_accepted_names_are_safe_unit_and_file_names(name):
    facts = gather_numa_facts("/nonexistent", "/nonexistent")
    problems = instance_problems([legacy(name=name)], facts)
    if not problems:
        assert "/" not in name and not name.startswith((".", "-")) and len(name) <= 64
        assert all(ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in name)
