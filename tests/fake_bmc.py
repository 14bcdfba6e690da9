"""A fake BMC for tests: the parts of a Redfish service that staging a BIOS layout touches, behaving
as real ones do.

- Bios holds the current attributes; Bios/Settings (named in @Redfish.Settings) holds what is
  staged, and only ComputerSystem.Reset applies it.
- Bios/Settings has an ETag; a PATCH with a stale If-Match gets 412.
- Vendors differ as the real ones do: Dell names (and Dell's job service, through which staged
  settings are applied when the BMC lists no apply time), HPE names with a settings object that
  repeats every attribute, Lenovo names with an attribute registry that is named but not served,
  Supermicro names with a per-BIOS hash suffix, Intel SNC, and a BIOS with no layout attribute.
- An attribute registry with allowed values and read-only attributes (where served).
- Authentication on everything but the service root and the session login: a Redfish session
  (POST /redfish/v1/SessionService/Sessions with UserName and Password answers 201 with an
  X-Auth-Token header and the session's Location; DELETE on it ends it) and HTTP basic
  authentication, each of which can be switched off (sessions=False: the service root names no
  SessionService, as on sushy-tools; basic_auth=False: a BMC that allows sessions only).

Command line (for trying the playbook by hand): python tests/fake_bmc.py FLAVOR [PORT]
"""

import base64
import copy
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SYSTEM = "/redfish/v1/Systems/1"
SESSIONS = "/redfish/v1/SessionService/Sessions"
MANAGER = "/redfish/v1/Managers/1"

# flavor: (attribute, its current value, allowed values, other attributes)
FLAVORS = {
    "dell": ("NumaNodesPerSocket", "4", ["1", "2", "4"], {"LogicalProc": "Enabled"}),
    "hpe": ("NumaMemoryDomainsPerSocket", "FourMemoryDomainsPerSocket",
            ["Auto", "OneMemoryDomainPerSocket", "TwoMemoryDomainsPerSocket", "FourMemoryDomainsPerSocket"],
            {"NumaGroupSizeOpt": "Clustered"}),
    "lenovo": ("Memory_NUMANodesperSocket", "NPS4", ["NPS0", "NPS1", "NPS2", "NPS4"], {"Processors_SMTMode": "Enabled"}),
    "supermicro": ("NUMANodesPerSocket#703E", "NPS4", ["Auto", "NPS1", "NPS2", "NPS4"], {"SMTControl#0055": "Auto"}),
    "intel": ("SubNumaCluster", "Disabled", ["Disabled", "SNC2", "SNC4"], {"LogicalProc": "Enabled"}),
    "none": (None, None, [], {"LogicalProc": "Enabled", "NumaGroupSizeOpt": "Clustered"}),
}


class FakeBmc:
    """One BMC. Attributes after construction: current, pending (dicts), requests (what was sent)."""

    def __init__(self, flavor="dell", username="root", password="calvin-s3cret", apply_times=None,
                 registry="served", read_only=False, dell_jobs=None, graceful_works=True,
                 apply_on_reset=True, on_reset=None, sessions=True, basic_auth=True):
        self.flavor = flavor
        self.attribute, value, self.allowed, others = FLAVORS[flavor]
        self.current = dict(others)
        if self.attribute:
            self.current[self.attribute] = value
        self.pending = dict(self.current) if flavor == "hpe" else {}
        self.username, self.password = username, password
        self.credentials = "Basic " + base64.b64encode(("%s:%s" % (username, password)).encode()).decode()
        self.sessions_offered = sessions
        self.basic_auth = basic_auth
        self.sessions = {}  # open sessions: token -> session path
        self.session_log = []  # ("login" | "logout", session path)
        self.session_count = 0
        self.tokens_issued = []
        self.basic_sent = []  # (method, path) of every request that carried an Authorization header
        self.auth_used = []  # (method, path, "session" | "basic" | None) of every authenticated request
        self.apply_times = (["OnReset", "Immediate"] if flavor == "hpe" else []) if apply_times is None else apply_times
        self.registry = registry  # "served", "unserved" (named, 404) or None (not named)
        self.read_only = read_only
        self.dell_jobs = flavor in ("dell", "intel") if dell_jobs is None else dell_jobs
        self.graceful_works = graceful_works
        self.apply_on_reset = apply_on_reset
        self.on_reset = on_reset
        self.etag_version = 1
        self.stale_next_patch = False
        self.jobs = []
        self.resets = []
        self.requests = []
        self.lock = threading.Lock()
        self.server = None

    # --- the service -------------------------------------------------------------------------
    def start(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def changes(self):
        """The requests that could change the BMC's BIOS or system (session logins and logouts are not): (method, path)."""
        return [(method, path) for method, path, dummy in self.requests
                if method != "GET" and not path.startswith(SESSIONS)]

    def expire_sessions(self):
        """The BMC ends every session (an idle timeout, a BMC reboot)."""
        self.sessions.clear()

    def login(self, body):
        if (body.get("UserName"), body.get("Password")) != (self.username, self.password):
            return 401, {"error": {"message": "invalid credentials"}}, {}
        self.session_count += 1
        path = "%s/%d" % (SESSIONS, self.session_count)
        token = "token-%d-%s" % (self.session_count, base64.b16encode(path.encode()).decode()[-8:])
        self.sessions[token] = path
        self.tokens_issued.append(token)
        self.session_log.append(("login", path))
        return 201, {"@odata.id": path, "Id": str(self.session_count), "UserName": self.username}, {
            "X-Auth-Token": token, "Location": path}

    def logout(self, token, path):
        if self.sessions.get(token) != path and path not in self.sessions.values():
            return 404, {"error": {"message": "no such session"}}
        for key in [key for key, value in self.sessions.items() if value == path]:
            del self.sessions[key]
        self.session_log.append(("logout", path))
        return 204, None

    def staged(self):
        """What the next reset would change: {attribute: value} differing from current."""
        return dict((key, value) for key, value in self.pending.items() if self.current.get(key) != value)

    def stage_elsewhere(self, value):
        """Someone else staged a value (through the BMC's web page, say)."""
        self.pending[self.attribute] = value
        self.etag_version += 1

    # --- resources ---------------------------------------------------------------------------
    def etag(self):
        return 'W/"%d"' % self.etag_version

    def bios(self, registry_name):
        settings = {"SettingsObject": {"@odata.id": SYSTEM + "/Bios/Settings"}}
        if self.apply_times:
            settings["SupportedApplyTimes"] = self.apply_times
        bios = {"@odata.id": SYSTEM + "/Bios", "Attributes": copy.deepcopy(self.current), "@Redfish.Settings": settings}
        if self.registry:
            bios["AttributeRegistry"] = registry_name
        return bios

    def document(self, path):
        registry_name = "BiosAttributeRegistry.v1_0_0"
        documents = {
            "/redfish/v1": {"@odata.id": "/redfish/v1", "Systems": {"@odata.id": "/redfish/v1/Systems"},
                            "Managers": {"@odata.id": "/redfish/v1/Managers"},
                            "Registries": {"@odata.id": "/redfish/v1/Registries"},
                            **({"SessionService": {"@odata.id": "/redfish/v1/SessionService"},
                                "Links": {"Sessions": {"@odata.id": SESSIONS}}} if self.sessions_offered else {})},
            "/redfish/v1/Systems": {"Members": [{"@odata.id": SYSTEM}], "Members@odata.count": 1},
            SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "On", "Bios": {"@odata.id": SYSTEM + "/Bios"},
                     "Links": {"ManagedBy": [{"@odata.id": MANAGER}]},
                     "Actions": {"#ComputerSystem.Reset": {
                         "target": SYSTEM + "/Actions/ComputerSystem.Reset",
                         "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "GracefulRestart", "ForceRestart"]}}},
            SYSTEM + "/Bios": self.bios(registry_name),
            SYSTEM + "/Bios/Settings": {"@odata.id": SYSTEM + "/Bios/Settings", "@odata.etag": self.etag(),
                                        "Attributes": copy.deepcopy(self.pending)},
            MANAGER: {"@odata.id": MANAGER, "Links": {"Oem": {"Dell": {
                "DellJobService": {"@odata.id": MANAGER + "/Oem/Dell/DellJobService"}}}} if self.dell_jobs else {}},
            "/redfish/v1/Registries": {"Members": [{"@odata.id": "/redfish/v1/Registries/" + registry_name}]},
            "/redfish/v1/Registries/" + registry_name: {
                "Id": registry_name, "Registry": registry_name,
                "Location": [{"Language": "en", "Uri": "/redfish/v1/registrystore/bios.json"}]},
        }
        if self.registry == "served":
            documents["/redfish/v1/registrystore/bios.json"] = {"RegistryEntries": {"Attributes": [
                {"AttributeName": name, "ReadOnly": self.read_only and name == self.attribute, "Type": "Enumeration",
                 "Value": [{"ValueName": value} for value in (self.allowed if name == self.attribute else [])]}
                for name in self.current]}}
        return documents.get(path.rstrip("/") or "/")

    def patch(self, path, body, if_match):
        if path != SYSTEM + "/Bios/Settings":
            return 405, {"error": {"message": "not patchable"}}
        if self.stale_next_patch:  # another writer got in between our GET and PATCH
            self.stale_next_patch = False
            self.etag_version += 1
        if if_match and if_match != self.etag():
            return 412, {"error": {"@Message.ExtendedInfo": [{"Message": "The ETag is stale."}]}}
        attributes = body.get("Attributes") or {}
        for name, value in attributes.items():
            if name not in self.current:
                return 400, {"error": {"@Message.ExtendedInfo": [{"Message": "Unknown attribute %s." % name}]}}
            if name == self.attribute and (self.read_only or value not in self.allowed):
                return 400, {"error": {"@Message.ExtendedInfo": [{"Message": "Value %s refused." % value}]}}
        self.pending.update(attributes)
        self.etag_version += 1
        return 204, None

    def reset(self, reset_type):
        self.resets.append(reset_type)
        if reset_type == "GracefulRestart" and not self.graceful_works:
            return  # the OS ignored the request (hung shutdown)
        if self.apply_on_reset and (self.apply_times or not self.dell_jobs or self.jobs):
            self.current.update(self.pending)
        self.pending = dict(self.current) if self.flavor == "hpe" else {}
        self.jobs = []
        self.etag_version += 1
        if self.on_reset:
            self.on_reset(self)


def _handler(bmc):
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args):
            pass

        def _answer(self, status, document=None, headers=None):
            body = json.dumps(document).encode() if document is not None else b""
            self.send_response(status)
            if document is not None:
                self.send_header("Content-Type", "application/json")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorized(self):
            path = self.path.rstrip("/")
            if self.headers.get("Authorization"):
                bmc.basic_sent.append((self.command, path))
            if path == "/redfish/v1":
                return True
            token = self.headers.get("X-Auth-Token")
            if token is not None and token in bmc.sessions:
                bmc.auth_used.append((self.command, path, "session"))
                return True
            if token is None and bmc.basic_auth and self.headers.get("Authorization") == bmc.credentials:
                bmc.auth_used.append((self.command, path, "basic"))
                return True
            self._answer(401, {"error": {"message": "authentication required"}},
                         {"WWW-Authenticate": 'Basic realm="fake-bmc"'})
            return False

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self):
            with bmc.lock:
                bmc.requests.append(("GET", self.path, None))
                if not self._authorized():
                    return
                document = bmc.document(self.path)
                if document is None:
                    self._answer(404, {"error": {"message": "not found"}})
                elif self.path.rstrip("/") == SYSTEM + "/Bios/Settings":
                    self._answer(200, document, {"ETag": bmc.etag()})
                else:
                    self._answer(200, document)

        def do_PATCH(self):
            with bmc.lock:
                body = self._body()
                bmc.requests.append(("PATCH", self.path, body))
                if not self._authorized():
                    return
                status, document = bmc.patch(self.path.rstrip("/"), body, self.headers.get("If-Match"))
                self._answer(status, document)

        def do_DELETE(self):
            with bmc.lock:
                bmc.requests.append(("DELETE", self.path, None))
                if not self._authorized():
                    return
                path = self.path.rstrip("/")
                if bmc.sessions_offered and path.startswith(SESSIONS + "/"):
                    self._answer(*bmc.logout(self.headers.get("X-Auth-Token"), path))
                else:
                    self._answer(405, {"error": {"message": "not deletable"}})

        def do_POST(self):
            with bmc.lock:
                body = self._body()
                bmc.requests.append(("POST", self.path, body))
                path = self.path.rstrip("/")
                if bmc.sessions_offered and path == SESSIONS:
                    status, document, headers = bmc.login(body)
                    self._answer(status, document, headers)
                    return
                if not self._authorized():
                    return
                if path == SYSTEM + "/Actions/ComputerSystem.Reset":
                    bmc.reset(body.get("ResetType"))
                    self._answer(204)
                elif path == MANAGER + "/Jobs" and bmc.dell_jobs:
                    bmc.jobs.append(body.get("TargetSettingsURI"))
                    self._answer(200, None, {"Location": MANAGER + "/Jobs/JID_%d" % len(bmc.jobs)})
                else:
                    self._answer(404, {"error": {"message": "not found"}})

    return Handler


if __name__ == "__main__":
    server = FakeBmc(sys.argv[1] if len(sys.argv) > 1 else "dell")
    server.server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 8000),
                                        _handler(server))
    print("fake BMC (%s) on %s, user root, password calvin-s3cret" % (server.flavor, server.url), flush=True)
    server.server.serve_forever()
