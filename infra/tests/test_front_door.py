"""The optional front door (issue 26, point 3) and the pace to SES (point 4), over the
SAM-transformed template.

Door off (the default, both samconfig environments): no distribution, the functions read
clients as ClientIpSource says. Door on: a CloudFront distribution before the HTTP API that
adds the origin-verify header the functions check, caches nothing, forwards the viewer's
address, is protected by the CLOUDFRONT-scope web ACL of infra/front-door-waf.yaml (a small
stack in us-east-1: CloudFront's web ACLs live there) with a rate-based rule and AWS's
IP-reputation list; and the template itself sets CLIENT_IP_SOURCE=cloudfront-viewer-address.
The template's Rules refuse the door without its secret or web ACL, or beside an API custom
domain."""

from __future__ import annotations

import pytest

from cfn import REGION, Resolver, load_yaml, samconfig_parameters, transformed

STACK = "password-reset"
SECRET = "origin-secret-0123456789abcdef0123"
WEB_ACL = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/password-reset-front-door/0123-abcd"
DOOR_ON = samconfig_parameters("prod") | {
    "FrontDoor": "true",
    "FrontDoorWebAclArn": WEB_ACL,
    "OriginVerifySecret": SECRET,
    "ClientIpSource": "source-ip",
    "PublicBaseUrl": "https://d111111abcdef8.cloudfront.net",
}
# CloudFront's managed policies (ids are fixed by AWS).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def resolved(params: dict) -> Resolver:
    return Resolver(transformed(STACK, params), STACK, params)


def existing(resolver: Resolver, kind: str) -> dict[str, dict]:
    return {
        logical: resolver.resolve(r.get("Properties", {}))
        for logical, r in resolver.template["Resources"].items()
        if r["Type"] == kind and resolver.resource_exists(logical)
    }


def function_environments(resolver: Resolver) -> dict[str, dict]:
    return {
        logical: props.get("Environment", {}).get("Variables", {})
        for logical, props in existing(resolver, "AWS::Lambda::Function").items()
    }


def broken_rules(params: dict) -> list[str]:
    """The template Rules whose assertions fail for these parameters (as CloudFormation checks
    them before creating a change set)."""
    source = load_yaml("infra/template.yaml")
    resolver = Resolver(source, STACK, params)
    broken = []
    for name, rule in source.get("Rules", {}).items():
        if "RuleCondition" in rule and not resolver.resolve(rule["RuleCondition"]):
            continue
        if not all(resolver.resolve(a["Assert"]) for a in rule["Assertions"]):
            broken.append(name)
    return broken


@pytest.mark.parametrize("env", ["default", "prod"])
def test_the_door_is_off_by_default(env):
    # The secret comes from the GitHub environment at deploy time (scripts/deploy_overrides.py).
    params = samconfig_parameters(env) | {"OriginVerifySecret": SECRET}
    assert load_yaml("infra/template.yaml")["Parameters"]["FrontDoor"]["Default"] == "false"
    resolver = resolved(params)
    assert existing(resolver, "AWS::CloudFront::Distribution") == {}
    for logical, env_vars in function_environments(resolver).items():
        if "CLIENT_IP_SOURCE" in env_vars:
            assert env_vars["CLIENT_IP_SOURCE"] == params.get("ClientIpSource", "source-ip"), logical
    assert broken_rules(params) == []


def test_with_the_door_on_cloudfront_fronts_the_api_with_the_origin_header_and_the_web_acl():
    resolver = resolved(DOOR_ON)
    distributions = existing(resolver, "AWS::CloudFront::Distribution")
    assert len(distributions) == 1
    config = next(iter(distributions.values()))["DistributionConfig"]
    assert config["Enabled"] is True
    assert config["WebACLId"] == WEB_ACL
    api = resolver.physical("HttpApi")
    (origin,) = config["Origins"]
    assert origin["DomainName"] == f"{api}.execute-api.{REGION}.amazonaws.com"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    assert {"HeaderName": "X-Origin-Verify", "HeaderValue": SECRET} in origin["OriginCustomHeaders"]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["CachePolicyId"] == CACHING_DISABLED, "pages carry links and forms: nothing cached"
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST, (
        "the viewer's headers (CloudFront-Viewer-Address among them) without Host, which API Gateway refuses"
    )
    assert {"GET", "HEAD", "POST"} <= set(behavior["AllowedMethods"])
    # The API's own endpoint stays on: it is the origin. The secret keeps direct calls out.
    assert resolver.resolve(resolver.template["Resources"]["HttpApi"]["Properties"].get("DisableExecuteApiEndpoint", False)) in (False, "false")
    outputs = resolver.resolve(resolver.template["Outputs"])
    assert outputs["FrontDoorUrl"]["Value"].startswith("https://")


def test_with_the_door_on_every_function_reads_the_viewer_address_and_checks_the_secret():
    environments = function_environments(resolved(DOOR_ON))
    http = {k: v for k, v in environments.items() if "CLIENT_IP_SOURCE" in v}
    assert len(http) >= 5
    for logical, env_vars in http.items():
        assert env_vars["CLIENT_IP_SOURCE"] == "cloudfront-viewer-address", logical
        assert env_vars["ORIGIN_VERIFY_SECRET"] == SECRET, logical
    assert broken_rules(DOOR_ON) == []


@pytest.mark.parametrize(
    "change, rule",
    [
        ({"FrontDoorWebAclArn": ""}, "FrontDoorNeedsWebAcl"),
        ({"OriginVerifySecret": ""}, "CloudFrontNeedsOriginSecret"),
        ({"DomainName": "id.example.jp", "CertificateArn": "arn:aws:acm:ap-northeast-1:123456789012:certificate/x",
          "PublicBaseUrl": ""}, "FrontDoorWithoutApiDomain"),
        ({"FrontDoorWebAclArn": "arn:aws:wafv2:ap-northeast-1:123456789012:regional/webacl/x/y"}, "FrontDoorNeedsWebAcl"),
    ],
)
def test_the_rules_refuse_a_door_that_would_not_hold(change, rule):
    assert rule in broken_rules(DOOR_ON | change)


def test_the_web_acl_stack_has_a_rate_rule_and_the_ip_reputation_list_in_us_east_1():
    template = load_yaml("infra/front-door-waf.yaml")
    resolver = Resolver(template, "password-reset-front-door", {})
    acls = {k: resolver.resolve(r["Properties"]) for k, r in template["Resources"].items() if r["Type"] == "AWS::WAFv2::WebACL"}
    (acl,) = acls.values()
    assert acl["Scope"] == "CLOUDFRONT"
    assert "Allow" in acl["DefaultAction"]
    rules = {r["Name"]: r for r in acl["Rules"]}
    rate = [r for r in rules.values() if "RateBasedStatement" in r["Statement"]]
    assert rate and "Block" in rate[0]["Action"], "a rate-based rule that blocks"
    assert rate[0]["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert int(rate[0]["Statement"]["RateBasedStatement"]["Limit"]) >= 10
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules.values()
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert "AWSManagedRulesAmazonIpReputationList" in managed
    for rule in rules.values():
        assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
    # CloudFront only takes web ACLs from us-east-1: the stack refuses any other Region.
    region_rule = [r for r in template.get("Rules", {}).values()
                   if "us-east-1" in str(r["Assertions"])]
    assert region_rule, "a Rule that the stack is deployed in us-east-1"
    assert "WebAclArn" in template["Outputs"]


def test_send_mail_is_paced_by_the_rate_and_the_event_sources_concurrency():
    params = samconfig_parameters("prod") | {"SesMaxSendRate": "14", "MailSendConcurrency": "3"}
    resolver = resolved(params)
    env_vars = function_environments(resolver)["SendMailFunction"]
    assert env_vars["SES_MAX_SEND_RATE"] == "14"
    mappings = [
        p for p in existing(resolver, "AWS::Lambda::EventSourceMapping").values()
        if "MailQueue" in str(p.get("EventSourceArn")) and "Dead" not in str(p.get("EventSourceArn"))
    ]
    (mapping,) = mappings
    assert env_vars["MAIL_SEND_CONCURRENCY"] == str(mapping["ScalingConfig"]["MaximumConcurrency"]) == "3"
