#!/usr/bin/env python3
"""console_browser: the web console in a real browser (issue 17, Tests).

Headless Chromium (Debian chromium + chromium-driver, driven by
python3-selenium) against a real cluster (deploy/local-cluster: coordinator
and workers with CURVE keys, in a temporary directory) and the real
tally-gateway serving the console from the checkout. Checks, in order:

  1. GET / carries a Content-Security-Policy without 'unsafe-inline' or
     'unsafe-eval' scripts, and the console runs under it (no CSP report,
     no script error in the browser log for the whole test).
  2. A wrong password is refused on the sign-in page.
  3. The labeler signs in, switches the language to Spanish (saved on the
     server: it holds after signing out and in), and back.
  4. Content carrying <script> and "><img onerror=...> renders as text: the
     exact text is visible, no element came from it, no alert ran. A
     high-severity item arrives blurred and is revealed by a click.
  5. The labeler labels 10 tasks by keyboard alone; each next task arrives
     without a click (long-poll).
  6. A POST without X-CSRF-Token, and a labeler calling manager APIs, are
     refused (403) by the server.
  7. An auditor gets a blind task: neither the page nor any API response of
     the auditor's session (every fetch, recorded by a wrapper installed
     before the page's scripts) holds the labeler's id or the first label
     (outside the taxonomy list).
  8. A manager's dashboard is open while a lead adjudicates the disagreement
     in the browser (candidates A and B, the final label by click, a note);
     the dashboard then shows the adjudication and the labeler's accuracy
     against the final label (table row, SVG bar and Wilson whisker) without
     a reload. The lead finds the case in the case database by its note,
     and sees the audit policy, wellbeing and allocation read-only; the
     manager changes the audit rate and a labeler's markets, and the
     cluster holds the changes. The labeler's feedback then lists the one
     closed audit (right) and none of the pending ones.
  9. Wrong passwords for one person are rate-limited (429), and then even the
     right one is refused until the window passes.

Usage: console_browser_test.py --bin BUILD/bin --source SRC
Exit 77 (ctest SKIP) only when no Chromium or chromedriver is installed.
Every step has a deadline; the whole test has one (TEST_DEADLINE_S); every
process it starts is stopped in `finally`.
"""

import argparse
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TEST_DEADLINE_S = 420
STEP_TIMEOUT_S = 30
PROJECT = "console"
LABELS = ["ok", "spam", "hate", "violence"]
MARKET = "es"
OTHER_MARKET = "ja"  # a market of the project that nobody starts with
# People: distinctive ids, so that finding one in a page or a response is
# never a coincidence.
LABELER = "lbl-ana-7q"
AUDITOR = "aud-ines-3k"
LEAD = "lead-leo-5m"
MANAGER = "mgr-mia-2x"
RATE_VICTIM = "lbl-rl-9z"
PASSWORDS = {
    LABELER: "labeler pass 1", AUDITOR: "auditor pass 2",
    LEAD: "lead pass 3", MANAGER: "manager pass 4", RATE_VICTIM: "victim pass 5",
}
XSS_TEXT = '<script>alert("xss-1")</script>"><img src=x onerror=alert("xss-2")>'
SEVERE_TEXT = "a hinted high-severity item"
PLAIN_ITEMS = 10
NOTE = "the policy says nothing about this"

# Installed before any script of every page: records every fetch response
# (URL, status, body text) and every alert/confirm/prompt call.
RECORDER_JS = r"""
(() => {
  window.__tallyResponses = [];
  window.__tallyAlerts = [];
  for (const name of ['alert', 'confirm', 'prompt']) {
    const orig = window[name];
    window[name] = function (msg) { window.__tallyAlerts.push(name + ':' + String(msg)); return orig.apply(this, arguments); };
  }
  const origFetch = window.fetch;
  window.fetch = async function (input, init) {
    const resp = await origFetch.apply(this, arguments);
    const method = (init && init.method) || 'GET';
    try {
      const body = await resp.clone().text();
      window.__tallyResponses.push({url: resp.url, method, status: resp.status, body});
    } catch (e) {
      window.__tallyResponses.push({url: resp.url, method, status: resp.status, body: null, error: String(e)});
    }
    return resp;
  };
})();
"""


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print("ok:", what, flush=True)


def log(*a):
    print("console_browser:", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ processes

class Cluster:
    """A local cluster (deploy/local-cluster) and a gateway in one temp dir."""

    def __init__(self, src, bindir):
        self.src = src
        self.bin = bindir
        self.dir = tempfile.mkdtemp(prefix="tally-test-console-")
        self.cluster_dir = os.path.join(self.dir, "cluster")
        self.env = dict(os.environ)
        self.gateway = None
        self.base = None
        self.started_cluster = False

    def local_cluster(self, *args, timeout=60):
        return subprocess.run([os.path.join(self.src, "deploy", "local-cluster"), *args,
                               "--dir", self.cluster_dir],
                              check=True, capture_output=True, text=True, timeout=timeout)

    def start(self):
        self.started_cluster = True
        ep = self.local_cluster("start", "--workers", "2", "--bin", self.bin, timeout=90).stdout.strip()
        with open(os.path.join(self.cluster_dir, "tally.env")) as f:
            for line in f:
                parts = shlex.split(line, comments=True)
                if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
                    k, v = parts[1].split("=", 1)
                    self.env[k] = v
        self.endpoint = ep
        log("cluster at", ep)

    def tally(self, *args, stdin=None, timeout=STEP_TIMEOUT_S):
        r = subprocess.run([os.path.join(self.bin, "tally"), *args], env=self.env,
                           input=stdin, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise Failure("tally %s failed (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r.stdout

    def start_gateway(self):
        port_file = os.path.join(self.dir, "gateway.port")
        logf = open(os.path.join(self.dir, "gateway.log"), "w")
        cmd = [os.path.join(self.bin, "tally-gateway"),
               "--coordinator", self.endpoint,
               "--key", self.env["TALLY_KEY"],
               "--coordinator-key", self.env["TALLY_COORDINATOR_KEY"],
               "--listen", "127.0.0.1:0", "--port-file", port_file,
               "--console-dir", os.path.join(self.src, "gateway", "console")]
        self.gateway = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.gateway.poll() is not None:
                raise Failure("tally-gateway exited with %s: %s" % (self.gateway.returncode, self.gateway_log()))
            if os.path.exists(port_file):
                port = open(port_file).read().strip()
                if port:
                    self.base = "http://127.0.0.1:%s" % port
                    try:
                        with urllib.request.urlopen(self.base + "/healthz", timeout=5) as r:
                            if r.status == 200:
                                log("gateway at", self.base)
                                return
                    except OSError:
                        pass
            time.sleep(0.1)
        raise Failure("tally-gateway did not serve /healthz within %d s: %s" % (STEP_TIMEOUT_S, self.gateway_log()))

    def gateway_log(self):
        try:
            with open(os.path.join(self.dir, "gateway.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.gateway and self.gateway.poll() is None:
            self.gateway.terminate()
            try:
                self.gateway.wait(10)
            except subprocess.TimeoutExpired:
                self.gateway.kill()
                self.gateway.wait(10)
        if self.started_cluster:
            try:
                self.local_cluster("stop", timeout=40)
            except Exception as e:  # keep cleaning up; report it
                log("local-cluster stop:", e)
        # Sanitizer builds: keep the reports in the daemons' and the
        # gateway's logs before the directory goes (tests/CMakeLists.txt).
        logs = glob.glob(os.path.join(self.cluster_dir, "logs", "*.log")) + [os.path.join(self.dir, "gateway.log")]
        subprocess.run(["bash", os.path.join(self.src, "tests", "sanitizer_reports.sh"), "collect", *logs],
                       timeout=30, check=False)
        if os.environ.get("TALLY_TEST_KEEP") == "1":
            log("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def http(base, method, path, body=None, headers=None, timeout=10):
    """One request to the gateway outside the browser: (status, parsed JSON or text, headers)."""
    data = None if body is None else json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status, hdrs = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, e.headers
    try:
        return status, json.loads(raw or b"null"), hdrs
    except ValueError:
        return status, raw.decode("utf-8", "replace"), hdrs


# ------------------------------------------------------------------ browser

def new_browser(workdir, name):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--no-first-run", "--disable-extensions", "--disable-background-networking",
              "--window-size=1280,1000", "--lang=en-US",
              "--user-data-dir=" + os.path.join(workdir, "chrome-" + name)):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver"),
                      log_path=os.path.join(workdir, "chromedriver-" + name + ".log"))
    d = webdriver.Chrome(service=service, options=opts)
    d.set_page_load_timeout(STEP_TIMEOUT_S)
    d.set_script_timeout(STEP_TIMEOUT_S)
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER_JS})
    return d


def wait(driver, cond, what, timeout=STEP_TIMEOUT_S):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        # The page redraws while we look: an element found a moment ago may
        # be gone; look again.
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                             ).until(lambda d: cond(d))
    except Exception as e:
        raise Failure("timed out (%d s) waiting for: %s (%s)" % (timeout, what, type(e).__name__))


def by_css(driver, css):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, css)


def text_of(driver, css):
    """The rendered text of the first element matching css, or None; read
    in one script call, so a redraw between finding and reading cannot
    leave a stale element."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : null", css)


def sign_in(driver, base, person, password):
    driver.get(base + "/")
    wait(driver, lambda d: by_css(d, "#signin-person"), "the sign-in form")
    by_css(driver, "#signin-person")[0].send_keys(person)
    by_css(driver, "#signin-password")[0].send_keys(password)
    by_css(driver, "#signin-submit")[0].click()
    wait(driver, lambda d: person in (text_of(d, "#who") or ""), person + " signed in")


def sign_out(driver):
    by_css(driver, "#signout")[0].click()
    wait(driver, lambda d: by_css(d, "#signin-person"), "the sign-in form after sign-out")


def labeler_cell(driver, column):
    """The text of column `column` (its English heading) in the labeler's
    row of the dashboard's quality table; None when there is no such row
    (or column)."""
    return driver.execute_script("""
      const t = document.getElementById('quality-labeler-table');
      if (!t) return null;
      const heads = [...t.querySelectorAll('thead th')].map((th) => th.textContent);
      const col = heads.indexOf(arguments[1]);
      for (const tr of t.querySelectorAll('tbody tr')) {
        const cells = [...tr.children].map((td) => td.textContent);
        if (cells[0] === arguments[0]) return col < 0 ? null : cells[col];
      }
      return null;""", LABELER, column)


def responses(driver):
    return driver.execute_script("return window.__tallyResponses || []")


def fetch_in_page(driver, method, path, body=None, csrf=True):
    """A fetch from the page's own origin and cookies: {status, body}."""
    return driver.execute_async_script("""
      const [method, path, body, csrf, done] = arguments;
      (async () => {
        const headers = {'Content-Type': 'application/json'};
        if (csrf) {
          const me = await (await fetch('/api/v1/me', {credentials: 'same-origin'})).json();
          headers['X-CSRF-Token'] = me.csrf_token;
        }
        const r = await fetch(path, {method, headers, credentials: 'same-origin',
                                     body: body === null ? undefined : JSON.stringify(body)});
        let parsed = null;
        try { parsed = await r.json(); } catch (e) {}
        done({status: r.status, body: parsed});
      })().catch((e) => done({status: -1, body: String(e)}));
    """, method, path, body, csrf)


def press(driver, key):
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(driver).send_keys(key).perform()


def current_item(driver):
    return text_of(driver, "#task-item")


def wait_task(driver, previous=None, what="a task"):
    return wait(driver, lambda d: (lambda t: t if t and t != previous else None)(current_item(d)), what)


def browser_errors(driver):
    """SEVERE browser log entries (script errors, CSP violations), minus
    the expected 4xx that the test itself provokes."""
    out = []
    for e in driver.get_log("browser"):
        msg = e.get("message", "")
        if "Content Security Policy" in msg or "Content-Security-Policy" in msg:
            out.append(msg)
        elif e.get("level") == "SEVERE" and "Failed to load resource" not in msg:
            out.append(msg)
    return out


def dump_page(driver):
    """What a failing test's browser showed: URL, text, the last API calls."""
    try:
        log("page", driver.current_url, "text:\n" + driver.execute_script("return document.body.innerText")[:2000])
        for r in responses(driver)[-12:]:
            log("  %s %s -> %s %s" % (r.get("method"), r.get("url"), r.get("status"), (r.get("body") or "")[:200]))
        for e in driver.get_log("browser")[-10:]:
            log("  browser:", e.get("level"), e.get("message", "")[:300])
    except Exception as e:
        log("could not read the page:", e)


# ------------------------------------------------------------------ blind check

def walk(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, path + (i,))
    else:
        yield path, value


def blind_violations(resp, first_label, labeler):
    """What in one recorded response would tell the auditor the first label
    or the labeler: the labeler's id anywhere (also inside text), a key that
    names a labeler or an earlier label, or the first label's value outside
    a list of the taxonomy."""
    bad = []
    if resp.get("body") and labeler in resp["body"]:
        bad.append("labeler id in the body")
    try:
        data = json.loads(resp["body"]) if resp.get("body") else None
    except ValueError:
        return bad
    for path, v in walk(data):
        keys = [k for k in path if isinstance(k, str)]
        for k in keys:
            kl = k.lower()
            if "labeler" in kl or "first" in kl or kl in ("label", "your_label", "labeled_by", "audited_label"):
                bad.append("key %r at %s" % (k, path))
        if v == first_label:
            in_taxonomy = len(path) >= 2 and path[-2] in ("labels", "high_severity") and isinstance(path[-1], int)
            if not in_taxonomy:
                bad.append("first label %r at %s" % (v, path))
    return sorted(set(bad))


# ------------------------------------------------------------------ the test

def setup_cluster(c):
    c.start()
    c.tally("project", "create", PROJECT, "--labels", ",".join(LABELS), "--markets", MARKET + "," + OTHER_MARKET,
            "--overlap", "1", "--audit-rate", "1", "--lease-seconds", "120",
            "--high-severity", "violence", "--exposure-budget", "50")
    for person, roles in ((LABELER, "labeler"), (AUDITOR, "auditor"), (LEAD, "lead"),
                          (MANAGER, "manager"), (RATE_VICTIM, "labeler")):
        c.tally("labeler", "add", person, "--roles", roles, "--markets", MARKET)
        c.tally("labeler", "password", person, stdin=PASSWORDS[person] + "\n")


def ingest(c, items, name):
    path = os.path.join(c.dir, name + ".jsonl")
    with open(path, "w") as f:
        for it in items:
            f.write(json.dumps(it) + "\n")
    c.tally("ingest", PROJECT, path)


def check_blind_checker():
    """The blind check must be able to fail: leaks of each kind are found,
    the taxonomy list is not one."""
    leak = {"body": json.dumps({"task": {"labels": ["ok", "spam"], "content": {"text": "x"}}})}
    check(not blind_violations(leak, "spam", LABELER), "blind check: the taxonomy list is no leak")
    for bad in ({"task": {"first_label": "x"}}, {"task": {"hint": "spam"}},
                {"task": {"content": {"text": "by " + LABELER}}}, {"labeler": "x"}):
        check(blind_violations({"body": json.dumps(bad)}, "spam", LABELER), "blind check finds %s" % bad)


def run(args):
    check_blind_checker()
    c = Cluster(args.source, args.bin)
    drivers = []
    try:
        setup_cluster(c)
        c.start_gateway()
        base = c.base

        # 1. CSP on the page.
        status, _, hdrs = http(base, "GET", "/")
        csp = hdrs.get("Content-Security-Policy") or ""
        check(status == 200 and ("script-src" in csp or "default-src" in csp), "GET / has a Content-Security-Policy: " + csp)
        script_src = [d for d in csp.split(";") if d.strip().startswith(("script-src", "default-src"))]
        check(all("unsafe-inline" not in d and "unsafe-eval" not in d for d in script_src),
              "the CSP allows no inline or eval'd script")

        d = new_browser(c.dir, "a")
        drivers.append(d)

        # 2. Wrong password on the page.
        d.get(base + "/")
        wait(d, lambda x: by_css(x, "#signin-person"), "the sign-in form")
        by_css(d, "#signin-person")[0].send_keys(LABELER)
        by_css(d, "#signin-password")[0].send_keys("not the password")
        by_css(d, "#signin-submit")[0].click()
        wait(d, lambda x: (text_of(x, "#signin-error") or "").strip(), "the wrong-password message")
        me = fetch_in_page(d, "GET", "/api/v1/me", csrf=False)
        check(me["status"] == 401, "a wrong password gives no session (GET /me is 401)")

        # 3. Sign in; the language is per person and kept by the server.
        sign_in(d, base, LABELER, PASSWORDS[LABELER])
        from selenium.webdriver.support.ui import Select
        Select(by_css(d, "#lang-select")[0]).select_by_value("es")
        wait(d, lambda x: text_of(x, "#nav-label") == "Etiquetar", "the console in Spanish")
        wait(d, lambda x: any(r["url"].endswith("/me/language") and r["status"] == 200 for r in responses(x)),
             "PUT /me/language answered 200")
        sign_out(d)
        sign_in(d, base, LABELER, PASSWORDS[LABELER])
        check(text_of(d, "#nav-label") == "Etiquetar", "Spanish holds after signing out and in (saved per person)")
        Select(by_css(d, "#lang-select")[0]).select_by_value("en")
        wait(d, lambda x: text_of(x, "#nav-label") == "Label", "the console back in English")

        # 4. Hostile content and a hinted item.
        ingest(c, [{"id": "xss-1", "market": MARKET, "content": XSS_TEXT},
                   {"id": "sev-1", "market": MARKET, "content": SEVERE_TEXT, "category_hint": "violence"}], "first")
        seen = set()
        prev = None
        for _ in range(2):
            item = wait_task(d, prev, "a task of the first two")
            prev = item
            if "xss-1" in item:
                body_text = text_of(d, "#task-text")
                check(body_text == XSS_TEXT, "the hostile content shows as its exact text")
                check(not by_css(d, "#task-content img, #task-content script, script:not([src])"),
                      "the hostile content made no element")
                check(d.execute_script("return window.__tallyAlerts.length") == 0, "no alert ran")
            else:
                check(by_css(d, "#task-content.blurred"), "the high-severity item is blurred")
                by_css(d, "#reveal")[0].click()
                wait(d, lambda x: not by_css(x, "#task-content.blurred"), "a click reveals it")
                check(text_of(d, "#task-text") == SEVERE_TEXT, "the revealed text")
            seen.add(item)
            press(d, "2")  # spam
        wait(d, lambda x: text_of(x, "#done-count") == "2 done", "2 labels done")

        # 5. Ten tasks by keyboard; each arrives without a click.
        ingest(c, [{"id": "plain-%02d" % i, "market": MARKET, "content": "plain item %d" % i}
                   for i in range(PLAIN_ITEMS)], "plain")
        items = []
        for i in range(PLAIN_ITEMS):
            item = wait_task(d, prev, "task %d of %d" % (i + 1, PLAIN_ITEMS))
            prev = item
            items.append(item)
            press(d, "2")
        wait(d, lambda x: text_of(x, "#done-count") == "%d done" % (PLAIN_ITEMS + 2),
             "%d labels done" % (PLAIN_ITEMS + 2))
        check(len(set(items)) == PLAIN_ITEMS, "10 distinct tasks labeled by keyboard")
        check(all(r["status"] == 200 for r in responses(d) if r["url"].endswith("/submit")),
              "every submit answered 200")
        wait(d, lambda x: by_css(x, "#waiting"), "the page waits for more work by itself")
        wait(d, lambda x: re.search(r"\b1 of 50\b", text_of(x, "#exposure") or ""),
             "the exposure count shows the hinted item against the budget (1 of 50)")

        # 6. CSRF and role, enforced by the server.
        r = fetch_in_page(d, "POST", "/api/v1/release", {"lease": "1:1"}, csrf=False)
        check(r["status"] == 403 and (r["body"] or {}).get("error", {}).get("code") == "CSRF",
              "a POST without X-CSRF-Token is refused (403 CSRF): %s" % r)
        r = fetch_in_page(d, "GET", "/api/v1/reports/quality?project=%s&by=labeler" % PROJECT, csrf=False)
        check(r["status"] == 403, "a labeler reading a manager report is refused: %s" % r)
        r = fetch_in_page(d, "PUT", "/api/v1/projects/%s/audit-policy" % PROJECT, {"rate": 0.0}, csrf=True)
        check(r["status"] == 403, "a labeler changing the audit policy is refused: %s" % r)
        sign_out(d)

        # 7. The auditor's blind task.
        # sign_in loads a fresh page: the recorder holds every response
        # from before the sign-in on (the auditor's view opens by default).
        sign_in(d, base, AUDITOR, PASSWORDS[AUDITOR])
        audit_item = wait_task(d, None, "an audit task")
        time.sleep(0.5)  # let the wellbeing and other side requests land
        page = d.execute_script("return document.body.innerText")
        check(LABELER not in page, "the audit page does not show the labeler")
        outside_buttons = d.execute_script("""
          const clone = document.body.cloneNode(true);
          for (const b of clone.querySelectorAll('.label-btn, #lang-select, #project-select')) b.remove();
          return clone.textContent;""")
        check("spam" not in outside_buttons, "the audit page shows the first label nowhere but among the label buttons")
        rec = responses(d)
        check(any(r["url"].endswith("/lease") and '"task"' in (r["body"] or "") for r in rec),
              "the recorder saw the lease response")
        bad = {r["url"]: blind_violations(r, "spam", LABELER) for r in rec}
        bad = {u: v for u, v in bad.items() if v}
        check(not bad, "no API response of the auditor's session holds the labeler or the first label: %s" % bad)
        press(d, "1")  # ok: disagrees with the labeler's spam
        wait(d, lambda x: text_of(x, "#done-count") == "1 done", "the audit submitted")
        sign_out(d)

        # 8. The manager watches while the lead adjudicates.
        m = new_browser(c.dir, "m")
        drivers.append(m)
        sign_in(m, base, MANAGER, PASSWORDS[MANAGER])
        wait(m, lambda x: by_css(x, "#dash-quality_labeler table, #dash-quality_labeler p"), "the dashboard's figures")
        before = labeler_cell(m, "Adjudications")
        check(before in (None, "0"), "before the verdict, no adjudication of the labeler's work (%s)" % before)
        m.execute_script("window.__tallyResponses = []")

        sign_in(d, base, LEAD, PASSWORDS[LEAD])  # opens on adjudication
        adj_item = wait_task(d, None, "an adjudication task")
        check(audit_item.split()[-1] in adj_item, "the lead gets the audited item")
        cands = [e.text for e in by_css(d, "#candidates .cand-label")]
        check(sorted(cands) == ["ok", "spam"], "the lead sees candidates A and B: %s" % cands)
        check(by_css(d, "#adj-unclear"), "the lead may call the policy unclear")
        # Not unclear: the verdict judges, so the labeler's accuracy moves.
        by_css(d, "#adj-note")[0].send_keys(NOTE)
        by_css(d, ".label-btn[data-label='spam']")[0].click()
        wait(d, lambda x: text_of(x, "#done-count") == "1 done", "the verdict submitted")

        wait(m, lambda x: labeler_cell(x, "Adjudications") == "1",
             "the dashboard shows the adjudication without a reload", timeout=60)
        acc, judged = labeler_cell(m, "Accuracy"), labeler_cell(m, "Judged")
        check((acc, judged) == ("1.000", "1"),
              "the verdict (spam, the labeler's label) makes the labeler's accuracy 1 of 1: %s of %s" % (acc, judged))

        # The lead finds the case by the words of the note.
        by_css(d, "#nav-cases")[0].click()
        q = wait(d, lambda x: by_css(x, "#cases-q"), "the case search")[0]
        q.send_keys("nothing about")
        by_css(d, "#cases-form button[type=submit]")[0].click()
        wait(d, lambda x: NOTE in (text_of(x, "#cases-table") or "") and adj_item.split()[-1] in (text_of(x, "#cases-table") or ""),
             "the case database search finds the adjudicated item by its note")
        by_css(d, "#cases-q")[0].clear()
        by_css(d, "#cases-q")[0].send_keys("no case has these words")
        by_css(d, "#cases-form button[type=submit]")[0].click()
        wait(d, lambda x: not by_css(x, "#cases-table tbody tr") and "0 cases" in (text_of(x, "#cases-results") or ""),
             "a search for other words finds no case")
        check(m.execute_script("return performance.getEntriesByType('navigation').length") == 1
              and any("/reports/quality" in r["url"] for r in responses(m)),
              "the figures came from the page's own refresh (same document, new report requests)")
        check(by_css(m, "#chart-accuracy g.bar-row[data-group='%s'] rect.bar" % LABELER),
              "the accuracy chart has a bar for the labeler")
        check(by_css(m, "#chart-accuracy g.bar-row[data-group='%s'] line.whisker" % LABELER),
              "with its Wilson interval whisker")

        # Editable where the role allows: the lead reads the dashboard's
        # settings, the manager changes them.
        by_css(d, "#nav-dashboard")[0].click()
        wait(d, lambda x: by_css(x, "#allocation-table input.alloc"), "the lead's dashboard")
        check(all(not e.is_enabled() for e in by_css(d, "#audit-policy-form input, #wellbeing-form input, "
                                                        "#allocation-table input.alloc")),
              "the lead sees the audit policy, wellbeing and allocation read-only")
        rate = by_css(m, "#ap-rate")[0]
        rate.clear()
        rate.send_keys("0.5")
        by_css(m, "#audit-policy-form button[type=submit]")[0].click()
        wait(m, lambda x: any(r["url"].endswith("/audit-policy") and r["status"] == 200 for r in responses(x)),
             "the manager's audit policy saved")
        projects = fetch_in_page(m, "GET", "/api/v1/projects", csrf=False)["body"]["projects"]
        check([p["audit_policy"]["rate"] for p in projects if p["name"] == PROJECT] == [0.5],
              "the cluster holds the new audit rate")
        cell = "#allocation-table input.alloc[data-person='%s'][data-market='%s']"
        check(by_css(m, cell % (RATE_VICTIM, MARKET))[0].is_selected(), "the allocation grid shows a labeler's market")
        box = by_css(m, cell % (RATE_VICTIM, OTHER_MARKET))[0]
        check(not box.is_selected(), "and not the market the labeler lacks")
        box.click()
        wait(m, lambda x: any(r["url"].endswith("/labelers/" + RATE_VICTIM) and r["status"] == 200 for r in responses(x)),
             "the manager's allocation change saved")
        people = fetch_in_page(m, "GET", "/api/v1/labelers", csrf=False)["body"]["labelers"]
        check([sorted(p["markets"]) for p in people if p["id"] == RATE_VICTIM] == [sorted([MARKET, OTHER_MARKET])],
              "the cluster gave the labeler the other market")

        # The labeler's feedback: the closed audit, right; nothing of the
        # eleven audits still pending.
        sign_out(d)
        sign_in(d, base, LABELER, PASSWORDS[LABELER])
        closed_id = adj_item.split()[-1]
        wait(d, lambda x: closed_id in (text_of(x, "#feedback") or ""), "the labeler's feedback lists the closed audit")
        rows = [e.text for e in by_css(d, "#feedback li")]
        check(len(rows) == 1 and by_css(d, "#feedback li.ok"),
              "the feedback holds the one closed audit, judged right, and no pending one: %s" % rows)

        errs = []
        for drv in drivers:
            errs += browser_errors(drv)
        check(not errs, "no script error or CSP report in the browser logs: %s" % errs)

        # 9. Rate-limited sign-in (last: it may also limit this address).
        statuses = []
        for _ in range(30):
            st, _, _ = http(base, "POST", "/api/v1/auth/login", {"person": RATE_VICTIM, "password": "wrong"})
            statuses.append(st)
            if st == 429:
                break
        check(statuses[0] == 401, "a wrong password is refused (401)")
        check(statuses[-1] == 429, "repeated wrong passwords are rate-limited (429 after %d)" % (len(statuses) - 1))
        st, _, _ = http(base, "POST", "/api/v1/auth/login", {"person": RATE_VICTIM, "password": PASSWORDS[RATE_VICTIM]})
        check(st == 429, "while limited, even the right password is refused")
        return 0
    finally:
        failed = sys.exc_info()[0] is not None
        for drv in drivers:
            if failed:
                dump_page(drv)
            try:
                drv.quit()
            except Exception as e:
                log("driver quit:", e)
        if failed:
            log("gateway log tail:\n" + c.gateway_log())
        c.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="directory of tally, tally-gateway, the daemons")
    ap.add_argument("--source", required=True, help="the source checkout (deploy/, gateway/console/)")
    args = ap.parse_args()
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        print("console_browser: SKIP: chromium or chromedriver not installed "
              "(scripts/install-deps installs chromium chromium-driver)", flush=True)
        return 77
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("console_browser: FAIL: chromium is here but python3-selenium is not importable by %s"
              % sys.executable, flush=True)
        return 1

    def on_deadline(signum, frame):
        raise Failure("the test's deadline of %d s passed" % TEST_DEADLINE_S)
    signal.signal(signal.SIGALRM, on_deadline)
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(Failure("SIGTERM")))
    signal.alarm(TEST_DEADLINE_S)
    try:
        return run(args)
    except Failure as e:
        print("FAIL:", e, flush=True)
        return 1
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
