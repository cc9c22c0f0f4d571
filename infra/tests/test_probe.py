"""The synthetic probe (functions/probe) as CloudFormation will create it, for both samconfig
environments (both set ProbeUsernames).

- EventBridge Scheduler runs it every 5 minutes with a role that may invoke it and nothing else,
  assumable by the scheduler of this account only; a failed run is not retried.
- Its own role: reads of its own accounts' items (three attributes) and deletes of its own
  accounts' reset-mail turns, held by dynamodb:LeadingKeys; a PutItem of new token items (the
  token's attributes only: the tokens table's key is the hash, so no leading-key condition can
  name the accounts, and this test says so); a Query of the pending index; nothing else.
- Without ProbeUsernames there is no probe and no probe alarm; a prod stack needs it (Rule)."""

from __future__ import annotations

import pytest

from cfn import ACCOUNT, REGION, Resolver, allowed, role_statements, samconfig_parameters, transformed

STACKS = {"default": "password-reset", "prod": "password-reset-prod"}
PROBE = "ProbeFunction"
ACCOUNTS = ["pr000001", "pr000002", "pr000003", "pr000004"]


def stack(env: str, **overrides: str) -> tuple[dict, Resolver]:
    params = {**samconfig_parameters(env), **overrides}
    template = transformed(STACKS[env], params)
    return template, Resolver(template, STACKS[env], params)


def probe_statements(env: str) -> tuple[list[dict], Resolver]:
    template, resolver = stack(env)
    return role_statements(resolver.resolve(template["Resources"][f"{PROBE}Role"])), resolver


def table(resolver: Resolver, logical: str) -> str:
    return resolver.physical(logical, "Arn")


@pytest.mark.parametrize("env", sorted(STACKS))
def test_the_samconfig_accounts_are_the_probes(env):
    assert samconfig_parameters(env)["ProbeUsernames"] == ",".join(ACCOUNTS)


@pytest.mark.parametrize("env", sorted(STACKS))
def test_it_reads_three_attributes_of_its_own_accounts_only(env):
    statements, resolver = probe_statements(env)
    users = table(resolver, "UsersTable")
    own = {"dynamodb:LeadingKeys": ["pr000003"], "dynamodb:Attributes": ["username", "credential_epoch",
           "reset_mail_message_id"], "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
    assert allowed(statements, "dynamodb:GetItem", users, own)
    assert not allowed(statements, "dynamodb:GetItem", users, {**own, "dynamodb:LeadingKeys": ["ex000001"]})
    assert not allowed(statements, "dynamodb:GetItem", users, {**own, "dynamodb:Attributes": ["password_hash"]})
    assert not allowed(statements, "dynamodb:GetItem", users, {**own, "dynamodb:Select": "ALL_ATTRIBUTES"})
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"):
        assert not allowed(statements, action, users, own), action


@pytest.mark.parametrize("env", sorted(STACKS))
def test_it_frees_the_mail_turns_of_its_own_accounts_only(env):
    statements, resolver = probe_statements(env)
    counters = table(resolver, "RateLimitsTable")
    for name in ACCOUNTS:
        assert allowed(statements, "dynamodb:DeleteItem", counters, {"dynamodb:LeadingKeys": [f"mail-turn#{name}"]})
    for key in ("mail-turn#ex000001", "mail#pr000001#1767225600", "user-ip#pr000001#127.0.0.1#1767225600",
                "addr-confirm#3600#1767225600"):
        assert not allowed(statements, "dynamodb:DeleteItem", counters, {"dynamodb:LeadingKeys": [key]}), key
    for action in ("dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"):
        assert not allowed(statements, action, counters, {"dynamodb:LeadingKeys": ["mail-turn#pr000001"]}), action


@pytest.mark.parametrize("env", sorted(STACKS))
def test_it_puts_new_tokens_and_cannot_be_held_to_its_accounts_there(env):
    statements, resolver = probe_statements(env)
    tokens = table(resolver, "ResetTokensTable")
    token = {"dynamodb:Attributes": ["token_hash", "username", "created_at", "expires_at", "epoch"],
             "dynamodb:ReturnValues": "NONE"}
    assert allowed(statements, "dynamodb:PutItem", tokens, token)
    # A link marked used, or a put that returns the item it replaced: refused.
    assert not allowed(statements, "dynamodb:PutItem", tokens,
                       {**token, "dynamodb:Attributes": token["dynamodb:Attributes"] + ["used_at"]})
    assert not allowed(statements, "dynamodb:PutItem", tokens, {**token, "dynamodb:ReturnValues": "ALL_OLD"})
    for action in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"):
        assert not allowed(statements, action, tokens, token), action
    # What IAM cannot do: the key is the token's hash, so the leading key names no account, and
    # the username is a value IAM never sees. The same put for a stranger's username is allowed:
    # the honest limit, written down in docs/operations.md ("The synthetic probe").
    stranger = {**token, "dynamodb:LeadingKeys": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]}
    assert allowed(statements, "dynamodb:PutItem", tokens, stranger)


@pytest.mark.parametrize("env", sorted(STACKS))
def test_it_queries_the_pending_index_and_does_nothing_else(env):
    statements, resolver = probe_statements(env)
    requests = table(resolver, "AddressRequestsTable")
    assert allowed(statements, "dynamodb:Query", f"{requests}/index/pending")
    assert not allowed(statements, "dynamodb:Query", requests)
    assert not allowed(statements, "dynamodb:GetItem", requests)
    actions = set()
    for s in statements:
        actions.update([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    managed_logs = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    xray = {a for a in actions if a.startswith("xray:")}
    assert actions - managed_logs - xray == {
        "kms:Decrypt", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query",
    }, actions


@pytest.mark.parametrize("env", sorted(STACKS))
def test_the_scheduler_runs_it_every_five_minutes_with_a_role_that_may_only_invoke_it(env):
    template, resolver = stack(env)
    schedule = resolver.resolve(template["Resources"]["ProbeSchedule"]["Properties"])
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    probe_arn = resolver.physical(PROBE, "Arn")
    assert schedule["Target"]["Arn"] == probe_arn
    role = resolver.resolve(template["Resources"]["ProbeScheduleRole"])
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]
    statements = role_statements(role)
    assert allowed(statements, "lambda:InvokeFunction", probe_arn)
    other = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACKS[env]}-RequestResetFunction"
    assert not allowed(statements, "lambda:InvokeFunction", other)


def test_without_accounts_there_is_no_probe_and_no_probe_alarm():
    template, resolver = stack("default", ProbeUsernames="")
    for logical in ("ProbeFunction", "ProbeSchedule", "ProbeScheduleRole", "ProbeLogGroup", "ProbeFailureAlarm"):
        assert not resolver.resource_exists(logical), logical
    assert resolver.resource_exists("AddressRequestWaitAlarm")


def test_prod_needs_the_probe_and_the_administrators_address():
    template = transformed(STACKS["prod"], samconfig_parameters("prod"))
    rule = template["Rules"]["ProdIsWatched"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    asserted = [a["Assert"] for a in rule["Assertions"]]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "AddressRequestNotifyAddress"}, ""]}]} in asserted
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "ProbeUsernames"}, ""]}]} in asserted
