"""Write the monitoring scenario's fixture trees: tests/topologies.py trees plus the files
the collector reads that topologies.py does not write (thermal_throttle counters).

    python3 molecule/monitoring/fixtures.py OUT_DIR
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
import topologies  # noqa: E402

HOSTS = {"bmc": "epyc-2s-nps2", "nobmc": "epyc-2s-nps1"}


def add_thermal_throttle(tree, topology):
    cpus = tree / "sys/devices/system/cpu"
    for cpu in topology.online:
        throttle = cpus / ("cpu%d" % cpu) / "thermal_throttle"
        throttle.mkdir(parents=True, exist_ok=True)
        for name in ("core_throttle_count", "package_throttle_count", "core_power_limit_count",
                     "package_power_limit_count"):
            (throttle / name).write_text("0\n")
        (throttle / "package_throttle_total_time_ms").write_text("0\n")


def main(out):
    for host, name in HOSTS.items():
        topology = topologies.catalog()[name]
        tree = topologies.write_tree(topology, Path(out) / host)
        add_thermal_throttle(tree, topology)


if __name__ == "__main__":
    main(sys.argv[1])
