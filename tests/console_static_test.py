#!/usr/bin/env python3
"""console_static: checks of the console's files that need no browser.

* i18n.js: every language has exactly the English keys and the same
  {placeholders}; every key app.js asks for (t('...'), and the keys built
  from a prefix and a known set of names) exists.
* No way for data to become markup or code: app.js uses no innerHTML,
  outerHTML, insertAdjacentHTML, document.write, eval, new Function or
  string timers; index.html has no inline script, no style attribute and no
  on* handler attribute (the console must run under a CSP without
  'unsafe-inline').
* Offline: no file loads anything from another origin (no http(s):// or
  protocol-relative URL in index.html or app.css, no @import, no url() but
  data: ones).

Usage: console_static_test.py CONSOLE_DIR
"""
import json
import os
import re
import sys

failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def main():
    d = sys.argv[1]
    app = open(os.path.join(d, "app.js"), encoding="utf-8").read()
    html = open(os.path.join(d, "index.html"), encoding="utf-8").read()
    css = open(os.path.join(d, "app.css"), encoding="utf-8").read()
    # Comments may name what the code must not do; check the code only.
    app = re.sub(r"^\s*//.*$", "", app, flags=re.M)
    i18n_src = open(os.path.join(d, "i18n.js"), encoding="utf-8").read()

    body = i18n_src[i18n_src.index("=", i18n_src.index("TALLY_I18N")) + 1:].strip().rstrip(";")
    langs = json.loads(body)
    check(set(langs) >= {"en", "es", "ja", "ko"}, "i18n.js has en, es, ja and ko")
    en = langs["en"]
    ph = lambda s: sorted(re.findall(r"\{(\w+)\}", s))
    for lang, table in langs.items():
        check(set(table) == set(en), "%s has exactly the English keys (missing %s, extra %s)"
              % (lang, sorted(set(en) - set(table)), sorted(set(table) - set(en))))
        wrong = [k for k in en if k in table and ph(table[k]) != ph(en[k])]
        check(not wrong, "%s keeps every placeholder (%s)" % (lang, wrong))
        empty = [k for k, v in table.items() if not v.strip()]
        check(not empty, "%s has no empty string (%s)" % (lang, empty))

    used = set(re.findall(r"\bt\('([a-z_]+\.[a-z_.]+|[a-z_]+)'\s*[,)]", app))
    # Keys built from a prefix: the names each prefix is used with.
    built = {
        "nav.": ["label", "audit", "adjudicate", "cases", "dashboard"],
        "stage.": ["label", "audit", "adjudicate"],
        "role.": ["labeler", "auditor", "lead", "manager", "operator", "gateway"],
        "work.": ["submitted", "skipped", "released"],
        "priority.": ["low", "high", "emergency"],
        "attr.": ["labeler", "auditor", "both", "policy_unclear"],
        "dash.": ["ops", "quality_labeler", "agreement_market", "agreement_category", "confusion",
                  "policy_gaps", "allocation", "audit_policy", "wellbeing", "throughput", "sla", "capacity"],
    }
    for prefix in re.findall(r"\bt\('([a-z_]+\.)'\s*\+", app):
        check(prefix in built or prefix == "col.", "app.js builds keys from %r: its names are listed here" % prefix)
    for prefix, names in built.items():
        used.update(prefix + n for n in names)
    missing = sorted(k for k in used if k not in en)
    check(not missing, "every key app.js uses is in i18n.js (missing %s)" % missing)
    check(len(used) > 80, "found the keys app.js uses (%d)" % len(used))

    for bad in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                "new Function", "setTimeout('", 'setTimeout("', "setInterval('", 'setInterval("'):
        check(bad not in app, "app.js does not use %s" % bad)
    check(not re.search(r"setAttribute\(\s*['\"](on\w+|style|href|src)['\"]", app),
          "app.js sets no handler, style, href or src attribute (properties only)")

    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
    check(scripts and all("src=" in attrs and not inner.strip() for attrs, inner in scripts),
          "index.html has only external scripts (%d)" % len(scripts))
    check(not re.search(r"\son[a-z]+\s*=", html, re.I), "index.html has no on* handler attribute")
    check(not re.search(r"\sstyle\s*=", html, re.I), "index.html has no style attribute")
    check("<style" not in html.lower(), "index.html has no <style> element")
    for name, text in (("index.html", html), ("app.css", css)):
        check(not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.sub(r"<!--.*?-->|/\*.*?\*/", "", text, flags=re.S), re.I),
              "%s loads nothing from another origin" % name)
    check("@import" not in css and not re.search(r"url\((?!\s*['\"]?data:)", css), "app.css imports nothing")
    check(not re.search(r"fetch\(\s*['\"]https?:", app), "app.js fetches only its own origin")

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
