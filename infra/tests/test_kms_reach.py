"""Every principal that touches a table or queue encrypted with the customer-managed key (DataKey)
may use the key for what it does there, only through that service (kms:ViaService), and not
directly. Principals: each role of the SAM-transformed template (the functions, with their event
source mappings) and the administrators' managed policy. Staging runs with the key like prod.

What each call needs, from the services' developer guides (not provable here: the local stack
has no KMS in the request path):
- DynamoDB, any item read or write of a table with a customer-managed key: kms:Decrypt (the
  table key is decrypted with the caller's permission), through dynamodb.<region>.amazonaws.com.
- SQS SendMessage to a queue with a customer-managed key: kms:GenerateDataKey and kms:Decrypt;
  ReceiveMessage (also by a Lambda event source mapping, with the function's role):
  kms:Decrypt; through sqs.<region>.amazonaws.com. DeleteMessage and GetQueueAttributes read no
  message body and need no key."""

from __future__ import annotations

import pytest

from cfn import REGION, Resolver, allowed, role_statements, samconfig_parameters, transformed

STACKS = {"default": "password-reset", "prod": "password-reset-prod"}


def kms_needs(action: str) -> set[str]:
    service, _, name = action.partition(":")
    if service == "dynamodb":
        return {"kms:Decrypt"}
    if service == "sqs" and name == "SendMessage":
        return {"kms:GenerateDataKey", "kms:Decrypt"}
    if service == "sqs" and name == "ReceiveMessage":
        return {"kms:Decrypt"}
    return set()


def encrypted_resources(resolver: Resolver) -> dict[str, str]:
    """ARN → service of every table and queue encrypted with DataKey."""
    key = resolver.physical("DataKey")
    out = {}
    for logical, resource in resolver.template["Resources"].items():
        if not resolver.resource_exists(logical):
            continue
        props = resolver.resolve(resource.get("Properties", {}))
        if resource["Type"] == "AWS::DynamoDB::Table" and props.get("SSESpecification", {}).get("KMSMasterKeyId") == key:
            out[resolver.physical(logical, "Arn")] = "dynamodb"
        if resource["Type"] == "AWS::SQS::Queue" and props.get("KmsMasterKeyId") == key:
            out[resolver.physical(logical, "Arn")] = "sqs"
    return out


def touches(resource_pattern: str, arn: str) -> bool:
    # A table's indexes are under its ARN.
    return resource_pattern in (arn, "*") or resource_pattern.startswith(arn + "/")


def principals(resolver: Resolver) -> dict[str, list[dict]]:
    out = {}
    for logical, resource in resolver.template["Resources"].items():
        if not resolver.resource_exists(logical):
            continue
        if resource["Type"] == "AWS::IAM::Role":
            out[logical] = role_statements(resolver.resolve(resource))
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            document = resolver.resolve(resource["Properties"]["PolicyDocument"])
            out[logical] = document["Statement"]
    return out


def needed_uses(resolver: Resolver, statements: list[dict], role: str, encrypted: dict[str, str]):
    """(kms action, service, why) for every call of this principal on an encrypted resource."""
    uses = set()
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        actions = statement.get("Action", [])
        for action in actions if isinstance(actions, list) else [actions]:
            resources = statement.get("Resource", [])
            for pattern in resources if isinstance(resources, list) else [resources]:
                for arn, service in encrypted.items():
                    if action.split(":")[0] == service and touches(pattern, arn) and pattern != "*":
                        for kms in kms_needs(action):
                            uses.add((kms, service, f"{action} on {arn}"))
    # SAM's event source mappings receive with the function's role.
    for logical, resource in resolver.template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::EventSourceMapping" or not resolver.resource_exists(logical):
            continue
        props = resolver.resolve(resource["Properties"])
        function = resolver.template["Resources"][resource["Properties"]["FunctionName"]["Ref"]]
        # With AutoPublishAlias the mapping invokes the alias, which names the function.
        while function["Type"] != "AWS::Lambda::Function":
            function = resolver.template["Resources"][function["Properties"]["FunctionName"]["Ref"]]
        if function["Properties"]["Role"]["Fn::GetAtt"][0] == role and props["EventSourceArn"] in encrypted:
            uses.add(("kms:Decrypt", "sqs", f"event source {props['EventSourceArn']}"))
    return uses


@pytest.mark.parametrize("env", sorted(STACKS))
def test_every_principal_of_the_key_can_use_it_through_its_service_only(env):
    params = samconfig_parameters(env)
    assert params.get("UseCustomerManagedKey") == "true", f"samconfig.toml [{env}] runs without the key"
    template = transformed(STACKS[env], params)
    resolver = Resolver(template, STACKS[env], params)
    key_arn = resolver.physical("DataKey", "Arn")
    encrypted = encrypted_resources(resolver)
    assert {"dynamodb", "sqs"} <= set(encrypted.values()), encrypted
    problems = []
    users = 0
    for principal, statements in principals(resolver).items():
        uses = needed_uses(resolver, statements, principal, encrypted)
        users += bool(uses)
        for kms, service, why in sorted(uses):
            via = {"kms:ViaService": f"{service}.{REGION}.amazonaws.com"}
            if not allowed(statements, kms, key_arn, via):
                problems.append(f"{principal}: {kms} through {service} (for {why}) is not allowed")
        for kms in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncryptFrom"):
            if allowed(statements, kms, key_arn, {}):
                problems.append(f"{principal}: {kms} on the key is allowed without kms:ViaService")
            if allowed(statements, kms, key_arn, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}):
                problems.append(f"{principal}: {kms} on the key is allowed through a service it does not use")
    # The functions and the administrators at the least: the test must have something to check.
    assert users >= 6, f"only {users} principals found using the key"
    assert not problems, "\n".join(problems)
