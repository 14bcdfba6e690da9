"""playbooks/baseline.yml end to end: real ansible-playbook runs against the streaming test server.

Two local hosts (ansible_connection: local) read fixture sysfs/procfs trees; each has its own
test server on 127.0.0.1 (the server counts requests, so a shared one would mix the curves).
gpu-a measures from the host, gpu-b from the controller (delegated). The working directory is
a temporary folder, so the default ktune_baseline_dir (ktune-baselines) lands there.
The curve is the users' one (15 -> 10.5 after 5 requests -> 9.75 after 10) at 20 times the rate.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import topologies
from fake_ktransformers.server import StreamPlan, bench_server, stop_bench_server
from ansible_collections.ktune.inference.plugins.module_utils.svg_allowlist import rebuild

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "baseline.yml"
HOSTS = ("gpu-a", "gpu-b")
FLAT = dict(tokens_per_s=300, ttft_s=0.01, fixed_length=True)
DEGRADING = dict(FLAT, degradation="1,0.7@5,0.65@10")
SVG = {"svg": "http://www.w3.org/2000/svg"}
API_KEYS = {"gpu-b": "gpu-b-key-0123"}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def servers(ports, **plan_settings):
    """One bench server per host on its fixed port (the URL stays the baseline's)."""
    running = []
    try:
        for host, port in ports.items():
            plan = StreamPlan(**plan_settings)
            server = bench_server(plan, "127.0.0.1", port, api_key=API_KEYS.get(host, ""))
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            running.append((server, plan, thread))
        yield dict(zip(ports, [plan for _port, plan, _process in running]))
    finally:
        for server, plan, thread in running:
            stop_bench_server(server, plan)
            thread.join(10)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Fixture trees, an environment file and an inventory; returns a playbook runner."""
    base = tmp_path_factory.mktemp("baseline")
    catalog = topologies.catalog()
    for name in ("epyc-2s-nps2", "epyc-2s-nps4"):
        topologies.write_tree(catalog[name], base / "fixtures" / name)
    for host in HOSTS:
        (base / "hosts").mkdir(exist_ok=True)
        (base / "hosts" / host).symlink_to(base / "fixtures/epyc-2s-nps2")
    (base / "environment").write_text('PATH="/usr/bin:/bin"\nUSE_NUMA=1\n')
    ports = dict((host, free_port()) for host in HOSTS)
    inventory = {"all": {
        "vars": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ktune_baseline_max_tokens": 24,
            "ktune_baseline_requests": 12,
            "ktune_baseline_timeout_s": 10,
            "ktune_baseline_environment_file": str(base / "environment"),
        },
        "hosts": dict((host, {
            "ktune_baseline_run_on": "host" if host == "gpu-a" else "controller",
            "ktune_sysfs_root": str(base / "hosts" / host / "sys"),
            "ktune_procfs_root": str(base / "hosts" / host / "proc"),
        }) for host in HOSTS),
    }}
    # gpu-a names its URL; gpu-b's comes from its first ktransformers instance (a wildcard
    # address, measured from the controller: ansible_host), with the instance's API key.
    inventory["all"]["hosts"]["gpu-a"]["ktune_baseline_url"] = "http://127.0.0.1:%d" % ports["gpu-a"]
    inventory["all"]["hosts"]["gpu-b"].update(ansible_host="127.0.0.1", ktune_service_instances=[
        {"name": "retired", "state": "absent", "model_path": "/srv/models/old", "port": free_port()},
        {"name": "r1", "model_path": "/srv/models/DeepSeek-R1", "port": ports["gpu-b"], "api_key": API_KEYS["gpu-b"],
         "host": "0.0.0.0"}])
    (base / "hosts.yml").write_text(json.dumps(inventory, indent=1))
    work = base / "work"
    work.mkdir()

    def run(*extra):
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(base / "hosts.yml"),
                   str(PLAYBOOK)] + list(extra)
        done = subprocess.run(command, check=False, cwd=work, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr

    run.base, run.work, run.ports = base, work, ports
    run.dir = work / "ktune-baselines"
    return run


def load(site, host, name):
    return json.loads((site.dir / host / name).read_text())


def chart_series(site, host):
    root = ET.parse(site.dir / host / "curve.svg").getroot()
    return dict((group.get("data-label"), [float(c.get("data-value")) for c in group.findall("svg:circle", SVG)])
                for group in root.iterfind(".//svg:g[@class='series']", SVG))


@pytest.fixture(scope="module")
def recorded(site):
    with servers(site.ports, **FLAT) as plans:
        rc, output = site()
    assert rc == 0, output
    assert all(plan.count == 12 for plan in plans.values())
    return output


def test_first_run_records_a_baseline_per_host(site, recorded):
    for host in HOSTS:
        baseline = load(site, host, "baseline.json")
        assert baseline["host"] == host
        assert baseline["run_on"] == ("host" if host == "gpu-a" else "controller")
        assert baseline["facts"]["layout"] == "NPS2"
        assert baseline["facts"]["governor"] == "powersave"  # the fixture's amd-pstate-epp policies
        assert baseline["facts"]["use_numa"] == "1"
        assert baseline["facts"]["cpus_online"] == 64
        assert baseline["settings"]["url"] == "http://127.0.0.1:%d" % site.ports[host]
        assert len(baseline["tokens_per_s"]) == 12
        assert 270 < sorted(baseline["tokens_per_s"])[6] < 330, baseline["tokens_per_s"]
        assert baseline["fingerprint"]["layout"] == "NPS2" and baseline["fingerprint"]["sockets"] == 2
        assert len(baseline["fingerprint"]["key"]) == 16
        assert set(baseline["percentiles"]) == {"tokens_per_s", "ttft_s", "tpot_s", "itl_s", "latency_s"}
        assert load(site, host, "last.json") == baseline
        assert chart_series(site, host) == {"baseline": baseline["tokens_per_s"]}
        assert "%s: recorded as the baseline in %s" % (host, site.dir / host / "baseline.json") in recorded


@contextlib.contextmanager
def host_tree(site, host, name):
    """Point the host's fixture tree at another topology for a while (a BIOS change)."""
    link = site.base / "hosts" / host
    link.unlink()
    link.symlink_to(site.base / "fixtures" / name)
    try:
        yield
    finally:
        link.unlink()
        link.symlink_to(site.base / "fixtures/epyc-2s-nps2")


def failure(output, host):
    """The one-line failure message of a host (the assert's msg, unfolded)."""
    flat = " ".join(output.split())
    start = flat.index("%s: " % host, flat.index("fatal: [%s]" % host))
    return flat[start:flat.index("Curve: ", start)]


def test_degrading_server_fails_each_host_naming_the_cause(site, recorded):
    before = dict((host, (site.dir / host / "baseline.json").read_text()) for host in HOSTS)
    with servers(site.ports, **DEGRADING), host_tree(site, "gpu-a", "epyc-2s-nps4"):
        rc, output = site()
    assert rc == 2, output
    gpu_a, gpu_b = failure(output, "gpu-a"), failure(output, "gpu-b")
    # Issue 26: another layout is another fingerprint: refused, naming what differs, not compared.
    assert "gpu-a: not compared with its baseline recorded" in gpu_a
    assert "found NUMA layout NPS2 -> NPS4" in gpu_a
    assert "slower than its baseline" not in gpu_a
    assert "% slower than its baseline recorded" in gpu_b
    assert "Key facts unchanged (layout NPS2, governor powersave, USE_NUMA 1)" in gpu_b
    assert "Within this run: tokens/s fell 3" in gpu_b
    for host in HOSTS:
        last = load(site, host, "last.json")
        speeds = last["tokens_per_s"]
        assert sorted(speeds[:3])[1] == pytest.approx(300, rel=0.1), speeds
        assert sorted(speeds[5:8])[1] == pytest.approx(210, rel=0.1), speeds
        assert sum(speeds[-2:]) / 2 == pytest.approx(195, rel=0.1), speeds
        assert last["degradation_pct"] == pytest.approx(35, abs=6)
        assert (site.dir / host / "baseline.json").read_text() == before[host]
        series = chart_series(site, host)
        assert series["latest"] == speeds and series["baseline"] == load(site, host, "baseline.json")["tokens_per_s"]


def test_a_software_upgrade_is_another_fingerprint(site, recorded):
    """The same hardware and a flat curve, but a new ktransformers: refused, naming the version change."""
    with servers(site.ports, **FLAT):
        rc, output = site("-l", "gpu-b", "-e", '{"ktune_baseline_fingerprint_extra": {"ktransformers": "0.3.3"}}')
    assert rc == 2, output
    message = failure(output, "gpu-b")
    assert "gpu-b: not compared with its baseline recorded" in message
    assert "found software ktransformers unset -> 0.3.3" in message
    last, baseline = load(site, "gpu-b", "last.json"), load(site, "gpu-b", "baseline.json")
    assert last["fingerprint"]["key"] != baseline["fingerprint"]["key"]
    assert last["fingerprint"]["layout"] == baseline["fingerprint"]["layout"] == "NPS2"


def test_flat_server_passes_the_comparison(site, recorded):
    with servers(site.ports, **FLAT):
        rc, output = site()
    assert rc == 0, output
    for host in HOSTS:
        assert "%s: within 15.0%% of its baseline" % host in output
        assert load(site, host, "last.json")["passed"] is True


def test_check_mode_compares_without_writing_and_a_missing_baseline_fails_first(site, recorded):
    """--check: gpu-b measures, compares and fails, nothing is written; gpu-a has no baseline and
    fails before sending a request."""
    moved = site.base / "gpu-a-baseline.json"
    (site.dir / "gpu-a" / "baseline.json").rename(moved)
    files = dict((path, path.read_bytes()) for path in site.dir.glob("*/*"))
    try:
        with servers(site.ports, **DEGRADING) as plans:
            rc, output = site("--check", "-e", "ktune_baseline_mode=compare")
        after = dict((path, path.read_bytes()) for path in site.dir.glob("*/*"))
    finally:
        moved.rename(site.dir / "gpu-a" / "baseline.json")
    assert rc == 2, output
    assert plans["gpu-b"].count == 12 and plans["gpu-a"].count == 0
    assert "% slower than its baseline recorded" in failure(output, "gpu-b")
    assert ("gpu-a: ktune_baseline_mode is compare, but there is no baseline at %s/gpu-a/baseline.json"
            % site.dir) in " ".join(output.split())
    assert after == files


def test_bad_input_fails_before_any_request(site):
    with servers(site.ports, **FLAT) as plans:
        rc, output = site("-l", "gpu-a", "-e", "ktune_baseline_requests=0", "-e", "ktune_baseline_max_regression_pct=150",
                          "-e", "ktune_baseline_url=gpu-a:10002")
    flat = " ".join(output.split())
    assert rc == 2, output
    # Extra vars arrive as strings, hence the quotes.
    assert "gpu-a: ktune_baseline_max_regression_pct = '150': expected a percentage from 0 to 100" in flat
    assert "ktune_baseline_requests = '0': expected at least 1" in flat
    assert "ktune_baseline_url = 'gpu-a:10002': expected an http(s) base URL" in flat
    assert plans["gpu-a"].count == 0


def test_a_loopback_instance_is_not_measured_from_the_controller(site):
    """The service role's instances listen on 127.0.0.1 by default: from the controller that address
    is the controller itself, so the run refuses rather than measure the wrong server."""
    loopback = json.dumps({"ktune_service_instances": [{"name": "r1", "model_path": "/srv/models/DeepSeek-R1",
                                                        "port": site.ports["gpu-b"]}]})
    with servers(site.ports, **FLAT) as plans:
        rc, output = site("-l", "gpu-b", "-e", loopback)
    flat = " ".join(output.split())
    assert rc == 2, output
    assert ("gpu-b: the first instance of ktune_service_instances listens on loopback only (http://127.0.0.1:%d on "
            "the host), and ktune_baseline_run_on is controller" % site.ports["gpu-b"]) in flat
    assert plans["gpu-b"].count == 0


def test_open_loop_slo_gate_records_then_fails_a_serving_regression(site, recorded, tmp_path):
    """Open loop at 20 requests/s against an SLO: recorded once, then a server whose prefill
    (TTFT) is four times slower fails the gate on goodput and p99 TTFT, not on tokens/s."""
    options = ["-l", "gpu-a", "-e", "ktune_baseline_dir=%s" % tmp_path, "-e",
               json.dumps({"ktune_baseline_request_rate": 20, "ktune_baseline_arrival_seed": 3,
                           "ktune_baseline_slo": {"ttft_s": 0.15, "tpot_s": 0.05}})]
    quick_prefill, slow_prefill = dict(FLAT), dict(FLAT)
    quick_prefill["ttft_s"], slow_prefill["ttft_s"] = 0.02, 0.12
    with servers(site.ports, **quick_prefill) as plans:
        rc, output = site(*options)
    assert rc == 0, output
    assert plans["gpu-a"].count == 12
    baseline = json.loads((tmp_path / "gpu-a" / "baseline.json").read_text())
    assert baseline["slo_judgement"]["passed"] is True and baseline["slo_judgement"]["good_fraction"] == 1.0
    assert baseline["fingerprint"]["load"]["request_rate"] == 20
    assert len(baseline["sent_s"]) == 12
    with servers(site.ports, **slow_prefill):
        rc, output = site(*options)
    assert rc == 2, output
    message = failure(output, "gpu-a")
    assert "gpu-a: serving latencies regressed against its baseline recorded" in message
    assert "p99 ttft_s rose" in message


def with_prefill(seconds):
    settings = dict(FLAT)
    settings["ttft_s"] = seconds
    return settings


def test_repeated_runs_with_warmup_are_judged_with_a_stated_confidence(site, recorded, tmp_path):
    """Three repetitions of 2 warm-up + 12 measured requests at 20/s: the same server passes
    the gate with the confidence named, a server with a slower prefill fails it."""
    options = ["-l", "gpu-a", "-e", "ktune_baseline_dir=%s" % tmp_path, "-e",
               json.dumps({"ktune_baseline_request_rate": 20, "ktune_baseline_arrival_seed": 3,
                           "ktune_baseline_repetitions": 3, "ktune_baseline_warmup_requests": 2,
                           "ktune_baseline_max_degradation_pct": 90,
                           "ktune_baseline_slo": {"ttft_s": 1.0, "tpot_s": 0.2}})]
    quick_prefill, slow_prefill = with_prefill(0.02), with_prefill(0.5)
    with servers(site.ports, **quick_prefill) as plans:
        rc, output = site(*options)
    assert rc == 0, output
    assert plans["gpu-a"].count == 3 * (2 + 12)
    baseline = json.loads((tmp_path / "gpu-a" / "baseline.json").read_text())
    assert [item["arrival_seed"] for item in baseline["repetitions"]] == [3, 4, 5]
    assert baseline["warmup"] == {"requests": 2, "failed_requests": 0} and len(baseline["ttft_s"]) == 12
    assert baseline["fingerprint"]["load"]["warmup_requests"] == 2 and "repetitions" not in baseline["fingerprint"]["load"]
    # The pass is judged with a wide margin: the unit tests (test_confidence.py) pin the noise
    # property; here the wiring, on a machine whose scheduling jitter is not ours to bound.
    with servers(site.ports, **quick_prefill):
        rc, output = site(*(options + ["-e", "ktune_baseline_max_regression_pct=60"]))
    assert rc == 0, output
    shown = " ".join(output.split()).replace("''", "'")  # the debug list item is single-quoted YAML
    assert "gpu-a: no regression beyond 60.0% and the run-to-run spread (3 runs against the baseline's 3, " \
           "95% confidence)" in shown, output
    with servers(site.ports, **slow_prefill):
        rc, output = site(*options)
    assert rc == 2, output
    message = failure(output, "gpu-a")
    assert "gpu-a: regressed against its baseline recorded " in message
    assert "(3 runs against the baseline's 3, 95% confidence)" in message and "p99 ttft_s rose " in message


def test_a_sweep_records_the_knee_and_draws_the_slo_curve(site, recorded, tmp_path):
    """One slot of about 0.1 s serves about 10 requests/s: 1 and 2 per second meet a 0.45 s
    p99 TTFT, 40 per second queues beyond it (the 8th request waits about 0.6 s)."""
    options = ["-l", "gpu-a", "-e", "ktune_baseline_dir=%s" % tmp_path, "-e",
               json.dumps({"ktune_baseline_request_rates": [1, 2, 40], "ktune_baseline_arrival_seed": 3,
                           "ktune_baseline_requests": 8, "ktune_baseline_slo": {"ttft_s": 0.45}})]
    with servers(site.ports, slots=1, **FLAT) as plans:
        rc, output = site(*options)
    assert rc == 0, output
    assert plans["gpu-a"].count == 3 * 8
    baseline = json.loads((tmp_path / "gpu-a" / "baseline.json").read_text())
    assert baseline["knee_rps"] == 2 and [point["request_rate"] for point in baseline["sweep"]] == [1, 2, 40]
    assert baseline["fingerprint"]["load"]["request_rates"] == [1, 2, 40]
    assert "sweep: the highest rate within the SLO is 2.0 requests/s (1.0, 2.0, 40.0)" in output
    svg = (tmp_path / "gpu-a" / "slo-curve.svg").read_text()
    root = ET.fromstring(svg)
    points = root.findall(".//svg:g[@data-label='ttft_s']/svg:circle", SVG)
    assert [float(point.get("data-rate")) for point in points] == [1, 2, 40]
    assert root.find(".//svg:g[@class='knee']", SVG).get("data-rate") == "2"
    assert rebuild(svg).count("<circle") == 3  # the audit page's allow-list keeps the whole chart


def test_a_new_host_is_judged_against_its_fingerprints_fleet_baseline(site, recorded, tmp_path):
    """gpu-a records the fleet baseline of the fingerprint both hosts share; gpu-b, which never
    recorded, is compared with it: as fast passes, a slower prefill fails naming the fleet."""
    options = ["-e", "ktune_baseline_dir=%s" % tmp_path, "-e",
               json.dumps({"ktune_baseline_scope": "fleet", "ktune_baseline_request_rate": 20,
                           "ktune_baseline_arrival_seed": 3, "ktune_baseline_repetitions": 2,
                           "ktune_baseline_max_degradation_pct": 90, "ktune_baseline_slo": {"ttft_s": 1.0}})]
    quick_prefill, slow_prefill = with_prefill(0.02), with_prefill(0.5)
    with servers(site.ports, **quick_prefill):
        rc, output = site(*(["-l", "gpu-a"] + options))
    assert rc == 0, output
    fleet_runs = list((tmp_path / "fleet").glob("*/*.json"))
    assert [path.name for path in fleet_runs] == ["gpu-a.json"]
    key = fleet_runs[0].parent.name
    assert json.loads(fleet_runs[0].read_text())["fingerprint"]["key"] == key
    with servers(site.ports, **quick_prefill):
        rc, output = site(*(["-l", "gpu-b", "-e", "ktune_baseline_max_regression_pct=60"] + options))
    assert rc == 0, output
    assert "gpu-b: no regression beyond 60.0% and the run-to-run spread (2 runs against the" in " ".join(output.split()), output
    assert not (tmp_path / "gpu-b" / "baseline.json").exists()  # compared, not recorded
    with servers(site.ports, **slow_prefill):
        rc, output = site(*(["-l", "gpu-b"] + options))
    assert rc == 2, output
    message = failure(output, "gpu-b")
    assert "gpu-b: regressed against its baseline recorded " in message
    assert "by the fleet of fingerprint " + key + " (gpu-a) (2 runs against the baseline's 2, 95% confidence)" in message
    assert "p99 ttft_s rose " in message
