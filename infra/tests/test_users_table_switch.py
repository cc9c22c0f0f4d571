"""The users-table switch after a point-in-time restore (docs/operations.md, "Restoring the
users table"): scripts/users_table_switch.py's detached template moves every reader and writer
of the users table to the restored table and drops UsersTable (retained, so the old table
stays); the import template adds UsersTable back with the template's own definition and
changes nothing else. Both go through the SAM transform as CloudFormation would run them.

DynamoDB Local has no point-in-time recovery (DescribeContinuousBackups,
UpdateContinuousBackups and RestoreTableToPointInTime answer UnknownOperationException), so the
restore itself is not run here; the runbook says what was tried."""

from __future__ import annotations

import copy
import importlib.util
import json
import os

from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from cfn import REPO, load_yaml, pseudo_parameters, samconfig_parameters

RESTORED = "password-reset-prod-users-2026-12-05"
RESTORED_ARN = f"arn:aws:dynamodb:ap-northeast-1:123456789012:table/{RESTORED}"
STACK = "password-reset-prod"


def switch_module():
    spec = importlib.util.spec_from_file_location("users_table_switch", REPO / "scripts/users_table_switch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def translate(template: dict) -> dict:
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifact-bucket/code.zip"
    params = samconfig_parameters("prod") | {"OriginVerifySecret": "x" * 32} | pseudo_parameters(STACK)
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
    return Translator({}, Parser()).translate(template, params)


def test_detached_moves_every_reference_to_the_restored_table():
    source = load_yaml("infra/template.yaml")
    detached = translate(switch_module().detached(source, RESTORED, RESTORED_ARN))
    text = json.dumps(detached)
    assert "UsersTable\"" not in text.replace("UsersTableName", ""), "a reference to UsersTable is left"
    assert "UsersTable" not in detached["Resources"]
    assert "${UsersTable" not in text
    assert RESTORED_ARN in text and f"{RESTORED_ARN}/index/mail-problems" in text
    envs = [
        r["Properties"]["Environment"]["Variables"]["USERS_TABLE"]
        for r in detached["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "USERS_TABLE" in r["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert envs and all(json.dumps(e).count(RESTORED) == 1 for e in envs)
    # As many policy statements name the users table as before, now by its literal ARN.
    original = json.dumps(translate(source))
    assert original.count("UsersTable.Arn") + original.count('"UsersTable", "Arn"') > 0
    assert text.count(RESTORED_ARN) >= 9


def test_the_import_template_adds_only_the_table_as_the_template_defines_it():
    module = switch_module()
    source = load_yaml("infra/template.yaml")
    detached = module.detached(source, RESTORED, RESTORED_ARN)
    imported = module.for_import(source, RESTORED, RESTORED_ARN)
    assert imported["Resources"]["UsersTable"] == source["Resources"]["UsersTable"]
    assert imported["Resources"]["UsersTable"]["DeletionPolicy"] == "Retain"
    rest = {k: v for k, v in imported["Resources"].items() if k != "UsersTable"}
    assert rest == detached["Resources"], "an import change set may change nothing else"
    assert "UsersTable" in translate(imported)["Resources"]
