"""Opens every page of the built site in headless Chromium and fails on what a reader would see broken.

    mkdocs build --strict && python docs/check_site.py

The site (site/ by default) is served on 127.0.0.1, and Chromium, driven through the Chrome DevTools
protocol (the websocket-client package), opens each page in turn. A page fails on:
  - an image that did not load (naturalWidth 0),
  - an equation left as raw TeX: an .arithmatex element with no KaTeX output, a KaTeX error, or TeX
    delimiters ($$, \\(, \\[) left in the text outside code,
  - a console error, an uncaught exception or a failed request (a 404 shows up as one),
  - a request to any other host: the site must read with no network.
A screenshot of each page goes to site-screenshots/ (git ignores it). Exit code 1 if any page failed.
Needs Debian's chromium (`apt-get install chromium`); no browser is downloaded.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from base64 import b64decode
from pathlib import Path
from urllib.parse import urlsplit

import websocket  # the websocket-client package (requirements-docs.txt)

ROOT = Path(__file__).resolve().parent.parent

# The flags every run uses: no sandbox (root in a container), no GPU, and nothing that phones home.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
]

# Runs in the page once it has loaded: waits for every image and font, then reports what is broken.
INSPECT_PAGE = r"""
(async () => {
  for (const img of document.images) img.loading = "eager";  // a lazy image below the fold loads too
  await Promise.all([...document.images].map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done, { once: true });
    img.addEventListener("error", done, { once: true });
  })));
  await document.fonts.ready;
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));

  const brokenImages = [...document.images]
    .filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.getAttribute("src"));
  const equations = [...document.querySelectorAll(".arithmatex")];
  const rawTex = equations.filter(e => !e.querySelector(".katex")).map(e => e.textContent.trim());
  const texErrors = [...document.querySelectorAll(".katex-error")].map(e => e.title || e.textContent);
  // TeX that arithmatex did not pick up at all, left in the prose (code shows TeX on purpose).
  const strayTex = [];
  const text = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (text.nextNode()) {
    const node = text.currentNode;
    if (node.parentElement.closest("pre, code, script, style, textarea, .arithmatex, .katex")) continue;
    if (/\$\$|\\\(|\\\[|\\begin\{/.test(node.data)) strayTex.push(node.data.trim());
  }
  return {
    title: document.title, images: document.images.length, equations: equations.length,
    brokenImages, rawTex, texErrors, strayTex,
  };
})()
"""


class DevTools:
    """The smallest Chrome DevTools protocol client: commands by id, events kept in a list."""

    def __init__(self, ws_url: str, timeout: float):
        # No Origin header: Chromium refuses DevTools connections from origins it was not told to allow.
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.timeout = timeout
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str) -> dict:
        """The first event named `method` not yet seen; events before it are kept."""
        deadline = time.monotonic() + self.timeout
        for index, event in enumerate(self.events):
            if event["method"] == method:
                return self.events.pop(index)
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("method") == method:
                return message
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(f"no {method} within {self.timeout} s")

    def close(self):
        self.ws.close()


def pages(site_dir: Path) -> list[str]:
    """Every page of the built site, as a path from the site's root: '', 'part2_dqn/', '404.html'."""
    found = []
    for html in sorted(site_dir.rglob("*.html")):
        relative = html.relative_to(site_dir).as_posix()
        found.append(relative[: -len("index.html")] if relative.endswith("index.html") else relative)
    return found


def serve(site_dir: Path) -> http.server.ThreadingHTTPServer:
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_chromium(chromium: str, user_data_dir: str, width: int, height: int, timeout: float):
    """Chromium with a DevTools port of its own choosing, and the DevTools URL of its blank page."""
    process = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", "--remote-debugging-port=0",
         f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    port_file = Path(user_data_dir) / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with code {process.returncode}:\n"
                               + process.stderr.read().decode(errors="replace")[-2000:])
        if port_file.exists() and port_file.read_text().strip():
            port = port_file.read_text().split()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
                    targets = json.load(reply)
                page = next(t for t in targets if t["type"] == "page")
                return process, page["webSocketDebuggerUrl"]
            except (OSError, StopIteration, ValueError):
                pass
        time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"chromium gave no DevTools port within {timeout} s")


def problems_from_events(events: list[dict], site_host: str) -> list[str]:
    """Console errors, uncaught exceptions, failed requests and requests that leave the machine."""
    problems = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
            problems.append(f"console error: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            problems.append(f"uncaught exception: {details.get('exception', {}).get('description', details['text'])}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            problems.append(f"console error: {entry['text']} {entry.get('url', '')}".rstrip())
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != site_host:
                problems.append(f"request to another host: {url}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            problems.append(f"request failed: {params.get('errorText')} ({params.get('type')})")
    return problems


def check_page(devtools: DevTools, url: str, site_host: str, screenshot: Path | None,
               full_page: bool = False) -> tuple[dict, list[str]]:
    devtools.events.clear()
    devtools.send("Page.navigate", url=url)
    devtools.wait_for("Page.loadEventFired")
    report = devtools.send("Runtime.evaluate", expression=INSPECT_PAGE, awaitPromise=True,
                           returnByValue=True)
    if "exceptionDetails" in report:
        return {}, [f"the page check itself failed: {report['exceptionDetails']}"]
    found = report["result"]["value"]
    problems = problems_from_events(devtools.events, site_host)
    problems += [f"image did not load: {src}" for src in found["brokenImages"]]
    problems += [f"equation left as raw TeX: {tex[:100]}" for tex in found["rawTex"]]
    problems += [f"KaTeX error: {error[:200]}" for error in found["texErrors"]]
    problems += [f"TeX outside an equation: {text[:100]}" for text in found["strayTex"]]
    if screenshot is not None:
        clip = {}
        if full_page:  # the whole page, up to the height a Chromium screenshot can hold
            size = devtools.send("Page.getLayoutMetrics")["cssContentSize"]
            clip = {"clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000),
                             "scale": 1}, "captureBeyondViewport": True}
        shot = devtools.send("Page.captureScreenshot", format="png", **clip)
        screenshot.write_bytes(b64decode(shot["data"]))
    return found, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site-dir", type=Path, default=ROOT / "site", help="the built site (mkdocs build)")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "site-screenshots",
                        help="folder for one PNG per page (emptied first)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium",
                        help="the browser to drive (Debian's chromium)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in pixels")
    parser.add_argument("--height", type=int, default=900, help="viewport height in pixels")
    parser.add_argument("--full-page", action="store_true",
                        help="screenshot each whole page instead of its first screen")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a page may take to load")
    args = parser.parse_args()

    if not (args.site_dir / "index.html").is_file():
        print(f"error: no built site in {args.site_dir}: run `mkdocs build --strict` first", file=sys.stderr)
        return 2
    if not Path(args.chromium).is_file():
        print(f"error: no chromium at {args.chromium}: `apt-get install chromium`", file=sys.stderr)
        return 2
    shutil.rmtree(args.screenshots, ignore_errors=True)
    args.screenshots.mkdir(parents=True)

    start = time.monotonic()
    server = serve(args.site_dir)
    site_host = f"127.0.0.1:{server.server_address[1]}"
    failed = 0
    with tempfile.TemporaryDirectory(prefix="check-site-chromium-") as user_data_dir:
        process, ws_url = start_chromium(args.chromium, user_data_dir, args.width, args.height, args.timeout)
        try:
            devtools = DevTools(ws_url, args.timeout)
            for domain in ("Page", "Runtime", "Log", "Network"):
                devtools.send(f"{domain}.enable")
            devtools.send("Emulation.setDeviceMetricsOverride", width=args.width, height=args.height,
                          deviceScaleFactor=1, mobile=False)
            site_pages = pages(args.site_dir)
            for path in site_pages:
                name = (path.rstrip("/").replace("/", "__").removesuffix(".html") or "index") + ".png"
                found, problems = check_page(devtools, f"http://{site_host}/{path}", site_host,
                                             args.screenshots / name, args.full_page)
                status = "FAIL" if problems else "ok"
                print(f"{status:4}  /{path}  ({found.get('images', 0)} images, "
                      f"{found.get('equations', 0)} equations)  {found.get('title', '')}")
                for problem in problems:
                    print(f"        {problem}")
                failed += bool(problems)
            devtools.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            server.shutdown()
    print(f"{len(site_pages) - failed} of {len(site_pages)} pages ok in {time.monotonic() - start:.1f} s; "
          f"screenshots in {os.path.relpath(args.screenshots)}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
