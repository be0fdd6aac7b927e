#!/usr/bin/env python3
"""Checks the rules of the source layout (docs/architecture.md, "Layout"):

- the core (src/model/) imports no exporter, no tower, no http and no framework;
- the Prometheus exporter meets the fast path only through its seam (items of src/fast/mod.rs);
- no import circle among the files of one folder (src/model, src/fast, src/tower,
  src/exporter/prometheus, src/integrations/actix); a child naming its folder's mod.rs is the
  parent edge every Rust module has, not a circle.

Test modules (from the first `#[cfg(test)]` on) are not checked. Exits 1 with the offending
lines when a rule is broken.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def code(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cut = text.find("#[cfg(test)]")
    if cut >= 0:
        text = text[:cut]
    # Comments and doc comments name other modules freely.
    return re.sub(r"(?m)//.*$", "", text)


def files(folder):
    folder = os.path.join(ROOT, folder)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".rs"):
            yield name[:-3], os.path.join(folder, name)


errors = []

# 1. The core's imports.
FORBIDDEN = re.compile(
    r"\b(crate::(exporter|tower|integrations|dashboard|classify)|tower_(layer|service)|http_body|"
    r"axum|actix_web|hyper|tonic|metrics_exporter_prometheus|http::)"
)
for name, path in files("model"):
    for n, line in enumerate(code(path).splitlines(), 1):
        if FORBIDDEN.search(line):
            errors.append(f"src/model/{name}.rs:{n}: the core imports outside it: {line.strip()}")

# 2. The exporter reaches into fast/ only through the seam.
for folder in ("exporter", "exporter/prometheus"):
    for name, path in files(folder):
        for n, line in enumerate(code(path).splitlines(), 1):
            if re.search(r"crate::fast::(block|lanes|publish|packed)\b", line):
                errors.append(f"src/{folder}/{name}.rs:{n}: past the fast path's seam: {line.strip()}")

# 3. No circle among the files of a folder.
for folder, prefix in [
    ("model", "crate::model::"),
    ("fast", "crate::fast::"),
    ("tower", "crate::tower::"),
    ("exporter/prometheus", "crate::exporter::prometheus::"),
    ("integrations/actix", "crate::integrations::actix::"),
]:
    mods = {name: path for name, path in files(folder) if name != "mod"}
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        text = code(path)
        for other in re.findall(r"super::(\w+)", text) + re.findall(re.escape(prefix) + r"(\w+)", text):
            if other in mods and other != m:
                edges[m].add(other)
    state, stack = {}, []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(edges[u]):
            if state.get(v) == 1:
                cycle = stack[stack.index(v):] + [v]
                errors.append(f"src/{folder}: import circle {' -> '.join(cycle)}")
            elif v not in state:
                visit(v)
        state[u] = 2
        stack.pop()

    for m in sorted(mods):
        if m not in state:
            visit(m)

if errors:
    print("\n".join(errors))
    sys.exit(1)
print("layout: the core imports no adapter, the exporter meets fast/ at its seam, no import circle")
