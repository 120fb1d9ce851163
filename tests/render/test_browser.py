"""The HTML report in a real browser: headless Chromium driven over its DevTools pipe (stdlib only).

Skipped only when no Chromium is installed (Debian: `apt-get install -y chromium`).
`python tests/render/test_browser.py docs/report_hw1.png` regenerates the README's screenshot."""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium",
                             shutil.which("chromium-browser")) if p and os.path.exists(p)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe"]


class Browser:
    """Chromium with --remote-debugging-pipe: JSON messages separated by NUL on fds 3 and 4."""

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="gradcalc-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def fds():   # in the child: the pipe ends become fds 3 (commands) and 4 (replies)
            import fcntl
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # dup2 makes fds 3 and 4 inheritable; every fd Python opened is non-inheritable
            # (PEP 446), so nothing else leaks into the browser with close_fds=False
            preexec_fn=fds, close_fds=False)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        self.session = None

    def _send(self, method: str, params: dict | None = None, session: bool = True) -> int:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        return self._id

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise EOFError("Chromium closed the pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        mid = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str) -> dict:
        for ev in self.events:
            if ev["method"] == method:
                return ev
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read(deadline)
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg

    def open(self, url: str) -> None:
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    def screenshot(self, full_page: bool = True) -> bytes:
        params: dict = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"],
                                "height": min(size["height"], 6000), "scale": 1})
        return base64.b64decode(self.call("Page.captureScreenshot", params)["data"])

    def pdf(self) -> bytes:
        return base64.b64decode(self.call("Page.printToPDF", {"printBackground": False})["data"])

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        out = []
        for ev in self.events:
            p = ev.get("params", {})
            if ev["method"] == "Runtime.exceptionThrown":
                out.append(str(p.get("exceptionDetails", {}).get("text")))
            elif ev["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description")))
                                    for a in p.get("args", [])))
            elif ev["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def requests(self) -> list[str]:
        return [ev["params"]["request"]["url"] for ev in self.events
                if ev["method"] == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.call("Browser.close", session=False)
                except (OSError, TimeoutError, EOFError, RuntimeError):
                    pass
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
        finally:
            for fd in (self._to_chrome, self._from_chrome):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)


CHECKS = r"""
(() => {
  const box = el => {
    if (!el) return null;
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    return {w: r.width, h: r.height, top: r.top + scrollY, left: r.left,
            shown: cs.visibility !== 'hidden' && cs.display !== 'none' && r.width > 0 && r.height > 0};
  };
  const frac = document.querySelector('#backward mfrac');
  const num = frac && frac.children[0].getBoundingClientRect();
  const den = frac && frac.children[1].getBoundingClientRect();
  return {
    svg: box(document.querySelector('#graph svg')),
    svgTexts: document.querySelectorAll('#graph svg text').length,
    wires: document.querySelectorAll('#graph svg g[id^="value--"]').length,
    tables: [...document.querySelectorAll('#forward table, #backward table, #gradients table')].map(box),
    frac: box(frac),
    stacked: !!frac && num.bottom <= den.top + 1 && num.left < den.right && den.left < num.right,
    innerWidth, innerHeight, pageWidth: document.documentElement.scrollWidth,
    lang: document.documentElement.lang, h1: document.querySelector('h1').textContent,
  };
})()
"""


def _report(tmp: Path, problem: str, lang: str) -> Path:
    from click.testing import CliRunner
    from gradcalc.cli import cli
    out = tmp / f"{Path(problem).stem}-{lang}.html"
    r = CliRunner().invoke(cli, ["solve", str(ROOT / problem), "--html", str(out), "--lang", lang])
    assert r.exit_code == 0, r.output
    return out


def _run(path: Path, shot: Path | None = None, full_page: bool = True,
         height: int = 900) -> tuple[dict, Browser]:
    b = Browser(height=height)
    try:
        b.open(path.resolve().as_uri())
        info = b.evaluate(CHECKS)
        png = b.screenshot(full_page)
        if shot is not None:
            shot.write_bytes(png)
        info["png"] = png
        info["pdf"] = b.pdf()
        info["errors"] = b.errors()
        info["requests"] = b.requests()
    finally:
        b.close()
    return info, b


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                                    "(Debian: apt-get install -y chromium)")


@needs_chromium
@pytest.mark.parametrize("problem,lang", [("problems/hw1.yaml", "en"),
                                          ("problems/lecture_sigmoid.yaml", "zh")])
def test_report_in_chromium(tmp_path, problem, lang):
    page = _report(tmp_path, problem, lang)
    info, _ = _run(page, tmp_path / "report.png")
    assert info["errors"] == []
    # nothing is fetched but the file itself: no network, no external scripts, fonts or images
    assert all(u.startswith(("file:", "data:", "about:")) for u in info["requests"]), \
        info["requests"]
    assert info["lang"] == ("zh-CN" if lang == "zh" else "en")
    # the graph is drawn, big enough, on the first screen, with its labels as text
    svg = info["svg"]
    assert svg["shown"] and svg["w"] > 300 and svg["h"] > 100 and svg["top"] < info["innerHeight"]
    assert info["svgTexts"] > 10 and info["wires"] > 3
    # forward, backward and gradient tables are all laid out
    assert len(info["tables"]) == 3 and all(t["shown"] and t["h"] > 40 for t in info["tables"])
    # MathML is laid out as mathematics: a fraction's numerator stands above its denominator
    assert info["frac"]["shown"] and info["stacked"]
    # the page itself never scrolls sideways (a wide graph scrolls inside its frame)
    assert info["pageWidth"] <= info["innerWidth"]
    png = (tmp_path / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") >= 1000
    assert info["pdf"].startswith(b"%PDF-")          # printable


def main(argv: list[str]) -> int:
    """Write a screenshot of the hw1 report (for the README)."""
    if CHROMIUM is None:
        print("Chromium is not installed", file=sys.stderr)
        return 2
    out = Path(argv[0]) if argv else Path("report_hw1.png")
    with tempfile.TemporaryDirectory() as tmp:
        page = _report(Path(tmp), "problems/hw1.yaml", "en")
        info, _ = _run(page, out, full_page=False, height=1500)   # the top: graph and tables
    print(f"wrote {out} ({len(info['png'])} bytes); console errors: {info['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
