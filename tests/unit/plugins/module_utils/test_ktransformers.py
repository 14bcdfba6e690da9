from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import (
    InstanceError,
    host_problems,
    instance_problems,
    instances_without_secrets,
    memory_fit_problems,
    parse_listeners,
    redact_secrets,
    resolve_instances,
)

# What a host without readable topology contributes: no cores, no nodes.
NO_TOPOLOGY = {}


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
    # kt-kernel puts pool i on node i: --kt-numa-nodes only for other nodes (the sparse HBM host)
    if cpu_nodes == list(range(len(cpu_nodes))):
        assert "--kt-numa-nodes" not in new["argv"]
    else:
        assert flag(new["argv"], "--kt-numa-nodes", len(cpu_nodes)) == [str(node) for node in cpu_nodes]
    # memory-only nodes (CXL, HBM) are neither thread pools nor NUMA nodes for kt-kernel
    assert new["kt_numa_nodes"] == cpu_nodes


def test_legacy_command_line_is_the_documented_one(numa):
    instance = one(numa("epyc-2s-nps2"), legacy(optimize_config_path="/srv/rules/DeepSeek-V3-Chat-serve.yaml",
                                                force_think=True))
    assert instance["argv"] == [
        "/usr/local/bin/ktransformers", "--model_path", "/srv/models/r1", "--gguf_path", "/srv/models/r1-gguf",
        "--model_name", "r1", "--host", "127.0.0.1", "--port", "10002", "--cpu_infer", "30", "--max_new_tokens", "1024",
        "--cache_lens", "32768", "--max_batch_size", "4", "--backend_type", "balance_serve", "--chunk_size", "256",
        "--optimize_config_path", "/srv/rules/DeepSeek-V3-Chat-serve.yaml", "--force_think"]
    assert instance["health_url"] == "http://127.0.0.1:10002/v1/models"
    assert instance["unit"] == "ktransformers@r1.service"
    assert instance["env_file"] == "/etc/ktransformers/r1.env"
    assert instance["credentials_file"] == "/etc/ktransformers/r1.credentials"
    assert instance["command"] == " ".join(instance["argv"])


def test_sglang_command_line_is_the_documented_one(numa):
    instance = one(numa("epyc-2s-nps2"), sglang(kt_num_gpu_experts=2, extra_args=["--enable-mixed-chunk"]))
    assert instance["argv"] == [
        "/usr/bin/python3", "-m", "sglang.launch_server", "--model-path", "/srv/models/k2",
        "--kt-weight-path", "/srv/models/k2-cpu", "--kt-cpuinfer", "32", "--kt-threadpool-count", "4",
        "--kt-method", "AMXINT4", "--kt-num-gpu-experts", "2", "--watchdog-timeout", "3000", "--enable-metrics",
        "--host", "127.0.0.1", "--port", "30000", "--enable-mixed-chunk"]
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
    (legacy(extra_args=["--api_key", "abc"]), "contains --api_key (--api_key): the API key must never be on the "
                                              "command line"),
    (sglang(extra_args=["--api-key=abc"]), "contains --api-key (--api-key): the API key must never be on the command"),
    # argparse takes unambiguous abbreviations: each of these is the flag it abbreviates.
    (sglang(extra_args=["--api-ke", "abcdefgh"]), "contains --api-ke (--api-key): the API key must never be on"),
    (legacy(extra_args=["--api_k=abcdefgh"]), "contains --api_k (--api_key): the API key must never be on"),
    (sglang(extra_args=["--host", "0.0.0.0"]), "contains --host, which sets --host (the servers' argparse takes any "
                                               "unambiguous abbreviation): the role sets it from the instance's host"),
    (legacy(extra_args=["--ho=0.0.0.0"]), "contains --ho, which sets --host"),
    (sglang(extra_args=["--por", "31000"]), "contains --por, which sets --port"),
    (legacy(extra_args=["--web\n"]), "word '--web\\n' is empty or contains whitespace"),
    (sglang(api_key="0123456789abcdef", extra_args=["--config", "/etc/x.yaml"]), "contains --config"),
    (legacy(environment={"HOME": "/tmp"}), "environment sets HOME, which the role or systemd manages"),
    (legacy(environment={"USE_NUMA": "1"}), "environment sets USE_NUMA"),
    (legacy(environment={"KTUNE_COMMAND": "x"}), "environment sets KTUNE_COMMAND"),
    (legacy(environment={"1X": "1"}), "environment name '1X' is not a variable name"),
    (legacy(environment={"X": "a\"b"}), "environment X contains a quote"),
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
    (sglang(kt_method="AMX INT4"), "kt_method = 'AMX INT4' is not a kt-kernel inference method: expected one of "
                                   "AMXINT4, AMXINT8"),
    (sglang(numactl="bind", kt_numa_nodes=[1]), "(numactl binds the instance to one node), from 0"),
    (sglang(kt_method="AMXINT16"), "kt_method = 'AMXINT16' is not a kt-kernel inference method"),
    (sglang(kt_cpuinfer=2, kt_threadpool_count=4), "kt_cpuinfer = 2 is below kt_threadpool_count = 4: kt-kernel "
                                                   "splits kt_cpuinfer threads over the pools"),
    (sglang(kt_num_gpu_experts=-1), "kt_num_gpu_experts = -1 is out of range: expected an integer >= 0"),
    (sglang(kt_gpu_experts_ratio=1.5), "kt_gpu_experts_ratio = 1.5 is not a fraction"),
    (sglang(mem_fraction_static="most"), "mem_fraction_static = 'most' is not a fraction"),
    (sglang(chunked_prefill_size=0), "chunked_prefill_size = 0 is out of range"),
    (sglang(max_running_requests="x"), "max_running_requests = 'x' is not a whole number"),
    (sglang(max_total_tokens=0), "max_total_tokens = 0 is out of range"),
    (sglang(watchdog_timeout=0), "watchdog_timeout = 0 is out of range"),
    (sglang(trust_remote_code="perhaps"), "trust_remote_code = 'perhaps' is not a boolean"),
    (sglang(enable_metrics="perhaps"), "enable_metrics = 'perhaps' is not a boolean"),
    (sglang(attention_backend="cutlass_mla"), "attention_backend = 'cutlass_mla' is not an attention backend both "
                                              "SGLang variants accept"),
    (sglang(served_model_name="my model"), "served_model_name = 'my model' is not a model id"),
    (sglang(cuda_visible_devices=[0, 0]), "cuda_visible_devices = [0, 0] is not a list of distinct GPU indexes"),
    (sglang(cuda_visible_devices=[0], environment={"CUDA_VISIBLE_DEVICES": "1"}),
     "environment sets CUDA_VISIBLE_DEVICES or CUDA_DEVICE_ORDER, and cuda_visible_devices is set too"),
    (sglang(tensor_parallel_size=2, cuda_visible_devices=[0]),
     "tensor_parallel_size = 2 is out of range: expected an integer in 1-1. Fix: use at most the 1 GPUs in "
     "cuda_visible_devices"),
    (sglang(sglang_variant="vllm"), "sglang_variant = 'vllm' is not an SGLang variant"),
    (sglang(sglang_variant="sglang", kt_numa_nodes=[2, 3]),
     "kt_numa_nodes = 2 3: sgl-project sglang has no --kt-numa-nodes"),
    (legacy(optimize_config_path="/srv/rules/DeepSeek-V3-Chat.yaml"),
     "optimize_config_path = /srv/rules/DeepSeek-V3-Chat.yaml is not a balance_serve rule: backend_type "
     "balance_serve needs one of the *-serve.yaml optimize rules"),
    (legacy(host="0.0.0.0 "), "host = '0.0.0.0 ' is not an address to listen on"),
    ("r1", "ktune_service_instances[0] = 'r1' is not a dictionary"),
])
def test_bad_settings_name_the_variable(numa, instance, expected):
    facts = dict(numa("epyc-2s-nps2"), gpus=[ONE_GPU])
    problems = instance_problems([instance], facts)
    assert any(expected in problem for problem in problems), problems
    with pytest.raises(InstanceError):
        resolve_instances([instance], facts)


def test_a_host_without_gpus_refuses_cuda_devices(numa):
    problems = instance_problems([sglang(cuda_visible_devices=[0])], dict(numa("epyc-2s-nps2"), gpus=[]))
    assert any("cuda_visible_devices = 0 names GPUs the host does not have: it has no NVIDIA GPU" in problem
               for problem in problems), problems


def test_every_sglang_line_says_how_many_experts_stay_on_the_gpu(numa):
    """Left out, sglang-kt turns CPU offload off and sgl-project fails at load."""
    assert flag(one(numa("epyc-2s-nps2"), sglang())["argv"], "--kt-num-gpu-experts") == "0"
    settings = {"sglang_defaults": {"kt_num_gpu_experts": 4}}
    assert flag(one(numa("epyc-2s-nps2"), sglang(), settings)["argv"], "--kt-num-gpu-experts") == "4"


def test_numa_nodes_flag_only_for_the_fork_and_only_when_not_0_to_n(numa):
    facts = numa("epyc-2s-nps2")
    assert "--kt-numa-nodes" not in one(facts, sglang())["argv"]
    assert flag(one(facts, sglang(kt_numa_nodes=[2, 3]))["argv"], "--kt-numa-nodes", 2) == ["2", "3"]
    # sgl-project on nodes 0..n-1 is fine: kt-kernel's own mapping
    assert "--kt-numa-nodes" not in one(facts, sglang(sglang_variant="sglang"))["argv"]
    assert "--kt-numa-nodes" not in one(facts, sglang(), {"sglang_variant": "sglang"})["argv"]
    sparse = one(numa("epyc-2s-nps1-hbm-sparse"), sglang())
    assert flag(sparse["argv"], "--kt-numa-nodes", 2) == ["0", "2"]


def test_loopback_unless_opened(numa):
    facts = numa("epyc-2s-nps2")
    assert flag(one(facts, legacy())["argv"], "--host") == "127.0.0.1"
    assert flag(one(facts, sglang())["argv"], "--host") == "127.0.0.1"
    assert flag(one(facts, sglang(), {"host": "10.0.0.5"})["argv"], "--host") == "10.0.0.5"
    assert flag(one(facts, legacy(host="0.0.0.0"), {"host": "10.0.0.5"})["argv"], "--host") == "0.0.0.0"
    assert flag(one(facts, legacy(), {"legacy_defaults": {"host": "::"}})["argv"], "--host") == "::"


def test_legacy_line_names_the_model_for_v1_models(numa):
    facts = numa("epyc-2s-nps2")
    assert flag(one(facts, legacy())["argv"], "--model_name") == "r1"
    assert flag(one(facts, legacy(served_model_name="DeepSeek-R1"))["argv"], "--model_name") == "DeepSeek-R1"


ONE_GPU = {"address": "0000:01:00.0", "vendor": "0x10de", "device": "0x2330", "numa_node": 0}


def with_cpu(facts, flags, gpus=None):
    result = dict(facts, cpu_flags=flags)
    if gpus is not None:
        result["gpus"] = gpus
    return result


@pytest.mark.parametrize("method, flags, refused", [
    ("AMXINT4", ["avx2", "avx512bw", "avx512f"], False),
    ("AMXINT4", ["avx2"], True),
    ("AMXINT8", ["avx2", "avx512f"], True),
    ("FP8_PERCHANNEL", ["avx2", "avx512bw", "avx512f"], True),
    ("FP8_PERCHANNEL", ["avx2", "avx512_bf16", "avx512bw", "avx512f"], False),
    ("RAWINT4", ["avx2"], False),
    ("RAWINT4", ["avx512_vnni"], True),
    ("LLAMAFILE", ["avx512_vnni"], False),
])
def test_kt_method_needs_the_cpu_flags_its_kernels_use(numa, method, flags, refused):
    problems = instance_problems([sglang(kt_method=method)], with_cpu(numa("epyc-2s-nps2"), flags))
    if refused:
        assert len(problems) == 1 and problems[0].startswith(
            "ktune_service_instances[0] (k2): kt_method = %s needs the CPU flags " % method)
        assert "Fix: pick a method the CPU runs" in problems[0]
    else:
        assert problems == []


def test_kt_method_is_not_refused_when_the_flags_are_unknown(numa):
    facts = dict(numa("epyc-2s-nps2"))
    facts.pop("cpu_flags", None)
    assert instance_problems([sglang(kt_method="AMXINT4")], facts) == []
    # a cpuinfo without a flags line (test trees, some VMs) gives none: unknown too
    assert instance_problems([sglang(kt_method="AMXINT4")], dict(facts, cpu_flags=[])) == []


def test_interleave_without_numa_is_refused_not_emptied(numa):
    problems = instance_problems([legacy(numactl="interleave")], numa("no-numa-kernel"))
    assert problems == ["ktune_service_instances[0] (r1): numactl = interleave needs NUMA nodes with CPUs and memory, "
                        "and the host shows none (the kernel has no NUMA support): numactl refuses an empty "
                        "--interleave=. Fix: set numactl: none"]


def test_bind_goes_to_the_gpu_node(numa):
    gpus = [{"address": "0000:c1:00.0", "vendor": "0x10de", "device": "0x2684", "numa_node": 3},
            {"address": "0000:41:00.0", "vendor": "0x10de", "device": "0x2684", "numa_node": 1},
            {"address": "0000:05:00.0", "vendor": "0x1a03", "device": "0x2000", "numa_node": 0}]  # BMC VGA
    facts = with_cpu(numa("epyc-2s-nps2"), ["avx2", "avx512bw", "avx512f"], gpus)
    # GPU 0 in PCI bus order is 0000:41:00.0 on node 1
    assert one(facts, sglang(numactl="bind"))["numa_node"] == 1
    instance = one(facts, sglang(numactl="bind", cuda_visible_devices=[1]))
    assert instance["numa_node"] == 3
    assert instance["argv"][:3] == ["/usr/bin/numactl", "--physcpubind=24-31,56-63", "--membind=3"]
    assert flag(instance["argv"], "--kt-numa-nodes") == "3"
    assert instance["environment"] == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}
    assert flag(instance["argv"], "--tensor-parallel-size") == "1"
    # an explicit node wins; a GPU on a node without CPUs falls back to the first node
    assert one(facts, sglang(numactl="bind", numa_node=2))["numa_node"] == 2
    assert one(dict(facts, gpus=[dict(gpus[1], numa_node=-1)]), legacy(numactl="bind"))["numa_node"] == 0
    problems = instance_problems([sglang(cuda_visible_devices=[2])], facts)
    assert any("cuda_visible_devices = 2 names GPUs the host does not have: it has 2 NVIDIA GPUs" in problem
               for problem in problems), problems


def test_the_tutorial_options_reach_the_command_line(numa):
    instance = one(numa("epyc-2s-nps2"), sglang(
        kt_gpu_experts_ratio=0.25, chunked_prefill_size=4096, mem_fraction_static=0.98, max_running_requests=32,
        max_total_tokens=40000, trust_remote_code=True, served_model_name="Kimi-K2", watchdog_timeout=1200,
        tensor_parallel_size=1, attention_backend="triton", enable_metrics=False))
    words = instance["argv"]
    for option, value in (("--kt-gpu-experts-ratio", "0.25"), ("--chunked-prefill-size", "4096"),
                          ("--mem-fraction-static", "0.98"), ("--max-running-requests", "32"),
                          ("--max-total-tokens", "40000"), ("--served-model-name", "Kimi-K2"),
                          ("--watchdog-timeout", "1200"), ("--tensor-parallel-size", "1"),
                          ("--attention-backend", "triton")):
        assert flag(words, option) == value
    assert "--trust-remote-code" in words and "--enable-metrics" not in words


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
    facts = NO_TOPOLOGY
    problems = instance_problems([legacy(max_batch_size=batch, max_new_tokens=new_tokens, cache_lens=cache)], facts)
    assert (cache > batch * new_tokens) == (problems == []), problems


@hsettings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1, max_size=70))
def test_accepted_names_are_safe_unit_and_file_names(name):
    facts = NO_TOPOLOGY
    problems = instance_problems([legacy(name=name)], facts)
    if not problems:
        assert "/" not in name and not name.startswith((".", "-")) and len(name) <= 64
        assert all(ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in name)


# --- memory-fit proof ----------------------------------------------------------------


GIB = 1024 ** 3


def fit(facts, instance, size_gib, settings=None):
    problems = instance_problems([instance], facts, settings)
    if problems:
        return problems
    resolved = resolve_instances([instance], facts, settings)
    return memory_fit_problems(resolved, facts, {resolved[0]["weights_path"]: int(size_gib * GIB)}, settings)


def test_a_legacy_numa_build_needs_a_copy_per_node(numa):
    facts = numa("epyc-2s-nps2")  # 4 nodes of 64 GiB
    assert fit(facts, legacy(), 100) == []  # one copy, every node: 100 + 8 <= 256
    problems = fit(facts, legacy(), 100, {"use_numa": True})
    assert problems == [
        "ktune_service_instances[0] (r1): does not fit in memory: weights 100.0 GiB (gguf_path /srv/models/r1-gguf) "
        "x 4 copies (a legacy build with USE_NUMA keeps one copy per configured NUMA node (4)) + KV cache 0.0 GiB "
        "(on the GPU) = 400.0 GiB, and the nodes it uses (0-3, no numactl: every node with memory) have 256.0 GiB, "
        "less 8.0 GiB kept for the system (ktune_service_memory_reserve_mb). Fix: build without USE_NUMA "
        "(ktune_use_numa: false) or with fewer NUMA nodes (NPS1), or run the model as an sglang instance, whose "
        "kt-kernel keeps one copy"]


def test_bind_counts_only_the_bound_node(numa):
    facts = numa("epyc-2s-nps2")
    assert fit(facts, sglang(), 200) == []
    problems = fit(facts, sglang(numactl="bind", numa_node=1), 60)
    assert len(problems) == 1
    assert "weights 60.0 GiB (kt_weight_path /srv/models/k2-cpu) x 1 copy (kt-kernel splits" in problems[0]
    assert "the nodes it uses (1, numactl --membind=1) have 64.0 GiB, less 8.0 GiB" in problems[0]
    assert problems[0].endswith("Fix: use numactl: interleave or none so the weights spread over more nodes, "
                                "or a smaller quantization")
    assert fit(facts, sglang(numactl="bind", numa_node=1), 60, {"memory_reserve_mb": 0}) == []


def test_memory_only_nodes_count_for_interleave_only_when_they_have_cpus(numa):
    facts = numa("xeon-2s-cxl-memory-only")
    nodes = dict((node["id"], node["memory_mb"]) for node in facts["nodes"])
    cpu_memory = sum(nodes[node] for node in facts["cpu_node_ids"]) / 1024.0
    assert fit(facts, legacy(numactl="interleave"), cpu_memory - 9) == []
    assert fit(facts, legacy(numactl="interleave"), cpu_memory - 7) != []


def test_unknown_sizes_and_hosts_without_node_memory_are_not_judged(numa):
    assert memory_fit_problems(resolve_instances([legacy()], numa("epyc-2s-nps2")), numa("epyc-2s-nps2"), {}, None) == []
    assert fit(numa("no-numa-kernel"), legacy(), 10000) == []
    assert instance_problems([legacy()], numa("epyc-2s-nps2"), {"memory_reserve_mb": -1}) == [
        "ktune_service_memory_reserve_mb = -1: expected whole MiB >= 0 (default 8192)"]


# --- journal excerpts shown on failure -----------------------------------------------


@pytest.mark.parametrize("line, leaked", [
    ("server_args=ServerArgs(model_path='/m', api_key='sk-live-1', host='127.0.0.1')", "sk-live-1"),
    ('{"api_key": "sk-live-2"}', "sk-live-2"),
    ("launch: --api-key sk-live-3 --port 30000", "sk-live-3"),
    ("ktransformers --api_key=sk-live-4", "sk-live-4"),
])
def test_journal_excerpts_lose_the_api_key(line, leaked):
    safe = redact_secrets(line)
    assert leaked not in safe and "<redacted>" in safe


def test_known_keys_are_redacted_wherever_they_appear():
    safe = redact_secrets("Authorization: Bearer sk-known\nother line", ["sk-known", None, ""])
    assert safe == "Authorization: Bearer <redacted>\nother line"


def test_judging_readers_get_instances_without_their_keys(numa):
    public = instances_without_secrets([sglang(api_key="sk-live-secret-1"), legacy(), "not-a-dict"])
    assert public[0]["api_key"] == "ktune-redacted-api-key" and "sk-live-secret-1" not in repr(public)
    assert public[1:] == [legacy(), "not-a-dict"]
    assert instances_without_secrets("sk-live-secret-1") == "ktune-redacted-api-key"
    # the placeholder still says "a key is set" to the judgements
    resolved = resolve_instances(public[:1], dict(numa("epyc-2s-nps2"), gpus=[ONE_GPU]), {"host": "0.0.0.0"})
    assert resolved[0]["api_key"] == "ktune-redacted-api-key"


def test_judging_readers_get_the_environments_names_not_its_values(numa):
    """A variable may hold a token (HF_TOKEN): the audit's module arguments show at -vvv."""
    environment = {"HF_TOKEN": "hf_live_secret_1", "OMP_NUM_THREADS": 10, "DEBUG": True}
    public = instances_without_secrets([sglang(environment=environment)])
    assert "hf_live_secret_1" not in repr(public)
    assert public[0]["environment"] == {"HF_TOKEN": "ktune-redacted-api-key", "OMP_NUM_THREADS": "ktune-redacted-api-key",
                                        "DEBUG": True}
    assert resolve_instances(public, dict(numa("epyc-2s-nps2"), gpus=[ONE_GPU]), {})[0]["environment"]["HF_TOKEN"]
    # a value the role refuses is still refused, without its text
    for refused in ('tok"en', "line\nbreak", ["a", "list"]):
        with pytest.raises(InstanceError) as failure:
            resolve_instances(instances_without_secrets([sglang(environment={"HF_TOKEN": refused})]),
                              dict(numa("epyc-2s-nps2"), gpus=[ONE_GPU]), {})
        assert "HF_TOKEN" in str(failure.value) and "tok" not in str(failure.value)


@pytest.mark.parametrize("home, paths", [
    ("/var/lib/kt%h", []),  # a systemd specifier in the unit file
    ("/var/lib/kt\n", []),  # a second line in the unit file
    ("/var/lib/ktransformers", ["/srv/%i"]),
    ("/var/lib/ktransformers", ["/srv/models\nExecStartPre=/bin/sh"]),
])
def test_paths_written_into_the_unit_refuse_specifiers_and_line_breaks(numa, home, paths):
    problems = instance_problems([legacy()], numa("epyc-2s-nps2"), {"home": home, "read_write_paths": paths})
    named = "ktune_service_home" if home != "/var/lib/ktransformers" else "ktune_service_read_write_paths"
    assert [problem for problem in problems if problem.startswith(named)], problems
    assert "(it goes into the unit file)" in " ".join(problems) or "(they go into the unit file)" in " ".join(problems)
