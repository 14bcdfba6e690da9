# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and staging the NUMA layout attribute of a BIOS through its BMC's Redfish service.

The BIOS resource holds the current attributes; the settings object it names in
@Redfish.Settings holds what is staged for the next reset. Which attribute sets the layout is
found from what the BIOS has (layout.BIOS_LAYOUT_ATTRIBUTES), never from a vendor string.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlsplit
from ansible.module_utils.urls import open_url

from ansible_collections.ktune.inference.plugins.module_utils.layout import BIOS_LAYOUT_ATTRIBUTES, attribute_matches

STAGED = "staged, applies at next reboot"


class RedfishError(Exception):
    """A BMC answer that stops the work on this host; the message names what was asked and found."""


class Redfish:
    """One BMC: a Redfish session (X-Auth-Token) where the service has a SessionService, HTTP basic
    authentication where it has none; JSON in, JSON out. Never puts the password or the token in a
    message.

    Use as a context manager, or call login() and logout(): the session is deleted at the end, on a
    failure too, because a BMC keeps only a few sessions and a leaked one locks the next run out.
    """

    def __init__(self, address, username, password, validate_certs=True, timeout=30, opener=open_url):
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RedfishError("expected a BMC URL such as https://bmc-17.example, found %r" % _without_userinfo(address))
        if parts.username or parts.password:
            raise RedfishError("expected a BMC URL without credentials in it; give them as ktune_bmc_username "
                               "and ktune_bmc_password")
        self.base = "%s://%s" % (parts.scheme, parts.netloc)
        self.username = username
        self.password = password
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.opener = opener
        self.auth = "basic"  # "session" once login() has a token
        self.token = None
        self.opened = False  # a session was opened this run (it may be closed by now)
        self.session_uri = None
        self.sessions_uri = None
        self.sent = []  # (method, path) of every request that may change the BMC

    def __enter__(self):
        self.login()
        return self

    def __exit__(self, *exc_info):
        self.logout()
        return False

    def login(self):
        """Open a session where the service root names a SessionService; otherwise stay on basic authentication."""
        # The service root is readable without credentials (Redfish requires it): none are sent to it.
        status, dummy, root = self._send("GET", "/redfish/v1", authenticate=False)
        self.sessions_uri = _sessions_uri(root) if status == 200 else None
        if not self.sessions_uri:
            return self.auth
        status, headers, document = self._send("POST", self.sessions_uri,
                                               {"UserName": self.username, "Password": self.password},
                                               authenticate=False)
        if status in (401, 403):
            raise RedfishError("expected the BMC at %s to accept ktune_bmc_username's credentials, found HTTP %s "
                               "on POST %s (session login)" % (self.base, status, self.sessions_uri))
        token = headers.get("X-Auth-Token") if headers else None
        if status not in (200, 201) or not token:
            missing = "" if token else " without a token"
            raise RedfishError("expected the BMC at %s to open a session (POST %s answered with an X-Auth-Token), "
                               "found HTTP %s%s" % (self.base, self.sessions_uri, status, missing))
        self.token, self.auth, self.opened = token, "session", True
        location = headers.get("Location") if headers else None
        self.session_uri = _path(location or (document or {}).get("@odata.id"))
        return self.auth

    def logout(self):
        """Delete the session; True when there was none or the BMC deleted it."""
        if not self.token:
            return True
        deleted = False
        if self.session_uri:
            try:
                status = self._send("DELETE", self.session_uri)[0]
                deleted = status in (200, 202, 204)
            except RedfishError:
                deleted = False
        self.token, self.auth = None, "basic"
        return deleted

    def request(self, method, path, body=None, headers=None):
        """Return (status, headers, document); raise RedfishError when the BMC cannot be reached.

        A session the BMC expired (401 on a token) is opened again once and the request repeated."""
        if method != "GET":
            self.sent.append((method, path))
        answer = self._send(method, path, body, headers)
        if answer[0] == 401 and self.token:
            self.token = None
            self.login()
            answer = self._send(method, path, body, headers)
        return answer

    def _send(self, method, path, body=None, headers=None, authenticate=True):
        all_headers = {"Accept": "application/json", "OData-Version": "4.0"}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        basic = authenticate and not self.token
        if authenticate and self.token:
            all_headers["X-Auth-Token"] = self.token
        try:
            answer = self.opener(self.base + path, method=method, headers=all_headers,
                                 data=None if body is None else json.dumps(body),
                                 url_username=self.username if basic else None,
                                 url_password=self.password if basic else None, force_basic_auth=basic,
                                 use_netrc=False, validate_certs=self.validate_certs, timeout=self.timeout,
                                 follow_redirects="none")
            status, answer_headers, text = answer.getcode(), answer.headers, answer.read()
        except HTTPError as error:
            status, answer_headers, text = error.code, error.headers, _read_error(error)
        except (URLError, OSError, ValueError) as error:
            raise RedfishError("expected the BMC at %s to answer %s %s, found %s" % (
                self.base, method, path, getattr(error, "reason", error)))
        return status, answer_headers, _json(text)

    def get(self, path):
        status, headers, document = self.request("GET", path)
        if status == 401:
            raise RedfishError("expected the BMC at %s to accept ktune_bmc_username's credentials, found 401 "
                               "Unauthorized on GET %s" % (self.base, path))
        if status != 200 or not isinstance(document, dict):
            raise RedfishError("expected the BMC at %s to answer GET %s with a JSON object, found HTTP %s" % (
                self.base, path, status))
        return document, (headers.get("ETag") if headers else None) or document.get("@odata.etag")


def _sessions_uri(root):
    """The session collection the service root names (Links.Sessions, else SessionService's), or None."""
    if not isinstance(root, dict) or not isinstance(root.get("SessionService"), dict):
        return None
    return _path(link(root, "Links", "Sessions")) or "/redfish/v1/SessionService/Sessions"


def _path(uri):
    """The path of a URI a BMC gave (some give a full URL in Location)."""
    if not isinstance(uri, str) or not uri:
        return None
    parts = urlsplit(uri)
    return parts.path or None


def _without_userinfo(address):
    return address.rsplit("@", 1)[-1]


def _read_error(error):
    try:
        return error.read()
    except Exception:  # pylint: disable=broad-except
        return b""


def _json(text):
    if not text:
        return None
    try:
        return json.loads(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
    except ValueError:
        return None


def link(document, *keys):
    """document[keys...]['@odata.id'], or None."""
    for key in keys:
        document = document.get(key) if isinstance(document, dict) else None
    return document.get("@odata.id") if isinstance(document, dict) else None


def members(document):
    return [member["@odata.id"] for member in document.get("Members") or []
            if isinstance(member, dict) and isinstance(member.get("@odata.id"), str)]


def find_system(client, system_id=None):
    """The system's URI: the one member of /redfish/v1/Systems, or the member whose Id is system_id."""
    root, dummy = client.get("/redfish/v1")
    systems_uri = link(root, "Systems") or "/redfish/v1/Systems"
    systems = members(client.get(systems_uri)[0])
    if system_id:
        for uri in systems:
            if uri.rstrip("/").rsplit("/", 1)[-1] == system_id:
                return uri
        raise RedfishError("expected a system %r in %s, found %s. Fix: correct ktune_bmc_system_id" % (
            system_id, systems_uri, ", ".join(systems) or "none"))
    if len(systems) != 1:
        raise RedfishError("expected one system in %s, found %s. Fix: set ktune_bmc_system_id to the Id of "
                           "this host's system" % (systems_uri, ", ".join(systems) or "none"))
    return systems[0]


def read_registry(client, name):
    """{attribute name: registry entry} of the BIOS attribute registry, or None when it is not served."""
    if not name:
        return None
    try:
        root = client.get("/redfish/v1")[0]
        registries = members(client.get(link(root, "Registries") or "/redfish/v1/Registries")[0])
        for uri in registries:
            if not uri.rstrip("/").rsplit("/", 1)[-1].startswith(name.split(".")[0]):
                continue
            entry = client.get(uri)[0]
            if name not in (entry.get("Id"), entry.get("Registry")):
                continue
            for location in entry.get("Location") or []:
                if location.get("Uri"):
                    registry = client.get(location["Uri"])[0]
                    attributes = (registry.get("RegistryEntries") or {}).get("Attributes") or []
                    return dict((item.get("AttributeName"), item) for item in attributes if isinstance(item, dict))
    except RedfishError:
        return None  # named but not served (or not readable): the BIOS attributes still decide
    return None


def find_layout_attribute(attributes):
    """(vendor, scheme, attribute name, {nodes per socket: values}) of the first table row the BIOS has, or None."""
    for vendor, scheme, pattern, values in BIOS_LAYOUT_ATTRIBUTES:
        for name in sorted(attributes):
            if attribute_matches(pattern, name):
                return vendor, scheme, name, values
    return None


def looked_for():
    return ", ".join(sorted(set(pattern.rstrip("#") + ("#<hash>" if pattern.endswith("#") else "")
                                for dummy, dummy2, pattern, dummy3 in BIOS_LAYOUT_ATTRIBUTES)))


def wanted_value(name, values, nodes_per_socket, registry_entry=None):
    """The value to stage; RedfishError when the BIOS cannot have this layout."""
    candidates = values.get(nodes_per_socket) or ()
    if registry_entry is not None:
        if registry_entry.get("ReadOnly"):
            raise RedfishError("expected BIOS attribute %s to be writable, found it read-only in the BIOS "
                               "attribute registry. Fix: unlock BIOS settings on the BMC (system lockdown)" % name)
        allowed = [item.get("ValueName") for item in registry_entry.get("Value") or [] if isinstance(item, dict)]
        if allowed:
            usable = [value for value in candidates if value in allowed]
            if not usable:
                raise RedfishError("expected BIOS attribute %s to allow %s for %d nodes per socket, found only %s "
                                   "allowed" % (name, " or ".join(candidates) or "a value", nodes_per_socket,
                                                ", ".join(allowed)))
            return usable[0]
    if not candidates:
        raise RedfishError("expected BIOS attribute %s to offer %d nodes per socket, found no such value for it. "
                           "Fix: set ktune_expected_nodes_per_socket to a layout this BIOS offers" % (
                               name, nodes_per_socket))
    return candidates[0]


def decide(current, pending, wanted):
    """'correct' (nothing to do), 'pending' (already staged), or 'stage' (PATCH the settings object)."""
    if pending is not None and pending != current:
        return "pending" if pending == wanted else "stage"
    return "correct" if current == wanted else "stage"


def describe(state):
    """One line for the operator, naming attribute, current, pending and wanted."""
    return "%s: current %s, pending %s, wanted %s" % (
        state["attribute"], _shown(state["current"]), _shown(state["pending"]), _shown(state["wanted"]))


def _shown(value):
    return "none" if value is None else json.dumps(value)


def read_layout(client, nodes_per_socket, system_id=None):
    """Everything staging needs, read with GETs only. With nodes_per_socket None only what is
    current and pending is read (action 'read'): nothing is wanted, nothing will be staged."""
    system_uri = find_system(client, system_id)
    system = client.get(system_uri)[0]
    bios_uri = link(system, "Bios")
    if not bios_uri:
        raise RedfishError("expected system %s to link its Bios resource, found none" % system_uri)
    bios = client.get(bios_uri)[0]
    attributes = bios.get("Attributes") or {}
    registry = read_registry(client, bios.get("AttributeRegistry"))
    found = find_layout_attribute(attributes)
    if found is None:
        raise RedfishError("expected a NUMA layout attribute in %s (one of %s), found none of them among %d "
                           "attributes. Fix: set the layout in this BIOS's setup by hand, or update the BIOS"
                           % (bios_uri, looked_for(), len(attributes)))
    vendor, scheme, name, values = found
    settings = bios.get("@Redfish.Settings") or {}
    settings_uri = link(settings, "SettingsObject")
    if not settings_uri:
        raise RedfishError("expected %s to name its settings object in @Redfish.Settings, found none: this BMC "
                           "cannot stage BIOS changes over Redfish" % bios_uri)
    pending_document, etag = client.get(settings_uri)
    current = attributes.get(name)
    pending = (pending_document.get("Attributes") or {}).get(name)
    wanted = None if nodes_per_socket is None else wanted_value(
        name, values, nodes_per_socket, registry.get(name) if registry else None)
    return {
        "system": system_uri, "bios": bios_uri, "settings": settings_uri, "etag": etag, "vendor": vendor,
        "scheme": scheme, "attribute": name, "current": current, "pending": pending, "wanted": wanted,
        "registry": bool(registry), "apply_times": settings.get("SupportedApplyTimes") or [],
        "manager": link(system, "Links", "ManagedBy") or _first_manager(system),
        "action": "read" if nodes_per_socket is None else decide(current, pending, wanted),
        "staged": pending is not None and pending != current,
        "pending_nodes_per_socket": nodes_for_value(values, pending) if pending != current else None,
    }


def nodes_for_value(values, value):
    """The nodes per socket a value of the layout attribute gives, or None (no value, or one such as Auto)."""
    for nodes, candidates in sorted(values.items()):
        if value is not None and value in candidates:
            return nodes
    return None


def _first_manager(system):
    managed_by = (system.get("Links") or {}).get("ManagedBy") or []
    return managed_by[0].get("@odata.id") if managed_by and isinstance(managed_by[0], dict) else None


def stage(client, state):
    """PATCH the wanted value into the settings object (If-Match, one retry on 412); returns what was sent."""
    body = {"Attributes": {state["attribute"]: state["wanted"]}}
    if "OnReset" in state["apply_times"]:
        body["@Redfish.SettingsApplyTime"] = {"ApplyTime": "OnReset"}
    etag = state["etag"]
    for attempt in (1, 2):
        status, dummy, document = client.request(
            "PATCH", state["settings"], body, {"If-Match": etag} if etag else None)
        if status == 412 and attempt == 1:
            etag = client.get(state["settings"])[1]
            continue
        if status not in (200, 202, 204):
            raise RedfishError("expected the BMC to accept PATCH %s {%s: %s}, found HTTP %s%s" % (
                state["settings"], state["attribute"], json.dumps(state["wanted"]), status, _message(document)))
        break
    return {"job": _dell_job(client, state) if "OnReset" not in state["apply_times"] else None}


def _dell_job(client, state):
    """Dell applies staged BIOS settings only through a configuration job; create one where Dell's job service is."""
    if not state["manager"]:
        return None
    manager = client.get(state["manager"])[0]
    if not link(manager, "Links", "Oem", "Dell", "DellJobService"):
        return None
    jobs = state["manager"].rstrip("/") + "/Jobs"
    status, headers, document = client.request("POST", jobs, {"TargetSettingsURI": state["settings"]})
    if status not in (200, 201, 202, 204):
        raise RedfishError("expected the BMC to create a BIOS configuration job (POST %s), found HTTP %s%s" % (
            jobs, status, _message(document)))
    return (headers.get("Location") if headers else None) or jobs


def _message(document):
    try:
        extended = document["error"]["@Message.ExtendedInfo"][0]["Message"]
    except (KeyError, IndexError, TypeError):
        return ""
    return ": %s" % str(extended)[:300]


def reset(client, state, graceful_timeout=600, forced_timeout=600, poll=5, clock=time.monotonic, sleep=time.sleep):
    """Restart the system (graceful, forced after graceful_timeout) and wait until the BIOS reports the wanted
    value as current. Returns the reset types used."""
    system = client.get(state["system"])[0]
    action = (system.get("Actions") or {}).get("#ComputerSystem.Reset") or {}
    target = action.get("target")
    if not target:
        raise RedfishError("expected system %s to offer ComputerSystem.Reset, found no such action" % state["system"])
    allowed = action.get("ResetType@Redfish.AllowableValues") or ["GracefulRestart", "ForceRestart"]
    used = []
    for reset_type, timeout in (("GracefulRestart", graceful_timeout), ("ForceRestart", forced_timeout)):
        if reset_type not in allowed:
            continue
        status, dummy, document = client.request("POST", target, {"ResetType": reset_type})
        if status not in (200, 202, 204):
            raise RedfishError("expected the BMC to accept POST %s {ResetType: %s}, found HTTP %s%s" % (
                target, reset_type, status, _message(document)))
        used.append(reset_type)
        if _wait_current(client, state, timeout, poll, clock, sleep):
            return used
    raise RedfishError("expected BIOS attribute %s to be %s after %s, found %s" % (
        state["attribute"], json.dumps(state["wanted"]), " then ".join(used) or "a reset (none allowed)",
        _shown(client.get(state["bios"])[0].get("Attributes", {}).get(state["attribute"]))))


def _wait_current(client, state, timeout, poll, clock, sleep):
    deadline = clock() + timeout
    while True:
        try:
            if (client.get(state["bios"])[0].get("Attributes") or {}).get(state["attribute"]) == state["wanted"]:
                return True
        except RedfishError:
            pass  # a BMC busy with the restart may not answer for a while
        if clock() >= deadline:
            return False
        sleep(poll)
