#!/usr/bin/env python3
"""The README's table of arm64 zip sizes against the bootstraps sam build just made.

Every function of infra/template.yaml must have a row, no row may name another function, and
each row's byte count must be within 5 % of its bootstrap deflated as Lambda's zip is (zlib's
default level). Run by scripts/check-infra.sh after sam build; `--print` prints the rows to
paste instead (what a release that moves the sizes does).
"""
import io
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 0.05


def functions():
    """Logical id -> binary name, from the template's BuildProperties."""
    found, current = {}, None
    for line in (ROOT / "infra/template.yaml").read_text().splitlines():
        resource = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if resource:
            current = resource.group(1)
        binary = re.match(r"^\s+Binary:\s*([a-z0-9-]+)\s*$", line)
        if binary and current:
            found[current] = binary.group(1)
    return found


def zipped_size(path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, "bootstrap")
    return len(buffer.getvalue())


def table_rows():
    text = (ROOT / "README.md").read_text()
    block = text.split("| function | arm64 zip |\n|---|---|\n", 1)
    if len(block) != 2:
        sys.exit("error: README.md has no '| function | arm64 zip |' table")
    rows = {}
    for line in block[1].splitlines():
        if not line.startswith("|"):
            break
        match = re.match(r"^\| ([a-z0-9-]+) \| [0-9.]+ MiB \(([0-9,]+) bytes\) \|$", line)
        if not match:
            sys.exit(f"error: README.md zip table row not understood: {line}")
        rows[match.group(1)] = int(match.group(2).replace(",", ""))
    return rows


def main():
    built = {}
    for logical_id, binary in sorted(functions().items(), key=lambda item: item[1]):
        bootstrap = ROOT / ".aws-sam/build" / logical_id / "bootstrap"
        if not bootstrap.exists():
            sys.exit(f"error: {bootstrap} is missing: run sam build first")
        built[binary] = zipped_size(bootstrap)
    if "--print" in sys.argv:
        for binary, size in built.items():
            print(f"| {binary} | {size / 1048576:.2f} MiB ({size:,} bytes) |")
        return
    rows = table_rows()
    problems = [f"no row for {name}" for name in built if name not in rows]
    problems += [f"a row for {name}, which the template does not build" for name in rows if name not in built]
    for name, size in built.items():
        if name in rows and abs(rows[name] - size) > TOLERANCE * size:
            problems.append(f"{name}: the table says {rows[name]:,} bytes, the build gives {size:,}")
    if problems:
        sys.exit("error: README.md's zip table: " + "; ".join(problems) + " (scripts/check-zip-table.py --print gives the rows)")
    print(f"    README.md's zip table matches the {len(built)} built functions (within {TOLERANCE:.0%})")


if __name__ == "__main__":
    main()
