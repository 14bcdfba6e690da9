"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
no websocket, no browser download, no Python package beyond the standard library.

    with Chromium() as browser:
        page = browser.open("http://127.0.0.1:8000/audit.html")   # waits for the load event
        page.evaluate("document.title")
        page.close()

Chromium reads NUL-terminated JSON commands on its fd 3 and writes answers and events on fd 4.
One browser serves every page of a test run: starting it is the slow part.
"""

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time

EXECUTABLE = os.environ.get("KTUNE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe"]


class BrowserError(Exception):
    pass


class Chromium(object):
    def __init__(self, executable=EXECUTABLE, timeout=30.0):
        if not os.access(executable, os.X_OK):
            raise BrowserError("%s missing: tests/run-all.sh installs Debian's chromium package" % executable)
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="ktune-chromium-")
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()
        self.process = subprocess.Popen(
            [executable] + FLAGS + ["--user-data-dir=" + self.profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=_as_fds_3_and_4(commands_read, answers_write))
        os.close(commands_read)
        os.close(answers_write)
        self._buffer = b""
        self._next_id = 0
        self._events = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.process.poll() is None:
            try:
                self.send("Browser.close")
                self.process.wait(timeout=10)
            except (BrowserError, OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for fd in (self._commands, self._answers):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method, params=None, session=None):
        """The command's result; BrowserError with Chromium's message when it fails."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode("utf-8") + b"\0")
        answer = self._wait(lambda item: item.get("id") == message["id"])
        if "error" in answer:
            raise BrowserError("%s: %s" % (method, answer["error"]))
        return answer.get("result", {})

    def wait_event(self, method, session, timeout=None):
        return self._wait(lambda item: item.get("method") == method and item.get("sessionId") == session, timeout)

    def events(self, method, session):
        return [item["params"] for item in self._events if item.get("method") == method and item.get("sessionId") == session]

    def open(self, url, width=None, height=None):
        """A new tab showing url, once its load event has fired; width x height CSS pixels when given.
        The debugger is on from before the navigation: Page.scripts() lists every script the page
        itself compiled."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send("Runtime.enable", session=session)
        self.send("Debugger.enable", session=session)
        if width and height:
            self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                             "mobile": False}, session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session)
        return Page(self, target, session)

    def _wait(self, wanted, timeout=None):
        deadline = time.time() + (timeout or self.timeout)
        for position, item in enumerate(self._events):
            if wanted(item):
                return self._events.pop(position)
        while True:
            item = self._read(deadline)
            if wanted(item):
                return item
            self._events.append(item)

    def _read(self, deadline):
        while b"\0" not in self._buffer:
            if time.time() > deadline:
                raise BrowserError("no answer from Chromium in %.0f s" % self.timeout)
            chunk = os.read(self._answers, 65536)
            if not chunk:
                raise BrowserError("Chromium exited (status %s)" % self.process.poll())
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message.decode("utf-8"))


class Page(object):
    def __init__(self, browser, target, session):
        self.browser = browser
        self.target = target
        self.session = session

    def evaluate(self, expression, await_promise=False):
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                        "awaitPromise": await_promise}, session=self.session)
        if "exceptionDetails" in result:
            raise BrowserError("%s: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def scripts(self):
        """Every script the page compiled (inline, loaded, handlers, javascript: URLs); what
        evaluate() runs is compiled with no URL and left out."""
        return [item for item in self.browser.events("Debugger.scriptParsed", self.session)
                if item.get("url") or item.get("hasSourceURL")]

    def errors(self):
        """Uncaught exceptions and console messages the page produced."""
        return (self.browser.events("Runtime.exceptionThrown", self.session)
                + self.browser.events("Runtime.consoleAPICalled", self.session))

    def screenshot(self, path, full_page=False):
        """A PNG of the viewport (or the whole page) written to path."""
        import base64
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        data = self.browser.send("Page.captureScreenshot", params, session=self.session)["data"]
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))

    def dialogs(self):
        return self.browser.events("Page.javascriptDialogOpening", self.session)

    def close(self):
        self.browser.send("Target.closeTarget", {"targetId": self.target})


def _as_fds_3_and_4(commands_read, answers_write):
    """Runs in the child: Chromium expects the pipe's ends as fds 3 and 4 exactly."""
    def arrange():
        # Copies above 10 first, so that placing one end cannot overwrite the other.
        reads = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
        writes = fcntl.fcntl(answers_write, fcntl.F_DUPFD, 10)
        os.dup2(reads, 3)
        os.dup2(writes, 4)
    return arrange
