#!/usr/bin/env python3
"""The structure measures of issue 25 (docs/architecture.md, "Measured"): file-level import cycles
in each crate's non-test code, and the longest functions. `python3 scripts/structure.py [ROOT]`."""
import os, re, sys
from collections import defaultdict

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
CRATES = ["functions/reset-core", "admin", "local/sign-in", "bench", "functions/send-mail",
          "functions/mail-events"]

def modules(src):
    mods = {}
    for dp, _, fs in os.walk(src):
        for f in fs:
            if not f.endswith(".rs"): continue
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"): rel = rel[:-1]
            mods[tuple(rel)] = p
    return mods

def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)

def resolve(mods, path):
    path = tuple(path)
    while path and path not in mods: path = path[:-1]
    return path

def refs(text, me):
    out = set()
    # expand `use crate::a::{b, c::{d}}` roughly
    for m in re.finditer(r"\b(crate|super)((?:::\w+)*)(::\{([^;]*?)\})?", text):
        base = m.group(1)
        parts = [x for x in m.group(2).split("::") if x]
        start = list(me) if base == "super" else []
        if base == "super": start = start[:-1]
        full = start + parts
        out.add(tuple(full))
        if m.group(4):
            for item in re.split(r"[,{}\s]+", m.group(4)):
                if item and item != "self": out.add(tuple(full + item.split("::")))
    return out

def cycles(crate):
    src = os.path.join(ROOT, crate, "src")
    mods = modules(src)
    g = defaultdict(set)
    for mod, p in mods.items():
        if mod and mod[-1] in ("tests",) or (mod and mod[-1].endswith("tests")): continue
        text = strip(open(p).read())
        # drop #[cfg(test)] mod tests { ... } blocks roughly
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
        for r in refs(text, mod):
            t = resolve(mods, r)
            if t != mod and t and t != () and not (mod[:len(t)] == t):
                g[mod].add(t)
    # Tarjan
    idx, low, st, on, out, n = {}, {}, [], set(), [], [0]
    def sc(v):
        idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
        for w in g[v]:
            if w not in idx: sc(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(comp)
    sys.setrecursionlimit(10000)
    for v in list(mods):
        if v not in idx: sc(v)
    return out

def longest(n=12):
    rows = []
    for dp, _, fs in os.walk(ROOT):
        if "/target" in dp or "/node_modules" in dp or "/.tools" in dp or "/.git" in dp: continue
        for f in fs:
            if not f.endswith(".rs"): continue
            p = os.path.join(dp, f)
            lines = open(p).read().split("\n")
            for i, l in enumerate(lines):
                m = re.match(r"\s*(pub(\([^)]*\))?\s+)?(async\s+)?fn\s+(\w+)", l)
                if not m: continue
                depth, started = 0, False
                for j in range(i, len(lines)):
                    s = strip(lines[j])
                    if not started and ";" in s and "{" not in s: break
                    depth += s.count("{") - s.count("}")
                    if "{" in s: started = True
                    if started and depth <= 0:
                        rows.append((j - i + 1, os.path.relpath(p, ROOT), m.group(4))); break
    rows.sort(reverse=True)
    return rows[:n]

if __name__ == "__main__":
    print("## import cycles (file level, non-test code)")
    for c in CRATES:
        cs = cycles(c)
        print(f"{c}: {len(cs)} cycle(s)")
        for comp in cs: print("   ", " <-> ".join("::".join(m) or "lib" for m in comp))
    print("## longest functions (lines)")
    for n, p, f in longest(15):
        print(f"{n:4} {p} {f}")
