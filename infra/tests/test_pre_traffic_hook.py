"""The PreTraffic hook (functions/pre-traffic) as CloudFormation will create it.

- CodeDeploy can invoke it: the service role SAM creates for the deployment groups carries only
  the managed policy AWSCodeDeployRoleForLambda, whose Lambda statement allows
  lambda:InvokeFunction on functions named `CodeDeployHook_*` (samtranslator's
  deployment_preference_collection.py attaches it; AWS's managed-policy reference lists the
  statement). The hook's name has that prefix and the stack's name, so two stages never collide,
  and fits Lambda's 64 characters for both samconfig stacks.
- Every canary the hook checks runs it before traffic shifts (BeforeAllowTrafficHook on the alias).
- It may invoke exactly the versions its environment names, no function, alias or $LATEST, and
  report only to this stack's CodeDeploy application.
- It is not canary-deployed itself (no alias, no version, no deployment group)."""

from __future__ import annotations

import pytest

from cfn import ACCOUNT, REGION, Resolver, allowed, role_statements, samconfig_parameters, transformed

STACKS = {"default": "password-reset", "prod": "password-reset-prod"}
HOOK = "PreTrafficHookFunction"

# The Lambda statement of arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda.
CODEDEPLOY_MANAGED_INVOKE = {
    "Effect": "Allow",
    "Action": ["lambda:InvokeFunction"],
    "Resource": "arn:aws:lambda:*:*:function:CodeDeployHook_*",
}


def stack(env: str) -> tuple[dict, Resolver]:
    params = samconfig_parameters(env)
    template = transformed(STACKS[env], params)
    return template, Resolver(template, STACKS[env], params)


@pytest.mark.parametrize("env", sorted(STACKS))
def test_codedeploy_may_invoke_the_hook_and_stages_do_not_collide(env):
    template, resolver = stack(env)
    name = resolver.resolve(template["Resources"][HOOK]["Properties"]["FunctionName"])
    assert name.startswith("CodeDeployHook_") and STACKS[env] in name, name
    assert len(name) <= 64, name
    service_role = template["Resources"]["CodeDeployServiceRole"]["Properties"]
    assert service_role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"
    ], "a role of our own would need its own invoke statement"
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert allowed([CODEDEPLOY_MANAGED_INVOKE], "lambda:InvokeFunction", arn)
    other_template, other = stack({"default": "prod", "prod": "default"}[env])
    assert other.resolve(other_template["Resources"][HOOK]["Properties"]["FunctionName"]) != name


def checked_versions(template: dict) -> dict[str, str]:
    """Environment variable -> the logical id of the AWS::Lambda::Version it names."""
    variables = template["Resources"][HOOK]["Properties"]["Environment"]["Variables"]
    versions = {}
    for name, value in variables.items():
        if name.endswith("_VERSION"):
            assert set(value) == {"Ref"}, (name, value)
            versions[name] = value["Ref"]
            assert template["Resources"][value["Ref"]]["Type"] == "AWS::Lambda::Version", name
    return versions


def test_every_checked_function_runs_the_hook_before_traffic_shifts():
    template, _ = stack("prod")
    resources = template["Resources"]
    checked_functions = {
        resources[version]["Properties"]["FunctionName"]["Ref"] for version in checked_versions(template).values()
    }
    assert len(checked_functions) == 5, checked_functions
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Alias":
            continue
        function = resource["Properties"]["FunctionName"]["Ref"]
        update = resource["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        if function in checked_functions:
            assert update.get("BeforeAllowTrafficHook") == {"Ref": HOOK}, logical
            # The alias points at the version the hook checks.
            version = resource["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
            assert version in checked_versions(template).values(), logical
        else:
            # mail-events: the hook has no harmless SES notification to send it (see README).
            assert "BeforeAllowTrafficHook" not in update, logical


@pytest.mark.parametrize("env", sorted(STACKS))
def test_the_hook_may_invoke_exactly_the_versions_it_checks(env):
    template, resolver = stack(env)
    statements = role_statements(resolver.resolve(template["Resources"][f"{HOOK}Role"]))
    versions = checked_versions(template)
    invoke = [s for s in statements if "lambda:InvokeFunction" in str(s.get("Action"))]
    assert len(invoke) == 1, invoke
    granted = invoke[0]["Resource"]
    assert sorted(granted) == sorted(resolver.resolve({"Ref": v}) for v in versions.values())
    for version in versions.values():
        function = template["Resources"][version]["Properties"]["FunctionName"]["Ref"]
        plain = resolver.physical(function, "Arn")
        assert not allowed(statements, "lambda:InvokeFunction", plain), f"{function}: the unqualified function"
        assert not allowed(statements, "lambda:InvokeFunction", f"{plain}:live"), f"{function}: the alias"
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"lambda:InvokeFunction", "codedeploy:PutLifecycleEventHookExecutionStatus"}, actions


@pytest.mark.parametrize("env", sorted(STACKS))
def test_the_hook_reports_to_this_stacks_application_only(env):
    template, resolver = stack(env)
    statements = role_statements(resolver.resolve(template["Resources"][f"{HOOK}Role"]))
    application = resolver.resolve({"Ref": "ServerlessDeploymentApplication"})
    group = resolver.resolve({"Ref": "RequestResetFunctionDeploymentGroup"})
    ours = f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{application}/{group}"
    theirs = f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:another-app/{group}"
    assert allowed(statements, "codedeploy:PutLifecycleEventHookExecutionStatus", ours)
    assert not allowed(statements, "codedeploy:PutLifecycleEventHookExecutionStatus", theirs)


def test_the_hook_is_not_canary_deployed_itself():
    template, _ = stack("prod")
    resources = template["Resources"]
    own = [
        logical
        for logical, r in resources.items()
        if r["Type"] in ("AWS::Lambda::Alias", "AWS::Lambda::Version", "AWS::CodeDeploy::DeploymentGroup")
        and logical.startswith(HOOK)
    ]
    assert own == [], own
    assert "DeploymentPreference" not in resources[HOOK]["Properties"]
