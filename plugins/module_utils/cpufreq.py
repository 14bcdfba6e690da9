# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPU frequency policies under ``<root>/devices/system/cpu/cpufreq``.

Pure helpers shared by the ``cpufreq`` module (and usable by a fact module):
reading policies, validating a request against what each policy offers,
predicting and applying changes, and summarising them for ``--diff``.

A policy is a dict built by :func:`read_policy`; its ``state`` sub-dict
(``governor``, ``epp``, ``min_freq_khz``) is what the module sets and reports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

try:
    from ansible_collections.ktune.inference.plugins.module_utils.sysfs import (
        CONFIG_FILE_LIMIT,
        CPUINFO_BLOCK_LIMIT,
        HostFileError,
        numbered_entries,
        read_first_block,
        read_head,
        read_int,
        read_optional,
        read_text,
        under,
        write_text,
    )
    from ansible_collections.ktune.inference.plugins.module_utils.cpulist import (
        CpulistError,
        format_cpulist,
        parse_cpulist,
    )
except ImportError:  # installed on a host next to the monitoring collector, outside the collection
    from sysfs import (CONFIG_FILE_LIMIT, CPUINFO_BLOCK_LIMIT, HostFileError, numbered_entries, read_first_block,
                       read_head, read_int, read_optional, read_text, under, write_text)
    from cpulist import CpulistError, format_cpulist, parse_cpulist

CPUFREQ_DIR = "devices/system/cpu/cpufreq"

# Drivers that run their own algorithm ("active mode") and only offer the
# performance and powersave governors; with ``performance`` they hold EPP at
# ``performance`` and answer EBUSY to any other EPP.
ACTIVE_MODE_DRIVERS = frozenset(["intel_pstate", "amd-pstate-epp"])

# State keys, the file each one lives in, in the order they must be written:
# the governor first (an active-mode driver resets EPP when it changes), then
# EPP, then the minimum frequency.
STATE_FILES = (
    ("governor", "scaling_governor"),
    ("epp", "energy_performance_preference"),
    ("min_freq_khz", "scaling_min_freq"),
)
STATE_KEYS = tuple(key for key, dummy in STATE_FILES)
FILE_OF = dict(STATE_FILES)


class CpufreqError(Exception):
    """A request that cannot be applied; the message names policies and files."""


class ApplyError(Exception):
    """A write failed part-way.

    ``changed`` lists the policies with at least one file written before the failure
    (including the policy whose later file failed); ``restore_policies`` and
    ``restore_boost`` then put them back and say so in the message.
    """

    def __init__(self, cause, changed, boost_changed=False):
        self.cause = cause
        self.changed = sorted(set(changed))
        self.boost_changed = boost_changed
        super(ApplyError, self).__init__("%s (%s)" % (cause, self.done_text()))

    def done_text(self):
        if self.changed:
            done = "policies already changed: %s" % policy_label(self.changed)
        else:
            done = "no policy had been changed"
        if self.boost_changed:
            done += "; boost had been changed"
        return done


def cpufreq_dir(root):
    """Return the cpufreq directory below a sysfs root."""
    return under(root, CPUFREQ_DIR)


def policy_numbers(root):
    """Return the sorted policy numbers (sparse on many hosts); [] without cpufreq."""
    return numbered_entries(cpufreq_dir(root), "policy")


def policy_label(numbers):
    """Name a group of policies: ``policy3`` or ``policy0-383 (384 policies)``."""
    numbers = sorted(set(numbers))
    label = "policy%s" % format_cpulist(numbers)
    if len(numbers) > 1:
        label += " (%d policies)" % len(numbers)
    return label


def _read_words(path, optional=False):
    text = read_optional(path) if optional else read_text(path)
    if text is None:
        return None
    return text.split()


def _read_cpus(path):
    """Read affected_cpus/related_cpus (space separated ids) as sorted ids."""
    text = read_optional(path)
    if text is None:
        return None
    try:
        return parse_cpulist(",".join(text.split()))
    except CpulistError as exc:
        raise HostFileError(path, "expected CPU ids, found %r (%s)" % (text[:80], exc))


def _read_governor(path):
    """Return scaling_governor, or None when the kernel answers EBUSY.

    The kernel answers EBUSY to every read of an inactive policy (all of its
    CPUs offline, e.g. SMT switched off at run time).
    """
    try:
        return read_text(path)
    except HostFileError as exc:
        if exc.errno == errno.EBUSY:
            return None
        raise


def read_state(path):
    """Read the settable state of the policy directory ``path``."""
    return {
        "governor": read_text(os.path.join(path, "scaling_governor")),
        "epp": read_optional(os.path.join(path, "energy_performance_preference")),
        "min_freq_khz": read_int(os.path.join(path, "scaling_min_freq"), optional=True),
    }


def read_policy(root, number):
    """Return one policy as a dict; raise HostFileError naming a bad file.

    Keys: ``number``, ``path``, ``active`` (False when the kernel refuses to
    show an inactive policy; the other values are then None/empty), ``driver``,
    ``cpus`` (ids), ``governors``, ``epp_choices`` (None without EPP),
    ``cpuinfo_min_khz``/``cpuinfo_max_khz`` (None when absent) and ``state``.
    """
    path = under(cpufreq_dir(root), "policy%d" % number)
    join = os.path.join
    policy = {
        "number": number,
        "path": path,
        "active": True,
        "driver": None,
        "cpus": [],
        "governors": [],
        "epp_choices": None,
        "cpuinfo_min_khz": None,
        "cpuinfo_max_khz": None,
        "state": dict((key, None) for key in STATE_KEYS),
    }
    governor = _read_governor(join(path, "scaling_governor"))
    if governor is None:
        policy["active"] = False
        return policy
    cpus = _read_cpus(join(path, "affected_cpus"))
    if cpus is None:
        cpus = _read_cpus(join(path, "related_cpus"))
    policy.update(
        driver=read_text(join(path, "scaling_driver")),
        cpus=cpus or [],
        governors=_read_words(join(path, "scaling_available_governors")),
        epp_choices=_read_words(join(path, "energy_performance_available_preferences"), optional=True),
        cpuinfo_min_khz=read_int(join(path, "cpuinfo_min_freq"), optional=True),
        cpuinfo_max_khz=read_int(join(path, "cpuinfo_max_freq"), optional=True),
    )
    policy["state"] = read_state(path)
    return policy


def read_policies(root):
    """Return every policy below root, in policy-number order."""
    return [read_policy(root, number) for number in policy_numbers(root)]


def read_boost(root):
    """Return the global boost switch as a bool, or None when absent."""
    path = under(cpufreq_dir(root), "boost")
    text = read_optional(path)
    if text is None:
        return None
    if text not in ("0", "1"):
        raise HostFileError(path, "expected 0 or 1, found %r" % text[:80])
    return text == "1"


def is_active_mode(policy):
    return policy["driver"] in ACTIVE_MODE_DRIVERS


def in_active_mode(policies):
    """Whether the host's cpufreq runs in active mode: every active policy's driver does (the
    host fact the EPP rule depends on; the audit and the monitoring collector read it here)."""
    return bool(policies) and all(is_active_mode(policy) for policy in policies)


def policy_problems(policy, request):
    """Return why ``request`` cannot be applied to ``policy`` ([] when it can).

    ``request`` has the keys ``governor``, ``epp`` and ``min_freq_khz`` (None
    means "leave alone").  The messages leave out the policy name so that
    identical problems of many policies can be grouped.
    """
    problems = []
    driver = policy["driver"]
    governor = request.get("governor")
    epp = request.get("epp")
    min_freq = request.get("min_freq_khz")
    if governor is not None and governor not in policy["governors"]:
        problems.append(
            "driver %s does not offer governor %r (scaling_available_governors: %s)"
            % (driver, governor, " ".join(policy["governors"]) or "empty"))
    if epp is not None:
        if policy["state"]["epp"] is None:
            problems.append(
                "driver %s has no energy_performance_preference, cannot set EPP %r" % (driver, epp))
        elif policy["epp_choices"] is not None and epp not in policy["epp_choices"]:
            problems.append(
                "driver %s does not offer EPP %r (energy_performance_available_preferences: %s)"
                % (driver, epp, " ".join(policy["epp_choices"])))
        elif is_active_mode(policy) and governor == "performance" and epp != "performance":
            problems.append(
                "driver %s is in active mode: with governor 'performance' the only valid EPP is "
                "'performance' (the kernel answers EBUSY to %r); use governor 'powersave' "
                "with that EPP, or drop energy_performance_preference" % (driver, epp))
    if min_freq is not None:
        low, high = policy["cpuinfo_min_khz"], policy["cpuinfo_max_khz"]
        if policy["state"]["min_freq_khz"] is None:
            problems.append("driver %s has no scaling_min_freq, cannot set min_freq_khz" % driver)
        elif low is None or high is None:
            problems.append(
                "has no cpuinfo_min_freq/cpuinfo_max_freq to check min_freq_khz %d against" % min_freq)
        elif not low <= min_freq <= high:
            problems.append(
                "min_freq_khz %d is outside cpuinfo_min_freq..cpuinfo_max_freq (%d..%d)"
                % (min_freq, low, high))
    return problems


def validate(policies, request):
    """Raise CpufreqError listing every problem, grouped by identical text.

    Inactive policies are skipped: the kernel refuses to show or change them.
    """
    grouped = {}
    order = []
    for policy in policies:
        if not policy["active"]:
            continue
        for problem in policy_problems(policy, request):
            if problem not in grouped:
                grouped[problem] = []
                order.append(problem)
            grouped[problem].append(policy["number"])
    if order:
        where = os.path.dirname(policies[0]["path"]) if policies else CPUFREQ_DIR
        raise CpufreqError("cannot apply to %s, nothing was written: %s" % (
            where, "; ".join("%s: %s" % (policy_label(grouped[p]), p) for p in order)))


def predict_state(policy, request):
    """Return the state expected after applying ``request`` (for check mode).

    An active-mode driver switched to ``performance`` sets EPP to
    ``performance`` itself, so the prediction shows that even unrequested.
    Other kernel side effects (such as the EPP an active-mode driver restores
    when leaving ``performance``) cannot be known beforehand.
    """
    before = policy["state"]
    state = dict(before)
    if not policy["active"]:
        return state
    for key in STATE_KEYS:
        if request.get(key) is not None:
            state[key] = request[key]
    if (is_active_mode(policy) and state["epp"] is not None
            and state["governor"] == "performance" != before["governor"]):
        state["epp"] = "performance"
    return state


def readback_mismatches(policies, after, request):
    """Return grouped lines for requested values the kernel did not keep.

    ``after`` maps written policy numbers to their re-read state.  The kernel
    may adjust a value (for example clamp scaling_min_freq to scaling_max_freq).
    """
    groups = {}
    for policy in policies:
        state = after.get(policy["number"])
        if state is None:
            continue
        for key, name in STATE_FILES:
            wanted = request.get(key)
            if wanted is not None and state[key] != wanted:
                groups.setdefault((name, str(wanted), _shown(state[key])), []).append(policy["number"])
    return ["%s: %s reads %s after writing %s" % (policy_label(numbers), name, found, wanted)
            for (name, wanted, found), numbers in sorted(groups.items(), key=lambda i: min(i[1]))]


def apply_policy(policy, request, touched=None):
    """Write what differs from ``request`` in order; return the files written.

    Each file is read again just before its write, because writing the
    governor can change EPP; identical content is never written.  Raises
    HostFileError naming the file and value when a write fails; ``touched``
    (a set) receives the policy number as soon as one of its files is written.
    """
    written = []
    for key, name in STATE_FILES:
        wanted = request.get(key)
        if wanted is None:
            continue
        path = os.path.join(policy["path"], name)
        wanted = str(wanted)
        if read_text(path) == wanted:
            continue
        write_text(path, wanted)
        written.append(name)
        if touched is not None:
            touched.add(policy["number"])
    return written


def apply_all(policies, request):
    """Apply ``request`` to every active policy; return {number: after state}.

    Only policies that were written appear in the result.  On a failed write
    raise ApplyError carrying every policy written so far, including the one
    whose later file failed.
    """
    after = {}
    touched = set()
    for policy in policies:
        if not policy["active"]:
            continue
        try:
            written = apply_policy(policy, request, touched)
        except HostFileError as exc:
            raise ApplyError(exc, touched)
        if written:
            after[policy["number"]] = read_state(policy["path"])
    return after


def restore_policies(policies, numbers):
    """Write back the state read before the change to the policies ``numbers``.

    Files are written in the same order as a change (the governor first, so an
    active-mode driver's own EPP switch happens before EPP is put back) and only
    where they differ.  Returns (restored policy numbers, [problems]).
    """
    wanted = set(numbers)
    restored, problems = [], []
    for policy in policies:
        if policy["number"] not in wanted:
            continue
        try:
            apply_policy(policy, policy["state"])
            if read_state(policy["path"]) != policy["state"]:
                raise HostFileError(policy["path"], "reads %r after restoring %r"
                                    % (read_state(policy["path"]), policy["state"]))
        except HostFileError as exc:
            problems.append(str(exc))
            continue
        restored.append(policy["number"])
    return restored, problems


def rollback_message(error, restored, problems):
    """The failure message after a partial write and the attempt to undo it."""
    message = "%s (%s)" % (error.cause, error.done_text())
    if restored:
        message += "; restored %s to the values read before the task" % policy_label(restored)
    if problems:
        message += "; could not restore: %s" % "; ".join(problems)
    return message


def write_boost(root, value):
    write_text(under(cpufreq_dir(root), "boost"), "1" if value else "0")


def _shown(value):
    return "-" if value is None else str(value)


def transitions(entries):
    """Group identical changes: return [(numbers, file, before, after)].

    ``entries`` is an iterable of (policy number, before state, after state).
    Groups are ordered by their first policy, then by write order.
    """
    groups = {}
    for number, before, after in entries:
        for key, name in STATE_FILES:
            if before.get(key) != after.get(key):
                groups.setdefault((name, _shown(before.get(key)), _shown(after.get(key))), []).append(number)
    rank = dict((name, index) for index, (dummy, name) in enumerate(STATE_FILES))
    ordered = sorted(groups.items(), key=lambda item: (min(item[1]), rank[item[0][0]]))
    return [(sorted(numbers), name, old, new) for (name, old, new), numbers in ordered]


def summarise(entries, boost=None):
    """Return one line per group of identical changes, e.g.
    ``policy0-383 (384 policies): scaling_governor: schedutil -> performance``.

    ``boost`` is None or a (before, after) pair of bools.
    """
    lines = ["%s: %s: %s -> %s" % (policy_label(numbers), name, old, new)
             for numbers, name, old, new in transitions(entries)]
    if boost is not None and boost[0] != boost[1]:
        lines.append("boost: %d -> %d" % (int(boost[0]), int(boost[1])))
    return lines


def diff_texts(entries, boost=None, header="cpufreq"):
    """Return an Ansible ``diff`` dict whose before/after hold the grouped lines."""
    before, after = [], []
    for numbers, name, old, new in transitions(entries):
        label = "%s: %s: " % (policy_label(numbers), name)
        before.append(label + old + "\n")
        after.append(label + new + "\n")
    if boost is not None and boost[0] != boost[1]:
        before.append("boost: %d\n" % int(boost[0]))
        after.append("boost: %d\n" % int(boost[1]))
    return {
        "before_header": header,
        "after_header": header,
        "before": "".join(before),
        "after": "".join(after),
    }


def driver_summary(policies):
    """Return the driver name, a sorted list when mixed, None when unknown."""
    drivers = sorted(set(p["driver"] for p in policies if p["driver"] is not None))
    if not drivers:
        return None
    return drivers[0] if len(drivers) == 1 else drivers


def not_applicable_reason(root):
    directory = cpufreq_dir(root)
    if os.path.isdir(directory):
        return "no cpufreq policies: %s has no policyN directory" % directory
    return "no cpufreq policies: %s does not exist" % directory


# DMI sys_vendor / product_name fragments (lower case) of virtual machines.
VM_DMI_MARKERS = ("qemu", "kvm", "vmware", "virtualbox", "innotek", "xen", "virtual machine", "amazon ec2",
                  "google compute engine", "openstack", "bochs", "parallels", "bhyve", "cloud hypervisor",
                  "firecracker", "hvm domu")


def _quiet(reader, *args):
    """What reader(*args) returns, None when the file is missing or unusable (a hint only)."""
    try:
        return reader(*args)
    except HostFileError:
        return None


def dmi_identity(sysfs_root):
    """'vendor product' from <sysfs_root>/class/dmi/id, or None without DMI."""
    words = [_quiet(read_optional, under(sysfs_root, "class/dmi/id", name)) for name in ("sys_vendor", "product_name")]
    words = [word for word in words if word]
    return " ".join(words) or None


def virtualization(sysfs_root, procfs_root):
    """Why this host is a VM or a container (a short reason), or None when nothing says so,
    which on a host without cpufreq means bare metal whose driver did not load."""
    for line in _quiet(read_first_block, under(procfs_root, "cpuinfo"), CPUINFO_BLOCK_LIMIT) or []:
        key, dummy, value = line.partition(":")
        if key.strip() == "flags" and "hypervisor" in value.split():
            return "virtual machine: the CPUs have the hypervisor flag"
    identity = dmi_identity(sysfs_root)
    if identity and any(marker in identity.lower() for marker in VM_DMI_MARKERS):
        return "virtual machine: DMI says %s" % identity
    environment = _quiet(read_head, under(procfs_root, "1/environ"), CONFIG_FILE_LIMIT) or b""
    if any(item.startswith(b"container=") for item in environment.split(b"\0")):
        return "container: PID 1 has container= in its environment"
    return None


BARE_METAL_FIX = ("let the OS control P-states in the BIOS (CPPC, 'OS DBPM', 'Power regulator: OS control') and "
                  "load the driver (amd_pstate=active or intel_pstate on the kernel command line, or modprobe "
                  "acpi-cpufreq); dmesg | grep -i cpufreq says why it did not load")


def bare_metal_finding(identity):
    """Why a host without cpufreq counts as bare metal (shared by the module and the audit)."""
    return ("no cpufreq policies on bare metal (no hypervisor CPU flag, no container; DMI: %s): the CPU "
            "frequency driver did not load" % (identity or "none"))


def bare_metal_message(root, identity, governor):
    return "%s: %s, so governor %s cannot be set. Fix: %s" % (
        cpufreq_dir(root), bare_metal_finding(identity), governor, BARE_METAL_FIX)


def boost_missing_warning(root, policies):
    message = "boost was requested but %s does not exist; not applied" % (cpufreq_dir(root) + "/boost")
    if any(p["driver"] in ("intel_pstate", "intel_cpufreq") for p in policies):
        message += (" (intel_pstate switches turbo with /sys/devices/system/cpu/intel_pstate/no_turbo,"
                    " which this module does not manage)")
    return message


def prepare(root, request, boost_wanted):
    """Read and check everything before any write.

    Returns None when the host has no policies, else a dict with policies, driver,
    boost_before, boost_after and warnings. Raises HostFileError for an unreadable file
    and CpufreqError (naming the policies) for a request some policy cannot take.
    """
    policies = read_policies(root)
    if not policies:
        return None
    boost_before = read_boost(root)
    validate(policies, request)
    warnings = []
    inactive = [p["number"] for p in policies if not p["active"]]
    if inactive:
        warnings.append("%s: all CPUs offline, the kernel refuses to show or change the policy; skipped"
                        % policy_label(inactive))
    if boost_wanted is not None and boost_before is None:
        warnings.append(boost_missing_warning(root, policies))
    boost_after = boost_wanted if boost_before is not None and boost_wanted is not None else boost_before
    return dict(policies=policies, driver=driver_summary(policies), boost_before=boost_before,
                boost_after=boost_after, warnings=warnings)


def policy_entry(policy, after):
    return dict(
        policy=policy["number"],
        cpus=format_cpulist(policy["cpus"]),
        driver=policy["driver"],
        active=policy["active"],
        changed=after != policy["state"],
        before=dict(policy["state"]),
        after=dict(after),
    )


def not_applicable_result(root, procfs_root="/proc", governor="performance"):
    """The result for a host without policies: not applicable on a VM or in a container,
    a failure naming the fix on bare metal."""
    virtual = virtualization(root, procfs_root)
    if virtual is None:
        return dict(failed=True, changed=False, applicable=True, bare_metal=True, driver=None, policies=[],
                    changed_policies=0, changes=[], boost_applicable=False,
                    msg=bare_metal_message(root, dmi_identity(root), governor))
    return dict(changed=False, applicable=False, reason="%s (%s)" % (not_applicable_reason(root), virtual),
                driver=None, policies=[], changed_policies=0, changes=[], boost_applicable=False)


def outcome(prepared, after, root, with_diff=False):
    """The module's result for the prepared plan and the state after (predicted in check mode)."""
    policies = prepared["policies"]
    entries = [(p["number"], p["state"], after[p["number"]]) for p in policies]
    boost_before, boost_after = prepared["boost_before"], prepared["boost_after"]
    boost_pair = (boost_before, boost_after) if boost_before is not None else None
    result = dict(
        applicable=True,
        driver=prepared["driver"],
        policies=[policy_entry(p, after[p["number"]]) for p in policies],
        boost_applicable=boost_before is not None,
        changes=summarise(entries, boost_pair),
    )
    result["changed_policies"] = sum(1 for entry in result["policies"] if entry["changed"])
    result["changed"] = bool(result["changed_policies"]) or boost_after != boost_before
    if boost_pair is not None:
        result["boost"] = dict(before=boost_before, after=boost_after)
    if with_diff:
        result["diff"] = diff_texts(entries, boost_pair, header=cpufreq_dir(root))
    return result


def check_plan(root, request, boost_wanted, procfs_root="/proc"):
    """What setting request would change, writing nothing: the module's check-mode result.

    Problems do not raise: they come back as ``msg`` with ``failed: true``, the way the
    module reports them, so a caller that only reads (ktune.inference.managed_state) can
    hand them on.
    """
    try:
        prepared = prepare(root, request, boost_wanted)
    except (HostFileError, CpufreqError) as exc:
        return dict(failed=True, msg=str(exc), applicable=True, changed=False)
    if prepared is None:
        return not_applicable_result(root, procfs_root, request.get("governor"))
    after = dict((p["number"], predict_state(p, request)) for p in prepared["policies"])
    result = outcome(prepared, after, root)
    result["warnings"] = prepared["warnings"]
    return result
