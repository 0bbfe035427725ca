#!/usr/bin/env python3
"""HTTP client half of gateway_integration_test: drives tally-gateway's JSON
API (docs/openapi.yaml) with Python's standard library only.

Usage: gateway_api_test.py BASE_URL   (run by gateway_integration_test, which
sets up the cluster: project "web" with every label audited, people ana
(labeler), aud (auditor), lea (lead), man (manager), bob (labeler) with
passwords "<id>-password-1", items item-00..11 where item-00 holds <script>,
item-01 an onerror attribute, item-02 is hinted high-severity; the gateway
runs with --login-failures 3). METRICS_URL, the 4th argument, is that
gateway's --metrics-listen address: at the end its /metrics page must pass
`promtool check metrics` and count exactly the requests this script made.
Exits 0 when every check passed."""
import http.client
import collections
import json
import os
import re
import socket
import subprocess
import ssl
import sys
import time
import urllib.parse

BASE = urllib.parse.urlparse(sys.argv[1])
CLI_TOKEN = sys.argv[2] if len(sys.argv) > 2 else ""  # made by `tally token create bob`
TLS = urllib.parse.urlparse(sys.argv[3]) if len(sys.argv) > 3 else None  # a second gateway, HTTPS
METRICS = urllib.parse.urlparse(sys.argv[4]) if len(sys.argv) > 4 else None  # the first gateway's
DEADLINE = time.monotonic() + 240
answered = collections.Counter()  # (method, path, status) the first gateway answered
failures = 0
passed = 0


def check(cond, what):
    global failures, passed
    if cond:
        passed += 1
    else:
        failures += 1
        print("FAIL:", what, file=sys.stderr)
    if time.monotonic() > DEADLINE:
        print("FAIL: deadline", file=sys.stderr)
        sys.exit(1)


class Session:
    """One browser-like client: a keep-alive connection and its cookie."""

    def __init__(self, tls=False):
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
            self.conn = http.client.HTTPSConnection(TLS.hostname, TLS.port, timeout=60, context=context)
        else:
            self.conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=60)
        self.tls = tls
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, csrf=True, headers=None):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if self.cookie:
            h["Cookie"] = "tally_session=" + self.cookie
        if csrf and self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        raw = r.read()
        if not self.tls:
            answered[(method, path.split("?")[0], r.status)] += 1
        for name, value in r.getheaders():
            if name.lower() == "set-cookie" and value.startswith("tally_session="):
                self.last_set_cookie = value
                v = value.split(";")[0].split("=", 1)[1]
                self.cookie = v or None
        try:
            doc = json.loads(raw) if raw and r.getheader("Content-Type", "").startswith("application/json") else None
        except ValueError:
            doc = None
        return r.status, doc, r, raw

    def login(self, person, password):
        status, doc, r, raw = self.request("POST", "/api/v1/auth/login", {"person": person, "password": password})
        if status == 200:
            self.csrf = doc["csrf_token"]
        return status, doc, r


def walk_keys(doc):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from walk_keys(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from walk_keys(v)


def parse_metrics(text):
    """{(name, frozenset of (label, value))): value} of an exposition page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if m is None:
            check(False, "metrics line parses: " + line)
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(page, name, **labels):
    return page.get((name, frozenset(labels.items())), 0.0)


def check_metrics():
    """The gateway's /metrics, on its own address only, counts what we did."""
    anon = Session()
    status, _, _, _ = anon.request("GET", "/metrics")
    check(status == 404, "no /metrics on the public port (it would break the blind)")
    conn = http.client.HTTPConnection(METRICS.hostname, METRICS.port, timeout=30)
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    raw = r.read()
    check(r.status == 200 and r.getheader("Content-Type", "").startswith("text/plain"), "metrics page served")
    if os.access("/usr/bin/promtool", os.X_OK):
        p = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=raw, capture_output=True, timeout=60)
        check(p.returncode == 0, "promtool check metrics: " + (p.stdout + p.stderr).decode(errors="replace"))
    else:
        print("note: /usr/bin/promtool not installed, exposition not linted", file=sys.stderr)
    page = parse_metrics(raw.decode())
    login = "/api/v1/auth/login"
    logins = {s: n for (m, path, s), n in answered.items() if m == "POST" and path == login}
    check(logins.get(401, 0) >= 4 and logins.get(429, 0) >= 1, "the test made failed and refused sign-ins")
    for s, n in logins.items():
        got = metric(page, "tally_gateway_http_requests_total", method="POST", route=login, status=str(s))
        check(got == n, "sign-ins answered %d: %d counted, %d made" % (s, got, n))
    check(metric(page, "tally_gateway_sign_ins_total", result="failed") == logins.get(401, 0),
          "failed sign-ins counted")
    check(metric(page, "tally_gateway_sign_ins_total", result="rate_limited") == logins.get(429, 0),
          "rate-limited sign-ins counted")
    check(metric(page, "tally_gateway_sign_ins_total", result="ok") == logins.get(200, 0), "sign-ins counted")
    check(metric(page, "tally_gateway_http_request_duration_seconds_count", method="POST", route=login)
          == sum(logins.values()), "every sign-in timed")
    healthz = answered[("GET", "/healthz", 200)]
    check(healthz >= 1 and metric(page, "tally_gateway_http_requests_total", method="GET", route="/healthz",
                                  status="200") == healthz, "healthz counted")
    unmatched = sum(n for (m, path, s), n in answered.items() if s == 404 and path in ("/api/v1/nothing", "/metrics"))
    check(metric(page, "tally_gateway_http_requests_total", method="other", route="unmatched", status="404")
          >= unmatched >= 2, "unknown paths counted under 'unmatched', not by their path")
    check(not any(("route", "/api/v1/nothing") in labels for (_, labels) in page), "no series for a raw path")
    leases = sum(n for (m, path, s), n in answered.items() if m == "POST" and path == "/api/v1/lease")
    check(leases >= 1 and sum(v for (name, labels), v in page.items()
                              if name == "tally_gateway_cluster_requests_total" and ("kind", "lease") in labels)
          >= leases, "lease requests to the cluster counted")
    check(sum(v for (name, labels), v in page.items()
              if name == "tally_gateway_cluster_requests_total" and ("kind", "pool") in labels) >= sum(logins.values())
          - logins.get(429, 0), "blocking cluster calls counted (one per checked password at least)")


def main():
    anon = Session()
    # health, 404, unauthenticated
    status, _, r, raw = anon.request("GET", "/healthz")
    check(status == 200 and raw == b"ok\n", "healthz")
    status, doc, _, _ = anon.request("GET", "/api/v1/me")
    check(status == 401 and doc["error"]["code"] == "UNAUTHENTICATED", "me without sign-in is 401")
    status, _, _, _ = anon.request("GET", "/api/v1/nothing")
    check(status == 404, "unknown API path is 404")
    # the console page carries a CSP
    status, _, r, raw = anon.request("GET", "/")
    check(status == 200 and b"<title>Tally" in raw, "index.html served")
    csp = r.getheader("Content-Security-Policy") or ""
    check("default-src 'self'" in csp and "script-src 'self'" in csp, "CSP on HTML: " + csp)
    check(r.getheader("X-Content-Type-Options") == "nosniff", "nosniff on HTML")
    status, _, _, _ = anon.request("GET", "/../etc/passwd")
    check(status == 404, "no path traversal")

    # wrong passwords refused, then rate-limited per person (--login-failures 3)
    bob = Session()
    for i in range(3):
        status, doc, _ = bob.login("bob", "wrong-password")
        check(status == 401 and doc["error"]["code"] == "UNAUTHENTICATED", "wrong password is 401")
    status, doc, r = bob.login("bob", "bob-password-1")
    check(status == 429 and doc["error"]["code"] == "RATE_LIMITED", "4th attempt is 429 even when right")
    check(r.getheader("Retry-After") is not None, "Retry-After on 429")
    status, doc, _ = anon.login("nobody", "whatever-1")
    check(status == 401, "unknown person is 401 like a wrong password")

    # the labeler signs in
    ana = Session()
    status, doc, r = ana.login("ana", "ana-password-1")
    check(status == 200 and doc["person"] == "ana" and doc["roles"] == ["labeler"], "ana signs in")
    sc = ana.last_set_cookie
    check("HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc, "cookie flags: " + sc)
    check("Secure" not in sc, "no Secure flag without TLS")
    status, doc, _, _ = ana.request("GET", "/api/v1/me")
    check(status == 200 and doc["csrf_token"] == ana.csrf and doc["markets"] == ["es"], "me")
    # a forged cookie is not a session
    forged = Session()
    forged.cookie = ana.cookie[:-3] + ("AAA" if not ana.cookie.endswith("AAA") else "BBB")
    status, _, _, _ = forged.request("GET", "/api/v1/me")
    check(status == 401, "a forged cookie is refused")

    # POST without the CSRF token: 403; a labeler calling a manager API: 403
    status, doc, _, _ = ana.request("POST", "/api/v1/lease", {"project": "web", "stage": "label", "wait_ms": 0}, csrf=False)
    check(status == 403 and doc["error"]["code"] == "CSRF", "POST without CSRF is 403 CSRF")
    status, doc, _, _ = ana.request("POST", "/api/v1/lease", {"project": "web", "stage": "label", "wait_ms": 0},
                                    headers={"X-CSRF-Token": "not-the-token"}, csrf=False)
    check(status == 403 and doc["error"]["code"] == "CSRF", "POST with a wrong CSRF token is 403")
    status, doc, _, _ = ana.request("GET", "/api/v1/reports/quality?project=web")
    check(status == 403 and doc["error"]["code"] == "PERMISSION_DENIED", "labeler on a manager API is 403")
    status, doc, _, _ = ana.request("POST", "/api/v1/ingest", {"project": "web", "items": [{"id": "x", "market": "es"}]})
    check(status == 403, "labeler cannot ingest")
    status, doc, _, _ = ana.request("POST", "/api/v1/lease", {"project": "web", "stage": "audit", "wait_ms": 0})
    check(status == 403, "labeler cannot lease audits")
    status, doc, _, _ = ana.request("GET", "/api/v1/projects")
    check(status == 200 and [p["name"] for p in doc["projects"]] == ["web"], "projects")
    check("audit_policy" not in doc["projects"][0], "a labeler does not see the audit policy")

    # label all 12 tasks (markup comes back as JSON data, never as HTML)
    seen = {}
    for i in range(12):
        status, doc, r, raw = ana.request("POST", "/api/v1/lease", {"project": "web", "stage": "label", "wait_ms": 5000})
        check(status == 200 and doc["task"] is not None, "lease %d" % i)
        if status != 200 or doc["task"] is None:
            break
        check(r.getheader("Content-Type") == "application/json; charset=utf-8", "JSON content type")
        check(r.getheader("X-Content-Type-Options") == "nosniff", "nosniff on JSON")
        task = doc["task"]
        check(b"<script>" not in raw and b"<img" not in raw, "markup escaped in the JSON text")
        seen[task["item_id"]] = task
        label = "spam" if task["item_id"] in ("item-00", "item-01", "item-03") else "ok"
        status, doc, _, _ = ana.request("POST", "/api/v1/submit", {"lease": task["lease"], "label": label, "handling_ms": 1200})
        check(status == 200 and doc == {"ok": True}, "submit %d" % i)
    check(len(seen) == 12, "12 distinct tasks")
    if "item-00" in seen:
        check(seen["item-00"]["content"]["text"] == "<script>alert('x')</script>", "script content returned as data")
        check(seen["item-01"]["content"]["text"] == "\"><img src=x onerror=alert(1)>", "onerror content as data")
        check(seen["item-02"]["severity_hint"] is True and seen["item-03"]["severity_hint"] is False, "severity hint")
        check(seen["item-00"]["labels"] == ["ok", "spam", "hate"] and seen["item-00"]["stage"] == "label", "task fields")
    # a repeated submit of a used lease answers as the first did; with
    # another label it is a conflict (the first label is kept)
    any_task = seen.get("item-00") or next(iter(seen.values()), None)
    if any_task:
        first = "spam" if any_task["item_id"] in ("item-00", "item-01", "item-03") else "ok"
        other = "hate"
        status, doc, _, _ = ana.request("POST", "/api/v1/submit", {"lease": any_task["lease"], "label": first})
        check(status == 200 and doc == {"ok": True}, "a repeated submit answers as the first: %s %s" % (status, doc))
        status, doc, _, _ = ana.request("POST", "/api/v1/submit", {"lease": any_task["lease"], "label": other})
        check(status == 409 and doc["error"]["code"] == "STALE_LEASE", "stale lease is 409: %s %s" % (status, doc))
    status, doc, _, _ = ana.request("POST", "/api/v1/submit", {"lease": "not-a-lease", "label": "ok"})
    check(status == 400, "malformed lease token is 400")
    status, doc, _, _ = ana.request("POST", "/api/v1/lease", {"project": "web", "stage": "label", "wait_ms": 300})
    check(status == 200 and doc == {"task": None}, "nothing left: task null after the wait")
    status, doc, _, _ = ana.request("GET", "/api/v1/wellbeing?project=web")
    check(status == 200 and doc["budget"] == 100 and doc["exposure"] >= 1, "wellbeing: %s" % doc)

    # the auditor: blind tasks, no first label, no labeler
    aud = Session()
    status, doc, _ = aud.login("aud", "aud-password-1")
    check(status == 200 and doc["language"] == "ko", "aud signs in, language from the CLI")
    audited = 0
    for i in range(12):
        status, doc, r, raw = aud.request("POST", "/api/v1/lease", {"project": "web", "stage": "audit", "wait_ms": 5000})
        if status != 200 or doc["task"] is None:
            break
        task = doc["task"]
        keys = set(walk_keys(doc))
        check(keys <= {"task", "lease", "project", "item_id", "market", "stage", "priority", "content", "text",
                       "media_url", "media_type", "severity_hint", "deadline_ms", "labels"}, "audit task keys %s" % keys)
        check(b"ana" not in raw, "the labeler's id is nowhere in the audit task")
        check(task["stage"] == "audit" and "candidates" not in task, "audit task")
        # the auditor disagrees on item-03 (ana said spam), agrees elsewhere
        label = "ok" if task["item_id"] == "item-03" else ("spam" if task["item_id"] in ("item-00", "item-01") else "ok")
        status, doc, _, _ = aud.request("POST", "/api/v1/submit", {"lease": task["lease"], "label": label})
        check(status == 200, "audit submit")
        audited += 1
    check(audited == 12, "12 audits (rate 1.0), got %d" % audited)

    # the lead adjudicates item-03: candidates spam and ok, hidden order
    lea = Session()
    status, _, _ = lea.login("lea", "lea-password-1")
    status, doc, r, raw = lea.request("POST", "/api/v1/lease", {"project": "web", "stage": "adjudicate", "wait_ms": 10000})
    check(status == 200 and doc["task"] is not None, "adjudication task")
    if status == 200 and doc["task"]:
        task = doc["task"]
        check(task["item_id"] == "item-03" and sorted(task["candidates"]) == ["ok", "spam"], "candidates")
        check(b"ana" not in raw and b"aud" not in raw, "no names in the adjudication task")
        status, doc, _, _ = lea.request("POST", "/api/v1/submit", {"lease": task["lease"], "label": "ok",
                                                                    "note": "benign <b>quote</b>"})
        check(status == 200, "verdict")
    # cases and reports for the lead
    status, doc, _, _ = lea.request("GET", "/api/v1/cases?project=web&q=plain")
    check(status == 200 and [c["item_id"] for c in doc["cases"]] == ["item-03"], "case search: %s" % doc)
    status, doc, _, _ = lea.request("GET", "/api/v1/cases/web/item-03")
    check(status == 200 and doc["final_label"] == "ok" and doc["note"] == "benign <b>quote</b>", "case get")
    status, doc, _, _ = lea.request("GET", "/api/v1/reports/quality?project=web&by=labeler")
    check(status == 200 and doc["rows"] and doc["rows"][0]["group"] == "ana" and doc["rows"][0]["audits"] == 12,
          "quality by labeler: %s" % doc)
    status, doc, _, _ = lea.request("GET", "/api/v1/reports/confusion?project=web")
    check(status == 200 and doc["labels"] == ["ok", "spam", "hate"] and doc["matrix"][1][0] == 1, "confusion %s" % doc)

    # feedback for ana names her closed audits
    status, doc, _, _ = ana.request("GET", "/api/v1/feedback?project=web")
    check(status == 200 and any(f["item_id"] == "item-03" and f["correct"] is False for f in doc["feedback"]),
          "feedback: %s" % doc)
    # ... and where she stands: the same closed audits, counted
    if status == 200:
        standing = [s for s in doc.get("standing", []) if s["project"] == "web"]
        judged = [f for f in doc["feedback"] if not f["policy_unclear"]]
        check(len(standing) == 1 and standing[0]["closed"] == len(doc["feedback"]) and
              standing[0]["judged"] == len(judged) and
              standing[0]["correct"] == len([f for f in judged if f["correct"]]) and
              standing[0]["ramp"] in ("-", "ramping", "done"), "standing: %s" % doc.get("standing"))

    # a long-poll whose client goes away (a reload, a closed tab) must not
    # swallow the next item: the gateway stops asking, or gives it back
    body = json.dumps({"project": "web", "stage": "label", "wait_ms": 20000})
    raw_req = ("POST /api/v1/lease HTTP/1.1\r\nHost: test\r\nCookie: tally_session=%s\r\nX-CSRF-Token: %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (ana.cookie, ana.csrf, len(body), body))
    gone = socket.create_connection((BASE.hostname, BASE.port))
    gone.sendall(raw_req.encode())
    time.sleep(0.5)
    gone.close()

    # the manager: ops, labelers, allocation, audit policy, ingest, export
    man = Session()
    status, doc, _ = man.login("man", "man-password-1")
    check(status == 200 and doc["roles"] == ["manager"], "man signs in")
    status, doc, _, _ = man.request("GET", "/api/v1/reports/ops?project=web")
    check(status == 200 and "queues" in doc and "throughput" in doc and "sla" in doc, "ops report")
    status, doc, _, _ = man.request("GET", "/api/v1/labelers")
    check(status == 200 and "ana" in [l["id"] for l in doc["labelers"]], "labelers")
    status, doc, _, _ = man.request("PUT", "/api/v1/labelers/bob", {"add_markets": ["es"], "roles": ["labeler", "auditor"]})
    check(status == 200 and doc["labeler"]["roles"] == ["labeler", "auditor"], "labeler update: %s" % doc)
    status, doc, _, _ = man.request("PUT", "/api/v1/projects/web/audit-policy", {"rate": 0.5})
    check(status == 200, "audit policy set")
    status, doc, _, _ = man.request("PUT", "/api/v1/projects/web/wellbeing", {"exposure_budget": 50})
    check(status == 200, "wellbeing set")
    status, doc, _, _ = man.request("GET", "/api/v1/projects")
    check(status == 200 and doc["projects"][0]["audit_policy"]["rate"] == 0.5 and
          doc["projects"][0]["wellbeing"]["exposure_budget"] == 50, "settings stored")
    status, doc, _, _ = man.request("POST", "/api/v1/ingest", {"project": "web", "items": [
        {"id": "new-1", "market": "es", "text": "{\"sim_truth\": \"hate\", \"text\": \"hello\"}"},
        {"id": "new-2", "market": "es", "text": "look", "media_url": "https://example.org/a.png", "media_type": "image"},
        {"id": "new-3", "market": "zz", "text": "bad market"}]})
    check(status == 200 and doc["accepted"] == 2 and len(doc["rejected"]) == 1 and doc["rejected"][0]["id"] == "new-3",
          "ingest: %s" % doc)
    status, doc, r, raw = man.request("GET", "/api/v1/export?project=web")
    check(status == 200 and r.getheader("Content-Type") == "application/x-ndjson", "export type")
    lines = [json.loads(l) for l in raw.decode().splitlines() if l]
    check(len(lines) == 12 and all("final_label" in l for l in lines), "export: 12 judgments, got %d" % len(lines))
    status, doc, _, _ = lea.request("GET", "/api/v1/export?project=nope")
    check(status == 404, "export of an unknown project is 404")

    # both new items reach the live session (none went to the abandoned
    # long-poll); the media item comes back with its URL
    got = {}
    for _ in range(4):
        status, doc, _, _ = ana.request("POST", "/api/v1/lease", {"project": "web", "stage": "label", "wait_ms": 5000})
        if status != 200 or not doc["task"]:
            continue
        got[doc["task"]["item_id"]] = doc["task"]
        if len(got) == 2:
            break
    check(set(got) == {"new-1", "new-2"}, "both new items leased by the live session: %s" % sorted(got))
    for task in got.values():
        status, _, _, _ = ana.request("POST", "/api/v1/release", {"lease": task["lease"]})
        check(status == 200, "release")
    if "new-1" in got:
        # a JSON object with a "text" shows that text only (the simulator's
        # answer in its other members never reaches a person)
        check(got["new-1"]["content"] == {"text": "hello", "media_url": "", "media_type": ""},
              "object content shows its text only: %s" % got["new-1"]["content"])
    if "new-2" in got:
        check(got["new-2"]["content"] == {"text": "look", "media_url": "https://example.org/a.png", "media_type": "image"},
              "media content")

    # language, API token (no cookie, no CSRF), password change, logout
    status, doc, _, _ = ana.request("PUT", "/api/v1/me/language", {"language": "ja"})
    check(status == 200 and doc["language"] == "ja", "language set")
    status, doc, _, _ = ana.request("PUT", "/api/v1/me/language", {"language": "xx"})
    check(status == 400, "unknown language refused")
    status, doc, _, _ = ana.request("POST", "/api/v1/auth/tokens", {"name": "script-1"})
    check(status == 201 and doc["token"].startswith("tly_"), "token made")
    token = doc["token"] if status == 201 else ""
    script = Session()
    status, doc, _, _ = script.request("GET", "/api/v1/me", headers={"Authorization": "Bearer " + token})
    check(status == 200 and doc["person"] == "ana" and doc["language"] == "ja", "bearer token signs in: %s" % doc)
    status, doc, _, _ = script.request("POST", "/api/v1/lease", {"project": "web", "stage": "label", "wait_ms": 0},
                                       headers={"Authorization": "Bearer " + token})
    check(status == 200, "bearer POST needs no CSRF")
    if status == 200 and doc["task"]:
        script.request("POST", "/api/v1/release", {"lease": doc["task"]["lease"]}, headers={"Authorization": "Bearer " + token})
    status, doc, _, _ = script.request("GET", "/api/v1/me", headers={"Authorization": "Bearer " + CLI_TOKEN})
    check(status == 200 and doc["person"] == "bob", "the CLI's token signs bob in")
    status, doc, _, _ = script.request("GET", "/api/v1/me", headers={"Authorization": "Bearer tly_wrong"})
    check(status == 401, "unknown token is 401")
    status, doc, _, _ = ana.request("POST", "/api/v1/auth/password", {"old": "wrong-old-1", "new": "ana-password-2"})
    check(status == 403, "password change needs the old password")
    status, doc, _, _ = ana.request("POST", "/api/v1/auth/password", {"old": "ana-password-1", "new": "ana-password-2"})
    check(status == 204, "password changed")
    fresh = Session()
    status, _, _ = fresh.login("ana", "ana-password-2")
    check(status == 200, "signs in with the new password")
    status, doc, _, _ = ana.request("POST", "/api/v1/auth/logout", {})
    check(status == 204 and ana.cookie is None, "logout clears the cookie")

    # HTTPS: a second gateway with --tls-cert/--tls-key; the session made by
    # the first gateway is good here too (they share only the cluster)
    if TLS is not None:
        man_tls = Session(tls=True)
        status, doc, _ = man_tls.login("man", "man-password-1")
        check(status == 200, "sign-in over HTTPS")
        sc = getattr(man_tls, "last_set_cookie", "")
        check("Secure" in sc and "HttpOnly" in sc and "SameSite=Strict" in sc, "Secure cookie under TLS: " + sc)
        other = Session(tls=True)
        other.cookie, other.csrf = man.cookie, man.csrf
        status, doc, _, _ = other.request("GET", "/api/v1/me")
        check(status == 200 and doc["person"] == "man", "a session of one gateway is good at another")

    if METRICS is not None:
        check_metrics()

    print("%d passed, %d failed" % (passed, failures))
    return 0 if failures == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
