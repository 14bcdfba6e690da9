# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host guard's judgement: one state machine per ktransformers instance.

Pure Python, standard library only, no I/O: the guard role installs this file next to
its daemon (roles/guard/files/ktune_guard.py), which reads the host every interval and
feeds each instance's machine a Reading; the machine answers a Decision (new state,
action, reason). The same settings check serves the role's validation and the daemon.

States (readiness 200 in serving and hot, 503 in every other state):

    serving --warn--> hot --critical or throttling--> draining --below critical--> cooling
       ^               |                                                              |
       +--cool, dwell--+<---------------------- cool for cool_dwell_s ----------------+
    serving --tokens/s below its load band's baseline x ratio, no DIMM hot, no throttling--> degraded (drained)
    degraded --no request running, or drained drain_grace_s--> restarting --healthy--> serving
    restarting --restart failed or not healthy in restart_timeout_s--> failed (stays drained)
    serving/hot --health check fails--> unhealthy --healthy for min_dwell_s--> serving

Thermal lines are margins below each DIMM's upper critical threshold (the BMC's, or
default_critical_c where the BMC gives none): hot at warn_margin_c or less of headroom,
draining at critical_margin_c or less; leaving a state needs hysteresis_c more headroom
than entering it, so a reading that wobbles around a line does not flap.

Degradation compares like with like. A batched decode gives each request fewer tokens/s the
more requests run, so speeds are kept per load band: the running requests of one band differ
by less than 12.5% (band k holds the counts n with 1.125^k <= n < 1.125^(k+1): 1, 2, 3, 4, ...
11, then 12-13, 14-15, 16, 17-19, 20-21, ...). Each band learns its baseline from its first
degraded_samples healthy samples (ready, DIMMs not hot, no throttling); the configured
baseline_tokens_per_s (one stream) is the 1-request band's. A band is judged only against its
own baseline, by the median of its own last degraded_samples samples: below baseline x
degraded_ratio is degraded. A speed counts for its band only once the load has held there for
two readings in a row (the hysteresis on load): SGLang's throughput gauge covers the decode
steps since its last update, so right after the load moved it can mix two batch sizes, or an
idle gap, under the new count. A probe (no running count, or none running) measured one
stream: the 1-request band, no wait. A restart clears the samples and keeps the baselines.

What a band learns is checked, so that a slow spell during learning (an unlucky degradation,
or load shaped on purpose) cannot become the normal the band is judged by:

- sane bounds: a band's baseline must agree with every band that already has one. A request
  does not decode faster because more requests share the batch (a band's per-request speed is
  at most a band with fewer requests' baseline / degraded_ratio), and a batch does not deliver
  less in total because it grew (running requests x per-request speed is at least the smaller
  band's total x degraded_ratio). A median outside these bounds is not learned: the window is
  dropped and the band learns again from its next samples (the daemon logs it).
- raised, never lowered, by the guard: a learned baseline is replaced only when the median of
  the band's last RELEARN_WINDOWS x degraded_samples healthy samples (in a row, while serving)
  is above baseline / degraded_ratio, so that the baseline itself would count as degraded
  against today's speed: it was learned in a slow spell. It becomes that median (within the
  sane bounds). Samples within the ratio never move it, and nothing the guard sees lowers it:
  a slower instance is degraded, however long it stays slow.
- lowered only by the operator: baselines live in the guard's memory; restarting ktune-guard
  (systemctl restart ktune-guard) learns every band again, except the configured
  baseline_tokens_per_s of the 1-request band, which only the inventory changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

SERVING = "serving"
HOT = "hot"
DRAINING = "draining"
COOLING = "cooling"
DEGRADED = "degraded"
RESTARTING = "restarting"
FAILED = "failed"
UNHEALTHY = "unhealthy"
STATES = (SERVING, HOT, DRAINING, COOLING, DEGRADED, RESTARTING, FAILED, UNHEALTHY)
READY_STATES = frozenset([SERVING, HOT])
# Not a state of the machine: the daemon reports it (503) while the fleet's drain file names
# the instance; the machine keeps judging underneath and takes over when the file goes.
DRAINED = "drained"

NONE = "none"
DRAIN = "drain"
RESTORE = "restore"
RESTART = "restart"
ACTIONS = (NONE, DRAIN, RESTORE, RESTART)

HOUR_S = 3600.0
# A band's baseline is raised from the median of this many windows of degraded_samples samples.
RELEARN_WINDOWS = 10

# What may cross from a guard's answer to the controller: instance names as the service role
# allows them, states from the fixed vocabulary, booleans. Free text (reasons) stays on the host.
INSTANCE_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
STARTING = "starting"
ANSWER_STATES = STATES + (DRAINED, STARTING)

# name: (default, kind, low, high, what it is). kind "float"/"int"; bounds inclusive.
SETTINGS = {
    "interval_s": (10, "int", 1, 3600, "seconds between two readings"),
    "warn_margin_c": (10.0, "float", 0.0, 60.0, "headroom below a DIMM's critical threshold that makes it hot"),
    "critical_margin_c": (3.0, "float", 0.0, 60.0, "headroom below critical at which the instance drains"),
    "hysteresis_c": (3.0, "float", 0.0, 30.0, "extra headroom needed to leave hot or draining"),
    "default_critical_c": (85.0, "float", 40.0, 130.0, "critical threshold for a DIMM whose BMC gives none"),
    "min_dwell_s": (60, "int", 0, 86400, "least time in a state before it eases back"),
    "cool_dwell_s": (300, "int", 0, 86400, "time cool and unthrottled in cooling before serving again"),
    "degraded_ratio": (0.75, "float", 0.05, 0.99,
                       "tokens/s below the load band's baseline x this ratio means degraded"),
    "degraded_samples": (3, "int", 1, 100,
                         "tokens/s samples of one load band whose median is judged (and that learn its baseline)"),
    "max_restarts_per_hour": (2, "int", 0, 60, "restarts allowed in any hour"),
    "drain_grace_s": (120, "int", 0, 86400,
                      "time drained before a restart when the running requests are unknown or never reach 0"),
    "restart_timeout_s": (600, "int", 10, 86400, "time a restarted instance has to become healthy"),
}


def default_settings():
    return dict((name, spec[0]) for name, spec in SETTINGS.items())


def _number(value, kind):
    if isinstance(value, bool):
        raise ValueError
    if kind == "int":
        if isinstance(value, float) and value != int(value):
            raise ValueError
        return int(value)
    return float(value)


def settings_problems(settings, prefix=""):
    """Messages about bad settings, each naming prefix + the setting; [] when all are good.

    Missing settings take their defaults. The role calls it with prefix "ktune_guard_" so
    the messages name the inventory variables; the daemon with no prefix (its JSON keys).
    """
    problems = []
    merged = default_settings()
    for name, value in (settings or {}).items():
        if name not in SETTINGS:
            continue
        default, kind, low, high, what = SETTINGS[name]
        try:
            number = _number(value, kind)
        except (TypeError, ValueError):
            problems.append("%s%s = %r: expected %s from %s to %s (%s), such as %s" % (
                prefix, name, value, "a whole number" if kind == "int" else "a number", low, high, what, default))
            continue
        if not low <= number <= high:
            problems.append("%s%s = %r: expected %s to %s (%s), such as %s" % (
                prefix, name, value, low, high, what, default))
            continue
        merged[name] = number
    if not problems and merged["critical_margin_c"] >= merged["warn_margin_c"]:
        problems.append("%scritical_margin_c = %r must be smaller than %swarn_margin_c = %r: an instance is hot "
                        "(warn margin) before it drains (critical margin)" % (
                            prefix, merged["critical_margin_c"], prefix, merged["warn_margin_c"]))
    return problems


def make_settings(settings=None):
    """Settings with defaults filled in and numbers typed; ValueError listing every problem."""
    problems = settings_problems(settings)
    if problems:
        raise ValueError("; ".join(problems))
    merged = default_settings()
    for name, value in (settings or {}).items():
        if name in SETTINGS:
            merged[name] = _number(value, SETTINGS[name][1])
    return merged


class Reading(object):
    """What the daemon saw of one instance at one moment.

    now: monotonic seconds. dimms: [{name, celsius, upper_critical}] or None when the BMC
    could not be read. throttle_count: total of the throttle counters (a counter) or None.
    health: True/False/None (not probed). tokens_per_s: one decode-rate sample or None.
    running_requests: int or None (unknown). restart_failed: the last restart command failed.
    """

    def __init__(self, now, dimms=None, throttle_count=None, health=True, tokens_per_s=None,
                 running_requests=None, restart_failed=False):
        self.now = float(now)
        self.dimms = dimms
        self.throttle_count = throttle_count
        self.health = health
        self.tokens_per_s = tokens_per_s
        self.running_requests = running_requests
        self.restart_failed = restart_failed


class Decision(object):
    def __init__(self, state, action, reason, changed):
        self.state = state
        self.action = action
        self.reason = reason
        self.changed = changed

    @property
    def ready(self):
        return self.state in READY_STATES

    def as_dict(self):
        return {"state": self.state, "action": self.action, "reason": self.reason, "ready": self.ready,
                "changed": self.changed}

    def __repr__(self):
        return "Decision(%r, %r, %r)" % (self.state, self.action, self.reason)


def _median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


# --- load bands: decode speeds compared like with like --------------------------------------

SINGLE_STREAM_BAND = 0
# Band k is [1.125^k, 1.125^(k+1)); 1.125 = 9/8, so integer arithmetic places every count exactly.
_BAND_UP, _BAND_DOWN = 9, 8


def load_band(running_requests):
    """The band k of a running-request count n >= 1: 1.125^k <= n < 1.125^(k+1)."""
    band = 0
    while _BAND_UP ** (band + 1) <= running_requests * _BAND_DOWN ** (band + 1):
        band += 1
    return band


def _first_count_from(power):
    """The least whole count >= 1.125^power."""
    return -(-_BAND_UP ** power // _BAND_DOWN ** power)


def band_range(band):
    """(lowest, highest) running requests of a band; lowest > highest for a band no count falls in."""
    return _first_count_from(band), _first_count_from(band + 1) - 1


def band_label(band):
    """The band's running requests, "4" or "12-13" (a Prometheus label value)."""
    low, high = band_range(band)
    return str(low) if low == high else "%d-%d" % (low, high)


def describe_band(band):
    return "%s running request%s" % (band_label(band), "" if band == SINGLE_STREAM_BAND else "s")


class LoadBand(object):
    """The decode-speed samples of one load band and the baseline they are judged against."""

    def __init__(self, band, baseline=None, configured=False):
        self.band = band
        self.baseline = baseline
        self.configured = configured  # the inventory's baseline_tokens_per_s: never replaced
        self.learning = []
        self.samples = []
        self.recent = []

    def add(self, rate, count, ratio):
        """Take one sample; the median the band should now learn (or be raised to), else None.

        count: degraded_samples; ratio: degraded_ratio. The caller checks the candidate against
        the other bands (InstanceGuard._adopt) before it becomes the baseline.
        """
        if self.baseline is None:
            self.learning.append(rate)
            if len(self.learning) < count:
                return None
            candidate, self.learning = _median(self.learning), []
            return candidate
        self.samples.append(rate)
        del self.samples[:-count]
        if self.configured:
            return None
        self.recent.append(rate)
        del self.recent[:-count * RELEARN_WINDOWS]
        if len(self.recent) < count * RELEARN_WINDOWS:
            return None
        median = _median(self.recent)
        if median * ratio <= self.baseline:
            return None
        self.recent = []
        return median

    def forget_samples(self):
        """After a restart: the old process's speeds say nothing of the new one's."""
        self.learning, self.samples, self.recent = [], [], []


class Thermal(object):
    """The worst DIMM of a reading: its headroom below its critical line, and which it is."""

    def __init__(self, dimms, default_critical):
        self.known = False
        self.headroom = None
        self.sensor = None
        self.celsius = None
        self.critical = None
        for dimm in dimms or []:
            celsius = dimm.get("celsius")
            if celsius is None:
                continue
            critical = dimm.get("upper_critical") or default_critical
            headroom = critical - celsius
            if self.headroom is None or headroom < self.headroom:
                self.known = True
                self.headroom, self.sensor, self.celsius, self.critical = headroom, dimm.get("name"), celsius, critical

    def describe(self):
        return "%s at %g C, %g C below its critical %g C" % (self.sensor, self.celsius, self.headroom, self.critical)


class InstanceGuard(object):
    """One instance's state machine. step(reading) -> Decision; no I/O, time comes in the reading.

    baseline_tokens_per_s: the instance's healthy single-stream decode rate, the 1-request
    band's baseline; None learns it as every other band's is learned. restarts: times (same
    clock as readings) of earlier restarts, so a restarted daemon keeps the hourly budget.
    """

    def __init__(self, settings=None, baseline_tokens_per_s=None, restarts=(), now=0.0):
        self.settings = make_settings(settings)
        single_stream = float(baseline_tokens_per_s) if baseline_tokens_per_s else None
        self.bands = {SINGLE_STREAM_BAND: LoadBand(SINGLE_STREAM_BAND, single_stream, configured=bool(single_stream))}
        self.judged_band = None  # the band of the latest sample: the one the machine judges
        self.last_load = None  # the band of the last reading's running requests; None idle or unknown
        self.learned = None  # what the last step did to a baseline, one sentence (the daemon logs it)
        self.restarts = sorted(float(when) for when in restarts)
        self.state = SERVING
        self.since = float(now)
        self.reason = "started"
        self.last_throttle = None
        self.throttle_rose_at = None
        self.restart_blocked = False
        self.cool_since = None
        self.transitions = 0
        self.failed_slow_start = False
        self.healthy_since = None
        self.drained_for_heat = False

    # --- helpers -------------------------------------------------------------------------

    def restarts_in_last_hour(self, now):
        self.restarts = [when for when in self.restarts if now - when < HOUR_S]
        return len(self.restarts)

    def restart_allowed(self, now):
        return self.restarts_in_last_hour(now) < self.settings["max_restarts_per_hour"]

    def _throttling(self, reading):
        """Whether the throttle counters rose since the last reading."""
        count = reading.throttle_count
        rose = count is not None and self.last_throttle is not None and count > self.last_throttle
        if count is not None:
            self.last_throttle = count
        if rose:
            self.throttle_rose_at = reading.now
        return rose

    def _quiet_since_dwell(self, now, dwell):
        """No throttle rise within the last `dwell` seconds."""
        return self.throttle_rose_at is None or now - self.throttle_rose_at >= dwell

    def _dwelt(self, now, dwell):
        return now - self.since >= dwell

    def baseline_for(self, running_requests):
        """Baseline tokens/s per request at this load (None or 0: one stream); None while unlearned."""
        band = self.bands.get(load_band(running_requests) if running_requests else SINGLE_STREAM_BAND)
        return band.baseline if band else None

    def baselines(self):
        """[(band, baseline tokens/s per request)] of every band with a baseline, fewest requests first."""
        return [(band, self.bands[band].baseline) for band in sorted(self.bands)
                if self.bands[band].baseline is not None]

    def _sample_band(self, reading):
        """The band this reading's tokens/s is a sample of, or None when it is none (see the module doc)."""
        running = reading.running_requests
        previous, self.last_load = self.last_load, (load_band(running) if running else None)
        if reading.tokens_per_s is None or reading.tokens_per_s <= 0:
            return None
        if not running:
            return SINGLE_STREAM_BAND
        return self.last_load if self.last_load == previous else None

    def _sample(self, reading, judged):
        self.learned = None
        band = self._sample_band(reading)
        if band is None or not judged:
            return
        if band not in self.bands:
            self.bands[band] = LoadBand(band)
        candidate = self.bands[band].add(reading.tokens_per_s, self.settings["degraded_samples"],
                                         self.settings["degraded_ratio"])
        if candidate is not None:
            self._adopt(self.bands[band], candidate)
        self.judged_band = band

    def sane_bounds(self, band):
        """(lowest, highest) per-request baseline the band may hold, given every other band's baseline."""
        ratio = self.settings["degraded_ratio"]
        low, high = 0.0, float("inf")
        fewest, most = band_range(band)
        for other, baseline in self.baselines():
            other_fewest, other_most = band_range(other)
            if other < band:
                high = min(high, baseline / ratio)
                low = max(low, other_fewest * baseline * ratio / most)
            elif other > band:
                low = max(low, baseline * ratio)
                high = min(high, other_most * baseline / (ratio * fewest))
        return low, high

    def _adopt(self, band, candidate):
        """Make candidate the band's baseline when it agrees with the other bands; say what happened."""
        low, high = self.sane_bounds(band.band)
        where = describe_band(band.band)
        if not low <= candidate <= high:
            self.learned = "did not learn %.2f tokens/s per request at %s: outside %.2f to %.2f, the bounds the " \
                           "other bands' baselines set (a slow or unusual spell); learning again" % (
                               candidate, where, low, high)
            return
        if band.baseline is None:
            self.learned = "learned a baseline at %s: %.2f tokens/s per request (median of its first %d samples)" % (
                where, candidate, self.settings["degraded_samples"])
        else:
            self.learned = "raised the baseline at %s from %.2f to %.2f tokens/s per request (median of its last " \
                           "%d samples, above the old baseline / %g: it was learned in a slow spell)" % (
                               where, band.baseline, candidate, self.settings["degraded_samples"] * RELEARN_WINDOWS,
                               self.settings["degraded_ratio"])
        band.baseline = candidate

    def _forget_samples(self):
        for band in self.bands.values():
            band.forget_samples()
        self.judged_band = None
        self.last_load = None

    def _degraded(self):
        """(True, reason) when the latest sample's band has a median below its own baseline x ratio."""
        count = self.settings["degraded_samples"]
        band = self.bands.get(self.judged_band)
        if band is None or band.baseline is None or len(band.samples) < count:
            return False, None
        median = _median(band.samples)
        floor = band.baseline * self.settings["degraded_ratio"]
        if median >= floor:
            return False, None
        return True, "tokens/s median %.2f of the last %d samples at %s is below %.2f (baseline %.2f x %g) " \
                     "while no DIMM is hot and nothing throttles" % (
                         median, count, describe_band(band.band), floor, band.baseline,
                         self.settings["degraded_ratio"])

    def _go(self, state, action, reason, now):
        changed = state != self.state
        if changed:
            self.cool_since = None
            self.state = state
            self.since = now
            self.transitions += 1
        self.reason = reason
        return Decision(state, action, reason, changed)

    def _stay(self, reason=None):
        if reason:
            self.reason = reason
        return Decision(self.state, NONE, self.reason, False)

    # --- the machine ---------------------------------------------------------------------

    def step(self, reading):
        settings = self.settings
        now = reading.now
        thermal = Thermal(reading.dimms, settings["default_critical_c"])
        throttling = self._throttling(reading)
        critical = thermal.known and thermal.headroom <= settings["critical_margin_c"]
        warm = thermal.known and thermal.headroom <= settings["warn_margin_c"]
        # A host whose BMC has no DIMM sensors (many Dell boards) still gets degradation
        # checks: unknown temperatures with no throttling count as normal.
        thermal_normal = not warm and not throttling
        self._sample(reading, thermal_normal and self.state in READY_STATES)

        if self.state == FAILED:
            return self._failed(reading, now)
        why = ("DIMM %s" % thermal.describe()) if critical else "CPU/memory throttle counters rose"
        if critical or throttling:
            # A drain a hot DIMM caused waits for a DIMM reading; one for throttling alone can end
            # on still counters (many BMCs have no DIMM sensor to wait on).
            self.drained_for_heat = critical or (self.drained_for_heat and self.state == DRAINING)
        if self.state == RESTARTING:
            return self._restarting(reading, "draining: " + why if critical or throttling else None)
        if critical or throttling:
            if self.state == DRAINING:
                return self._stay("draining: " + why)
            action = DRAIN if self.state in READY_STATES else NONE
            return self._go(DRAINING, action, "draining: " + why, now)
        if self.state == DRAINING:
            return self._draining(thermal, now)
        if self.state == COOLING:
            return self._cooling(thermal, now)
        if self.state == DEGRADED:
            return self._degraded_wait(reading, now)
        if reading.health is False:
            if self.state == UNHEALTHY:
                self.since = now  # the dwell counts from the last failed check
                return self._stay()
            return self._go(UNHEALTHY, DRAIN, "the health check failed", now)
        if self.state == UNHEALTHY:
            if reading.health and self._dwelt(now, settings["min_dwell_s"]):
                return self._go(SERVING, RESTORE, "healthy again for %ds" % settings["min_dwell_s"], now)
            return self._stay()
        if warm:
            if self.state == HOT:
                return self._stay("hot: DIMM %s" % thermal.describe())
            return self._go(HOT, NONE, "hot: DIMM %s" % thermal.describe(), now)
        if self.state == HOT:
            if not thermal.known or thermal.headroom <= settings["warn_margin_c"] + settings["hysteresis_c"] \
                    or not self._dwelt(now, settings["min_dwell_s"]):
                return self._stay()
            return self._go(SERVING, NONE, "cool again: DIMM %s" % thermal.describe(), now)
        return self._serving(reading, thermal_normal, now)

    def _serving(self, reading, thermal_normal, now):
        degraded, why = self._degraded() if thermal_normal else (False, None)
        if not degraded:
            self.restart_blocked = False
            return self._stay("serving")
        if not self.restart_allowed(now):
            self.restart_blocked = True
            return self._stay("degraded, restart withheld: %d restarts in the last hour already (at most %d): %s" % (
                len(self.restarts), self.settings["max_restarts_per_hour"], why))
        if reading.running_requests == 0:
            return self._restart(now, "degraded, no request running: " + why)
        return self._go(DEGRADED, DRAIN, "degraded, draining before a restart: " + why, now)

    def _throttle_quiet(self, now):
        """Drained for throttling with no DIMM reading to wait on: serve once the counters stay still."""
        settings = self.settings
        if self._dwelt(now, settings["min_dwell_s"]) and self._quiet_since_dwell(now, settings["cool_dwell_s"]):
            return self._go(SERVING, RESTORE, "throttle counters still for %ds (no DIMM reading)"
                            % settings["cool_dwell_s"], now)
        return self._stay()

    def _draining(self, thermal, now):
        settings = self.settings
        if not thermal.known:
            return self._stay() if self.drained_for_heat else self._throttle_quiet(now)
        if thermal.headroom > settings["critical_margin_c"] + settings["hysteresis_c"] \
                and self._dwelt(now, settings["min_dwell_s"]):
            decision = self._go(COOLING, NONE, "cooling: DIMM %s" % thermal.describe(), now)
            if thermal.headroom > settings["warn_margin_c"] + settings["hysteresis_c"]:
                self.cool_since = now
            return decision
        return self._stay()

    def _cooling(self, thermal, now):
        settings = self.settings
        if not thermal.known:
            return self._stay()
        cool = thermal.headroom > settings["warn_margin_c"] + settings["hysteresis_c"]
        if not cool:
            self.cool_since = None
            return self._stay("cooling: DIMM %s" % thermal.describe())
        if self.cool_since is None:
            self.cool_since = now  # the cool dwell counts from the first cool reading
        if now - self.cool_since >= settings["cool_dwell_s"] \
                and self._quiet_since_dwell(now, settings["cool_dwell_s"]):
            return self._go(SERVING, RESTORE, "cooled: DIMM %s for %ds without throttling" % (
                thermal.describe(), settings["cool_dwell_s"]), now)
        return self._stay()

    def _degraded_wait(self, reading, now):
        if reading.running_requests == 0:
            return self._restart(now, "degraded and drained, no request running")
        if self._dwelt(now, self.settings["drain_grace_s"]):
            return self._restart(now, "degraded and drained for %ds" % self.settings["drain_grace_s"])
        return self._stay()

    def _restart(self, now, reason):
        if not self.restart_allowed(now):
            self.restart_blocked = True
            return self._go(SERVING, RESTORE, "degraded, restart withheld: %d restarts in the last hour already "
                                              "(at most %d)" % (len(self.restarts),
                                                                self.settings["max_restarts_per_hour"]), now)
        self.restarts.append(now)
        self._forget_samples()
        return self._go(RESTARTING, RESTART, reason, now)

    def _restarting(self, reading, hot_reason):
        now = reading.now
        if reading.restart_failed:
            return self._go(FAILED, NONE, "the restart failed: staying drained; fix the service and restart "
                                          "ktune-guard", now)
        if reading.health and hot_reason:
            self._forget_samples()
            return self._go(DRAINING, NONE, "restarted, " + hot_reason, now)
        if reading.health:
            self._forget_samples()
            return self._go(SERVING, RESTORE, "restarted and healthy", now)
        if self._dwelt(now, self.settings["restart_timeout_s"]):
            self.failed_slow_start = True
            reason = "not healthy %ds after the restart: staying drained until it answers its health check for %ds" % (
                self.settings["restart_timeout_s"], self.settings["min_dwell_s"])
            return self._go(FAILED, NONE, reason, now)
        return self._stay()

    def _failed(self, reading, now):
        """A failed restart command stays failed; a slow start (a big model still loading) serves
        again once the instance has answered its health check for the dwell."""
        if not self.failed_slow_start:
            return self._stay()
        if not reading.health:
            self.healthy_since = None
            return self._stay()
        if self.healthy_since is None:
            self.healthy_since = now  # the dwell counts from the first healthy answer
        if now - self.healthy_since >= self.settings["min_dwell_s"]:
            self.failed_slow_start = False
            self.healthy_since = None
            return self._go(SERVING, RESTORE, "healthy %ds after a slow restart" % self.settings["min_dwell_s"], now)
        return self._stay()


# --- the fleet: what a guard's answer may tell the controller --------------------------------

def _public_status(item):
    """One instance of a GET /status answer reduced to fixed vocabulary, or None when it is malformed."""
    if not isinstance(item, dict):
        return None
    name, state, guard_state = item.get("instance"), item.get("state"), item.get("guard_state", None)
    if not isinstance(name, str) or not INSTANCE_NAME.match(name):
        return None
    if state not in ANSWER_STATES or not isinstance(item.get("ready"), bool):
        return None
    if guard_state is not None and guard_state not in ANSWER_STATES:
        return None
    public = {"instance": name, "state": state, "ready": item["ready"]}
    if guard_state is not None:
        public["guard_state"] = guard_state
    return public


def public_statuses(answer):
    """A guard's GET /status answer as [{instance, state, ready[, guard_state]}], or None when any part is malformed.

    The answer comes from a host: an instance name outside INSTANCE_NAME, a state outside
    ANSWER_STATES or a non-boolean ready makes the whole answer untrusted, and nothing of it is used.
    """
    if not isinstance(answer, list) or len(answer) > 256:
        return None
    items = [_public_status(item) for item in answer]
    return None if any(item is None for item in items) else items


# --- the fleet: which hosts may be drained --------------------------------------------------

def drain_plan(statuses, wanted, floor, max_drains):
    """Which of the `wanted` hosts to drain without leaving fewer than `floor` of the group serving.

    statuses: {host: [instance status, ...] from its guard's GET /status, or None when the
    guard did not answer}; every host of the group is in it. A host serves while its guard
    answers and at least one of its instances is ready; a host whose guard does not answer
    counts as not serving (the conservative side of the floor). wanted: hosts asked to drain,
    in order. floor: the least fraction of the group's hosts that must keep serving (0..1).
    max_drains: the most hosts drained by this one request (the rate limit).

    Returns {"drain": [host, ...], "already": [host, ...], "refused": [{"host", "why"}, ...],
    "serving": count left serving, "total": group size}.
    """
    total = len(statuses)

    def serving(host):
        instances = statuses.get(host)
        return bool(instances) and any(item.get("ready") for item in instances)

    def drained(host):
        instances = statuses.get(host)
        return bool(instances) and all(item.get("state") == DRAINED for item in instances)

    left = sum(1 for host in statuses if serving(host))
    plan = {"drain": [], "already": [], "refused": [], "total": total}
    for host in wanted:
        if host not in statuses:
            plan["refused"].append({"host": host, "why": "%s is not in the group" % host})
        elif drained(host):
            plan["already"].append(host)
        elif len(plan["drain"]) >= max_drains:
            plan["refused"].append({"host": host, "why": "rate limit: this request drains at most %d host(s)"
                                    % max_drains})
        elif not serving(host):
            plan["drain"].append(host)  # serves nobody now: draining it takes no capacity away
        elif total and (left - 1) >= floor * total - 1e-9:
            plan["drain"].append(host)
            left -= 1
        else:
            plan["refused"].append({"host": host, "why": (
                "draining it would leave %d of %d hosts serving (%.0f%%), below ktune_min_serving_fraction %g"
                % (left - 1, total, 100.0 * (left - 1) / total if total else 0, floor))})
    plan["serving"] = left
    return plan
