"""Memory bounds for tests that feed hostile host input to a reader.

memory_ceiling() lowers the process's address-space limit (RLIMIT_AS) for the duration of a
block, so a reader that tries to materialise gigabytes fails with MemoryError in the test
instead of taking the machine's memory. traced() measures the Python allocation peak of a call.
"""

import resource
import tracemalloc
from contextlib import contextmanager

MIB = 1024 * 1024


def _address_space_now():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("/proc/self/status has no VmSize line")


@contextmanager
def memory_ceiling(headroom_mib=256):
    """Let the block grow the address space by at most headroom_mib MiB."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = _address_space_now() + headroom_mib * MIB
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def traced(function, *args, **kwargs):
    """(result or the exception raised, peak bytes allocated by Python during the call)."""
    tracemalloc.start()
    try:
        try:
            outcome = function(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001  the caller asserts on it
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
