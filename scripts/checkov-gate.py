"""Runs checkov on the given templates and compares its findings with infra/checkov-accepted.yaml.

Fails on a finding that is not accepted, and on an accepted entry that matches no finding any
more (a fixed finding must leave the list). Run with the checkov venv's python, which has PyYAML.
"""
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHECKOV = ROOT / ".tools/checkov-venv/bin/checkov"


def findings(template: str) -> set:
    # --skip-download: no Prisma Cloud guidelines download (offline, and nothing to send).
    out = subprocess.run(
        [str(CHECKOV), "-f", template, "--framework", "cloudformation", "--skip-download", "-o", "json", "--quiet"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if out.returncode not in (0, 1):
        sys.exit(f"checkov failed on {template}:\n{out.stderr}")
    reports = json.loads(out.stdout or "{}")
    if isinstance(reports, dict):
        reports = [reports]
    found = set()
    for report in reports:
        for failed in report.get("results", {}).get("failed_checks", []):
            found.add((failed["check_id"], failed["resource"], template))
    return found


def main(templates):
    accepted_doc = yaml.safe_load((ROOT / "infra/checkov-accepted.yaml").read_text())
    accepted = {}
    for entry in accepted_doc["accepted"]:
        if not entry.get("reason", "").strip():
            sys.exit(f"infra/checkov-accepted.yaml: {entry['check']} has no reason")
        for resource in entry["resources"]:
            accepted[(entry["check"], resource, entry["file"])] = entry["reason"]
    found = set()
    for template in templates:
        found |= findings(template)
    new = sorted(found - accepted.keys())
    stale = sorted(k for k in accepted if k not in found and k[2] in templates)
    for check, resource, file in new:
        print(f"checkov: {check} on {resource} ({file}) is not in infra/checkov-accepted.yaml: fix it or accept it with a reason")
    for check, resource, file in stale:
        print(f"checkov: accepted {check} on {resource} ({file}) no longer occurs: remove it from infra/checkov-accepted.yaml")
    if new or stale:
        sys.exit(1)
    print(f"    checkov: {len(found)} finding(s), all accepted with a reason in infra/checkov-accepted.yaml")


if __name__ == "__main__":
    main(sys.argv[1:])
