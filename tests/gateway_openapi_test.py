#!/usr/bin/env python3
"""docs/openapi.yaml and the gateway's route table (gateway/api.c) agree:
every route is documented with its method, and every documented API
operation has a route. Usage: gateway_openapi_test.py SOURCE_DIR"""
import os
import re
import sys

import yaml

root = sys.argv[1]
spec = yaml.safe_load(open(os.path.join(root, "docs", "openapi.yaml")))
routes = re.findall(r'\{"(GET|POST|PUT|DELETE)", "([^"]+)"', open(os.path.join(root, "gateway", "api.c")).read())
failed = 0
if not spec.get("openapi", "").startswith("3."):
    print("FAIL: not an OpenAPI 3 document")
    failed += 1


def matches(route, path):
    return route == path or (route.endswith("/") and path.startswith(route))


for method, route in routes:
    if not any(matches(route, p) and method.lower() in ops for p, ops in spec["paths"].items()):
        print("FAIL: route %s %s is not in docs/openapi.yaml" % (method, route))
        failed += 1
for path, ops in spec["paths"].items():
    for method in ops:
        if method.startswith("x-") or method == "parameters" or path == "/":
            continue
        if not any(r[0].lower() == method and matches(r[1], path) for r in routes):
            print("FAIL: %s %s is documented but has no route" % (method.upper(), path))
            failed += 1
print("%d routes, %d paths, %d failed" % (len(routes), len(spec["paths"]), failed))
sys.exit(1 if failed or not routes else 0)
