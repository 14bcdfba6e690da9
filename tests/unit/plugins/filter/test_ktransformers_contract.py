"""Contract tests: the command lines and config the role generates, against upstream's released code.

The parsers are rebuilt from the option lists tests/upstream/derive.py took from the released
packages (tests/fixtures/upstream/*.json, provenance inside; `derive.py verify` in CI re-derives
them from the wheels): sglang-kt 0.7.2 (ktransformers' fork), sgl-project sglang 0.5.23,
kt-kernel 0.7.2 and the archived legacy ktransformers server 0.4.1.
"""

import itertools
from pathlib import Path

import pytest
import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ansible_collections.ktune.inference.plugins.filter.ktransformers import FilterModule
from ansible_collections.ktune.inference.plugins.module_utils.cpulist import format_cpulist, parse_cpulist
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import (
    ATTENTION_BACKENDS,
    KT_METHOD_ISA,
    KT_METHODS,
    instance_problems,
)
from upstream.parsers import UpstreamRefused, legacy_args, load, sglang_args, upstream_parser

FILTERS = FilterModule().filters()
SGLANG_KT = "sglang-kt-0.7.2"
SGLANG = "sglang-0.5.23"
LEGACY = "ktransformers-legacy-0.4.1"
KT_KERNEL = "kt-kernel-0.7.2"
PARSERS = {}

TOPOLOGIES = ["epyc-2s-nps2", "epyc-2s-nps4", "epyc-2s-nps1", "xeon-2s-cxl-memory-only", "epyc-2s-nps1-hbm-sparse",
              "xeon-2s-snc2-interleaved", "epyc-2s-nps2-memoryless", "vm-1node-no-cpufreq", "no-numa-kernel"]
ALL_FLAGS = ["avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "amx_bf16", "amx_int8", "amx_tile"]


def parser(name):
    if name not in PARSERS:
        PARSERS[name] = upstream_parser(name)
    return PARSERS[name]


def facts(numa, name, gpus=2):
    """The ktune_numa facts of a catalog host, with the cpu_flags and gpus keys numa_facts adds."""
    result = dict(numa(name))
    result["cpu_flags"] = list(ALL_FLAGS)
    nodes = result.get("cpu_node_ids") or [-1]
    result["gpus"] = [{"address": "0000:%02x:00.0" % (0x41 + index), "vendor": "0x10de", "device": "0x2684",
                       "numa_node": nodes[-1] if index == 0 else nodes[0]} for index in range(gpus)]
    return result


def sglang(**extra):
    instance = {"name": "k2", "backend": "sglang", "model_path": "/srv/models/k2",
                "kt_weight_path": "/srv/models/k2-cpu"}
    instance.update(extra)
    return instance


def legacy(**extra):
    instance = {"name": "r1", "model_path": "/srv/models/r1", "gguf_path": "/srv/models/r1-gguf"}
    instance.update(extra)
    return instance


TUTORIAL = dict(chunked_prefill_size=4096, mem_fraction_static=0.98, max_running_requests=32,
                max_total_tokens=40000, trust_remote_code=True, served_model_name="DeepSeek-V3",
                watchdog_timeout=3000, tensor_parallel_size=2, cuda_visible_devices=[0, 1],
                attention_backend="flashinfer", enable_metrics=True, kt_num_gpu_experts=8)
SGLANG_CASES = {
    "defaults": {},
    "tutorial": TUTORIAL,
    "tutorial-no-metrics": dict(TUTORIAL, enable_metrics=False, trust_remote_code=False, kt_method="RAWINT4"),
    "bind": dict(numactl="bind", kt_method="AMXINT8"),
    "bind-gpu1": dict(numactl="bind", cuda_visible_devices=[1], kt_method="LLAMAFILE"),
    "interleave": dict(numactl="interleave", max_total_tokens=8192),
    "one-pool": dict(kt_threadpool_count=1, kt_method="BF16"),
    "host-open": dict(host="0.0.0.0", port=30123, extra_args=["--enable-mixed-chunk"]),
}
FORK_ONLY = {"fork-ratio": dict(kt_gpu_experts_ratio=0.25)}
LEGACY_CASES = {
    "defaults": {},
    "serve-rule": dict(optimize_config_path="/srv/rules/DeepSeek-V3-Chat-serve.yaml", force_think=True),
    "bind": dict(numactl="bind", cpu_infer=4, max_new_tokens=512, cache_lens=8192, max_batch_size=2),
    "interleave": dict(numactl="interleave", backend_type="ktransformers", served_model_name="DeepSeek-R1"),
    "host-open": dict(host="0.0.0.0", port=10102, chunk_size=512, extra_args=["--use_cuda_graph"]),
}


def generated(instance, numa_facts, settings=None):
    """(problems, instances) the role's filters give: every argv is exactly what systemd runs."""
    problems = FILTERS["ktransformers_problems"]([instance], numa_facts, settings)
    if problems:
        return problems, []
    return [], FILTERS["ktransformers_instances"]([instance], numa_facts, settings)


def applicable(name, case):
    """Cases a host cannot take (numactl on a host without NUMA, 2 GPUs for TP 2) are refused, not generated."""
    return not (name == "no-numa-kernel" and case.get("numactl") in ("bind", "interleave"))


def _parse_sglang(name, instance):
    words = sglang_args(instance["argv"])
    parsed = parser(name).parse(words)
    # The launcher appends --config FILE when an API key is set: the line must take it too.
    parser(name).parse(words + ["--config", "/run/ktransformers-k2/sglang-secrets.yaml"])
    return parsed


# --- the fixtures are upstream's ----------------------------------------------------------


@pytest.mark.parametrize("name", [SGLANG_KT, SGLANG, KT_KERNEL, LEGACY])
def test_fixtures_name_their_upstream_source(name):
    fixture = load(name)
    assert fixture["package"] in ("sglang-kt", "sglang", "kt-kernel", "ktransformers")
    assert fixture["version"] and fixture["origin"] and fixture["files"]
    if fixture["kind"] != "legacy":
        assert len(fixture["artifact_sha256"]) == 64 and fixture["artifact"].endswith(".whl")


def test_the_rebuilt_parser_takes_the_line_kt_run_builds():
    """kt-kernel's own `kt run` line parses with the rebuilt sglang-kt parser, and sgl-project refuses
    the fork's flags on it: the rebuilt parsers tell the two releases apart as upstream does."""
    flags = load(KT_KERNEL)["kt_run_flags"]
    assert set(flags) <= parser(SGLANG_KT).options
    assert {"--kt-numa-nodes", "--kt-gpu-prefill-token-threshold"} <= set(flags) - parser(SGLANG).options
    line = ["--host", "0.0.0.0", "--port", "30000", "--model", "/m", "--kt-weight-path", "/w", "--kt-cpuinfer", "64",
            "--kt-threadpool-count", "2", "--kt-num-gpu-experts", "1", "--kt-method", "AMXINT4",
            "--kt-numa-nodes", "0", "1", "--attention-backend", "flashinfer", "--trust-remote-code",
            "--mem-fraction-static", "0.98", "--watchdog-timeout", "3000", "--tensor-parallel-size", "1"]
    assert parser(SGLANG_KT).parse(line).kt_numa_nodes == [0, 1]
    with pytest.raises(UpstreamRefused, match="unrecognized arguments: --kt-numa-nodes 0 1"):
        parser(SGLANG).parse(line)
    with pytest.raises(UpstreamRefused, match="invalid int value"):
        parser(SGLANG_KT).parse(["--model-path", "/m", "--kt-cpuinfer", "many"])


def test_kt_methods_are_kt_kernels_inference_methods():
    assert sorted(KT_METHODS) == load(KT_KERNEL)["inference_methods"]
    assert set(KT_METHOD_ISA) <= set(KT_METHODS)


@pytest.mark.parametrize("name", [SGLANG_KT, SGLANG])
def test_attention_backends_are_accepted_by_both_variants(name):
    choices = [option for option in load(name)["options"] if "--attention-backend" in option["names"]][0]["choices"]
    assert set(ATTENTION_BACKENDS) <= set(choices)


# --- every generated command line parses with the release it runs on -----------------------


@pytest.mark.parametrize("name, case", list(itertools.product(TOPOLOGIES, sorted(SGLANG_CASES) + sorted(FORK_ONLY))))
def test_sglang_kt_lines_parse_with_the_pinned_fork(numa, name, case):
    options = dict(SGLANG_CASES, **FORK_ONLY)[case]
    problems, instances = generated(sglang(**options), facts(numa, name))
    if not applicable(name, options):
        assert any("numactl" in problem for problem in problems)
        return
    assert problems == []
    instance = instances[0]
    parsed = _parse_sglang(SGLANG_KT, instance)
    assert parsed.model_path == instance["model_path"]
    assert parsed.kt_cpuinfer == instance["kt_cpuinfer"]
    assert parsed.kt_threadpool_count == instance["kt_threadpool_count"]
    assert parsed.kt_num_gpu_experts == instance["kt_num_gpu_experts"]
    assert parsed.kt_method == instance["kt_method"]
    assert parsed.host == instance["host"] and parsed.port == instance["port"]
    # kt-kernel maps pool i to node i: the fork gets the nodes only when they differ from that
    nodes = instance["kt_numa_nodes"]
    assert parsed.kt_numa_nodes == (nodes if nodes != list(range(len(nodes))) else None)


@pytest.mark.parametrize("name, case", list(itertools.product(TOPOLOGIES, sorted(SGLANG_CASES))))
def test_lines_that_claim_sgl_project_sglang_parse_with_it(numa, name, case):
    options = dict(SGLANG_CASES[case], sglang_variant="sglang")
    problems, instances = generated(sglang(**options), facts(numa, name))
    if not applicable(name, options):
        assert any("numactl" in problem for problem in problems)
        return
    if problems:
        # Only the fork can put pools on other nodes than 0..n-1: that is refused, naming the fix.
        assert all("sgl-project sglang has no --kt-numa-nodes" in problem for problem in problems), problems
        return
    for release in (SGLANG, SGLANG_KT):
        parsed = _parse_sglang(release, instances[0])
        assert parsed.kt_num_gpu_experts == instances[0]["kt_num_gpu_experts"]


def test_sgl_project_refuses_what_the_old_code_wrote(numa):
    """The line of the code before this change (--kt-numa-nodes on every line) fails on sglang 0.5.23."""
    instance = FILTERS["ktransformers_instances"]([sglang(sglang_variant="sglang")], facts(numa, "epyc-2s-nps2"))[0]
    old = sglang_args(instance["argv"]) + ["--kt-numa-nodes", "0", "1", "2", "3"]
    with pytest.raises(UpstreamRefused, match="unrecognized arguments: --kt-numa-nodes"):
        parser(SGLANG).parse(old)


def test_the_fork_only_ratio_is_refused_for_sgl_project(numa):
    problems = instance_problems([sglang(sglang_variant="sglang", kt_gpu_experts_ratio=0.5)],
                                 facts(numa, "epyc-2s-nps2"))
    assert problems == ["ktune_service_instances[0] (k2): kt_gpu_experts_ratio is only in sglang-kt: sgl-project "
                        "sglang refuses --kt-gpu-experts-ratio. Fix: set kt_num_gpu_experts instead, or "
                        "sglang_variant: sglang-kt"]


@pytest.mark.parametrize("name, case", list(itertools.product(TOPOLOGIES, sorted(LEGACY_CASES))))
def test_legacy_lines_parse_with_the_v0_4_1_server(numa, name, case):
    options = LEGACY_CASES[case]
    problems, instances = generated(legacy(**options), facts(numa, name))
    if not applicable(name, options):
        assert any("numactl" in problem for problem in problems)
        return
    assert problems == []
    instance = instances[0]
    parsed = parser(LEGACY).parse(legacy_args(instance["argv"], instance["executable"]))
    assert parsed.model_path == instance["model_path"] and parsed.gguf_path == instance["gguf_path"]
    assert parsed.cpu_infer == instance["cpu_infer"] and parsed.port == instance["port"]
    assert parsed.cache_lens == instance["cache_lens"] and parsed.backend_type == instance["backend_type"]
    assert parsed.model_name == (options.get("served_model_name") or "r1")  # the id /v1/models answers
    assert parsed.host == instance["host"]


# --- the legacy config.yaml carries every key upstream reads ---------------------------------


def render_config(home="/var/lib/ktransformers", instances=None):
    role = Environment(loader=FileSystemLoader("roles/ktransformers_service/templates"), undefined=StrictUndefined)
    template = role.get_template("ktransformers-config.yaml.j2")
    return yaml.safe_load(template.render(
        ktune_service_home=home, lookup=lambda *args, **kwargs: "0" * 64,
        ktransformers_service_resolved=instances or [{"state": "present", "backend": "legacy", "name": "r1",
                                                      "served_model_name": None, "port": 10002,
                                                      "host": "127.0.0.1", "model_path": "/srv/models/r1",
                                                      "gguf_path": "/srv/models/r1-gguf"}]))


def _has(config, dotted):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_the_seeded_config_has_every_key_upstream_reads(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[4])
    config = render_config()
    missing = [key for key in load(LEGACY)["config_keys"] if not _has(config, key)]
    assert missing == []
    assert config["kvc2"]["disk_path"].startswith("/var/lib/ktransformers/")  # the unit may write under HOME only
    assert config["model"]["name"] == "r1"  # /v1/models answers with an id
    assert config["server"]["ip"] == "127.0.0.1"


def test_the_role_documents_the_same_methods_and_defaults(monkeypatch):
    """One truth: the role's argument_specs and defaults say what the Python derivation does."""
    from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import DEFAULT_SETTINGS

    root = Path(__file__).resolve().parents[4] / "roles" / "ktransformers_service"
    specs = yaml.safe_load((root / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    fields = specs["ktune_service_instances"]["options"]
    assert fields["kt_method"]["choices"] == list(KT_METHODS)
    defaults = yaml.safe_load((root / "defaults" / "main.yml").read_text())
    for backend in ("legacy", "sglang"):
        key = "ktune_service_%s_defaults" % backend
        assert defaults[key] == DEFAULT_SETTINGS["%s_defaults" % backend] == specs[key]["default"]
    assert defaults["ktune_service_host"] == DEFAULT_SETTINGS["host"] == specs["ktune_service_host"]["default"]


# --- sharded serving: every replica's line parses with the release it runs on ---------------

SHARDED_TOPOLOGIES = [name for name in TOPOLOGIES if name != "no-numa-kernel"] + ["xeon-1s-snc3", "epyc-2s-nps2"]


def _socket_layout_known(facts_of_host):
    """Every node that can take a replica (CPUs and memory) sits in one socket."""
    return all(len(node.get("socket_ids") or []) == 1 for node in facts_of_host["nodes"]
               if node.get("cpus") and node.get("memory_mb"))


@pytest.mark.parametrize("name, layout", list(itertools.product(sorted(set(SHARDED_TOPOLOGIES)),
                                                                ["per_numa_node", "per_socket"])))
def test_every_sglang_kt_replica_line_parses_with_the_fork(numa, name, layout):
    host = facts(numa, name, gpus=0)
    problems, replicas = generated(sglang(replicas=layout), host)
    if layout == "per_socket" and not _socket_layout_known(host):
        assert any("spans sockets" in problem for problem in problems)
        return
    assert problems == []
    assert len(replicas) == (len(host["cpu_node_ids"]) - len(host["memoryless_cpu_nodes"])
                             if layout == "per_numa_node" else len(host["socket_ids"]))
    taken = set()
    for replica in replicas:
        parsed = _parse_sglang(SGLANG_KT, replica)
        nodes = replica["numa_nodes"]
        assert parsed.port == replica["port"] and parsed.kt_threadpool_count == len(nodes)
        # The fork gets the nodes unless kt-kernel's own pool i -> node i already puts them there.
        assert parsed.kt_numa_nodes == (nodes if nodes != list(range(len(nodes))) else None)
        cpus = set(parse_cpulist(replica["numactl_argv"][1].split("=", 1)[1]))
        assert parsed.kt_cpuinfer <= len(cpus) and not cpus & taken
        taken |= cpus
        assert replica["numactl_argv"][2] == "--membind=%s" % format_cpulist(nodes)
    assert [replica["port"] for replica in replicas] == list(range(30001, 30001 + len(replicas)))


@pytest.mark.parametrize("name", ["epyc-2s-nps2", "epyc-2s-nps4", "xeon-2s-cxl-memory-only", "epyc-2s-nps1-hbm-sparse"])
def test_every_legacy_replica_line_parses_with_the_v0_4_1_server(numa, name):
    problems, replicas = generated(legacy(replicas="per_numa_node"), facts(numa, name, gpus=0))
    assert problems == [] and len(replicas) > 1
    for replica in replicas:
        parsed = parser(LEGACY).parse(legacy_args(replica["argv"], replica["executable"]))
        assert parsed.port == replica["port"] and parsed.cpu_infer == replica["cpu_infer"]
        assert parsed.model_name == replica["name"]
