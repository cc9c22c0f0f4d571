#!/usr/bin/env python3
"""Writes the intermediate templates that move the stack's users table (logical id UsersTable)
onto another, existing table: the one a point-in-time restore made (docs/operations.md,
"Restoring the users table"). CloudFormation imports an existing resource only under a logical id
the stack does not hold, and an import may change nothing else, so the switch takes three
deploys:

  detach   UsersTable removed (DeletionPolicy Retain: the old table stays, orphaned), every
           reference to it replaced by the *restored* table's name and ARN: the functions, the
           roles and the admin policy move to the restored table in this deploy.
  import   the detached template plus UsersTable again: an IMPORT change set binds the restored
           table to UsersTable; the literal references stay, so nothing else changes.
  (then)   infra/template.yaml itself: the references become !Ref / !GetAtt UsersTable again,
           which now is the restored table; no resource is replaced.

Usage (run with the venv of make test: .tools/venv/bin/python, which has samtranslator):
  scripts/users_table_switch.py detach --table-name NAME --table-arn ARN --out detached.json
  scripts/users_table_switch.py import --table-name NAME --table-arn ARN --out import.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[1]
LOGICAL_ID = "UsersTable"


def replace_references(value, name: str, arn: str):
    """Every Ref / GetAtt / ${…} of UsersTable replaced by the literal name or ARN."""
    if isinstance(value, list):
        return [replace_references(v, name, arn) for v in value]
    if not isinstance(value, dict):
        return value
    if value == {"Ref": LOGICAL_ID}:
        return name
    if "Fn::GetAtt" in value and len(value) == 1:
        target = value["Fn::GetAtt"]
        logical, attribute = target if isinstance(target, list) else target.split(".", 1)
        if logical == LOGICAL_ID:
            if attribute != "Arn":
                raise SystemExit(f"UsersTable.{attribute} is referenced: teach this script that attribute")
            return arn
    if "Fn::Sub" in value and len(value) == 1:
        sub = value["Fn::Sub"]
        text, variables = (sub, None) if isinstance(sub, str) else (sub[0], sub[1])
        text = text.replace("${UsersTable.Arn}", arn).replace("${UsersTable}", name)
        variables = replace_references(variables, name, arn) if variables is not None else None
        return {"Fn::Sub": text if variables is None else [text, variables]}
    return {k: replace_references(v, name, arn) for k, v in value.items()}


def detached(template: dict, name: str, arn: str) -> dict:
    out = copy.deepcopy(template)
    table = out["Resources"].pop(LOGICAL_ID)
    if table.get("DeletionPolicy") != "Retain":
        raise SystemExit("UsersTable is not DeletionPolicy: Retain; detaching it would delete the old table")
    out["Resources"] = replace_references(out["Resources"], name, arn)
    out["Outputs"] = replace_references(out.get("Outputs", {}), name, arn)
    out["Globals"] = replace_references(out.get("Globals", {}), name, arn)
    return out


def for_import(template: dict, name: str, arn: str) -> dict:
    out = detached(template, name, arn)
    out["Resources"][LOGICAL_ID] = copy.deepcopy(template["Resources"][LOGICAL_ID])
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["detach", "import"])
    parser.add_argument("--template", default=str(REPO / "infra/template.yaml"))
    parser.add_argument("--table-name", required=True, help="the restored table's name")
    parser.add_argument("--table-arn", required=True, help="the restored table's ARN")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    template = yaml_parse(Path(args.template).read_text(encoding="utf-8"))
    build = detached if args.step == "detach" else for_import
    result = build(template, args.table_name, args.table_arn)
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{args.step}: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
