"""The deploy pipeline's roles (infra/github-oidc-role.yaml) can deploy the stack.

CloudFormationExecutionRole: for every resource of the SAM-transformed template (both samconfig
environments), every IAM action that CloudFormation's resource handler for its type calls on
create, update and delete, taken from the resource provider schemas cfn-lint ships, must be
allowed on the resource it would be called on (the role and policy ARNs CloudFormation names
after the stack, the packaged code's object, the managed policies SAM attaches as the
iam:PolicyARN condition). The schemas list a superset: actions that serve properties this
template does not set are in OPTIONAL, each with the property that would need it; the test
also fails when an entry there becomes stale.

DeployRole: what `sam deploy` itself calls (samcli/lib/deploy/deployer.py and
samcli/lib/package/s3_uploader.py of the pinned SAM CLI) into the artifact bucket the OIDC stack
creates, so that no deploy needs `resolve_s3` (SAM's managed stack and s3:CreateBucket)."""

from __future__ import annotations

import re

import pytest

from cfn import (
    ACCOUNT,
    REGION,
    REPO,
    Resolver,
    allowed,
    handler_permissions,
    load_yaml,
    provider_schema,
    role_statements,
    samconfig,
    samconfig_parameters,
    transformed,
)

STACKS = {"default": "password-reset", "prod": "password-reset-prod"}

# (resource type, action): why this template never makes the handler call it.
OPTIONAL = {
    ("AWS::Lambda::Function", "ec2:DescribeNetworkInterfaces"): "VpcConfig: no function runs in a VPC",
    ("AWS::Lambda::Function", "ec2:DescribeSecurityGroups"): "VpcConfig: no function runs in a VPC",
    ("AWS::Lambda::Function", "ec2:DescribeSubnets"): "VpcConfig: no function runs in a VPC",
    ("AWS::Lambda::Function", "ec2:DescribeVpcs"): "VpcConfig: no function runs in a VPC",
    ("AWS::Lambda::Function", "elasticfilesystem:DescribeMountTargets"): "FileSystemConfigs: no EFS mount",
    ("AWS::Lambda::Function", "s3files:ListMountTargets"): "FileSystemConfigs: no S3 Files mount",
    ("AWS::Lambda::Function", "s3:GetObjectVersion"): "Code.S3ObjectVersion: sam package names keys by content hash, never a version",
    ("AWS::DynamoDB::Table", "iam:CreateServiceLinkedRole"): "Replicas / contributor insights service roles: single-Region tables",
    ("AWS::DynamoDB::Table", "kinesis:DescribeStream"): "KinesisStreamSpecification: no table streams to Kinesis",
    ("AWS::DynamoDB::Table", "kinesis:PutRecords"): "KinesisStreamSpecification: no table streams to Kinesis",
    ("AWS::DynamoDB::Table", "s3:GetObject"): "ImportSourceSpecification: no table is imported from S3",
    ("AWS::DynamoDB::Table", "s3:GetObjectMetadata"): "ImportSourceSpecification: no table is imported from S3",
    ("AWS::DynamoDB::Table", "s3:ListBucket"): "ImportSourceSpecification: no table is imported from S3",
    ("AWS::ApiGatewayV2::Api", "s3:getObject"): "BodyS3Location: the API is built from routes, not an OpenAPI file in S3",
    ("AWS::ApiGatewayV2::DomainName", "s3:GetObject"): "MutualTlsAuthentication: no truststore",
    ("AWS::ApiGatewayV2::DomainName", "s3:GetObjectVersion"): "MutualTlsAuthentication: no truststore",
    ("AWS::Logs::LogGroup", "firehose:TagDeliveryStream"): "no log delivery to Firehose",
    ("AWS::Logs::LogGroup", "s3:REST.PUT.OBJECT"): "no log delivery to S3 (and not an IAM action)",
    ("AWS::IAM::Role", "iam:PutRolePermissionsBoundary"): "PermissionsBoundary: none set",
    ("AWS::IAM::Role", "iam:DeleteRolePermissionsBoundary"): "PermissionsBoundary: none set",
    ("AWS::IAM::ManagedPolicy", "iam:AttachGroupPolicy"): "Groups: the admin policy is attached by the account's administrators, not by the stack",
    ("AWS::IAM::ManagedPolicy", "iam:AttachUserPolicy"): "Users: as Groups",
    ("AWS::IAM::ManagedPolicy", "iam:AttachRolePolicy"): "Roles: as Groups",
    ("AWS::IAM::ManagedPolicy", "iam:DetachGroupPolicy"): "Groups: as attach",
    ("AWS::IAM::ManagedPolicy", "iam:DetachUserPolicy"): "Users: as attach",
    ("AWS::IAM::ManagedPolicy", "iam:DetachRolePolicy"): "Roles: as attach",
    ("AWS::SNS::Topic", "iam:GetRole"): "DeliveryStatusLogging: no delivery-status role",
    ("AWS::SNS::Topic", "iam:PassRole"): "DeliveryStatusLogging: no delivery-status role",
    ("AWS::SNS::Subscription", "iam:GetRole"): "SubscriptionRoleArn: only for Firehose subscriptions",
    ("AWS::SNS::Subscription", "iam:PassRole"): "SubscriptionRoleArn: only for Firehose subscriptions",
    ("AWS::SES::ConfigurationSetEventDestination", "iam:PassRole"): "Firehose destinations only: the events go to SNS",
    ("AWS::CloudFront::Distribution", "cloudfront:CreateConnectionGroup"): "ConnectionMode tenant-only: the front door is a plain distribution",
    ("AWS::CloudFront::Distribution", "cloudfront:GetConnectionGroup"): "ConnectionMode tenant-only: as CreateConnectionGroup",
    ("AWS::CloudFront::Distribution", "cloudfront:GetVpcOrigin"): "VpcOriginConfig: the origin is the API's public execute-api host",
    ("AWS::CloudFront::Distribution", "cloudfront:CreateDistributionWithTags"): (
        "not an IAM action (cfn-lint W3037): CloudFront authorizes a create with tags as CreateDistribution and TagResource"
    ),
}


def oidc_resolver(environment: str) -> Resolver:
    return Resolver(
        load_yaml("infra/github-oidc-role.yaml"),
        "password-reset-github",
        {"GitHubRepository": "example-org/password-reset", "GitHubEnvironment": environment},
    )


def oidc_role(environment: str, logical_id: str) -> tuple[list[dict], Resolver]:
    resolver = oidc_resolver(environment)
    role = resolver.resolve(resolver.template["Resources"][logical_id])
    return role_statements(role), resolver


def artifact_bucket(resolver: Resolver) -> str:
    buckets = [
        logical for logical, r in resolver.template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"
    ]
    assert buckets, "the OIDC stack creates no artifact bucket: sam deploy would need resolve_s3 (s3:CreateBucket)"
    return resolver.physical(buckets[0])


def handler_requests(resolver: Resolver, logical_id: str, action: str, bucket: str):
    """The (resource ARN, request context) pairs one handler action is called with."""
    resource = resolver.template["Resources"][logical_id]
    kind = resource["Type"]
    props = resolver.resolve(resource.get("Properties", {}))
    service = action.split(":")[0]
    if service == "iam":
        if action == "iam:PassRole":
            if kind == "AWS::Lambda::Function":
                return [(props["Role"], {"iam:PassedToService": "lambda.amazonaws.com"})]
            if kind == "AWS::CodeDeploy::DeploymentGroup":
                return [(props["ServiceRoleArn"], {"iam:PassedToService": "codedeploy.amazonaws.com"})]
            if kind == "AWS::Scheduler::Schedule":
                return [(props["Target"]["RoleArn"], {"iam:PassedToService": "scheduler.amazonaws.com"})]
        if kind == "AWS::IAM::Role":
            arn = resolver.physical(logical_id, "Arn")
            if action in ("iam:AttachRolePolicy", "iam:DetachRolePolicy"):
                return [(arn, {"iam:PolicyARN": p}) for p in props.get("ManagedPolicyArns", [])]
            return [(arn, {})]
        if kind == "AWS::IAM::ManagedPolicy":
            return [(resolver.physical(logical_id, "Arn"), {})]
    if service == "s3" and kind == "AWS::Lambda::Function":
        return [(f"arn:aws:s3:::{bucket}/password-reset/0123456789abcdef", {})]
    if service == "route53":
        zone = props.get("HostedZoneId", "*")
        if action in ("route53:GetChange",):
            return [("arn:aws:route53:::change/C0123456789", {})]
        if action == "route53:ListHostedZones":
            return [("*", {})]
        return [(f"arn:aws:route53:::hostedzone/{zone}", {})]
    if service == "cloudfront":
        # CloudFront's ARNs are global (no region) and carry the id CloudFront picks.
        return [(f"arn:aws:cloudfront::{ACCOUNT}:distribution/E0123456789ABC", {})]
    # The remaining services' resources are named after the stack; the role grants them in
    # full (the Resource a handler touches is then beside the point).
    return [(f"arn:aws:{service}:{REGION}:{ACCOUNT}:{STACKS['default']}-{logical_id}", {})]


@pytest.mark.parametrize("env", sorted(STACKS))
def test_execution_role_covers_every_resource_handler(env):
    statements, oidc = oidc_role("staging" if env == "default" else "prod", "CloudFormationExecutionRole")
    bucket = artifact_bucket(oidc)
    params = samconfig_parameters(env)
    # Every optional resource too: the hosted zone's records exist only with a zone id.
    params.setdefault("HostedZoneId", "Z0123456789EXAMPLE")
    template = transformed(STACKS[env], params)
    resolver = Resolver(template, STACKS[env], params)
    missing = []
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        for handler, actions in handler_permissions(kind).items():
            for action in actions:
                if (kind, action) in OPTIONAL:
                    continue
                for arn, context in handler_requests(resolver, logical_id, action, bucket):
                    if not allowed(statements, action, arn, context):
                        missing.append(f"{logical_id} ({kind}) {handler}: {action} on {arn} {context or ''}")
    assert not missing, "CloudFormationExecutionRole lacks:\n" + "\n".join(sorted(set(missing)))


def test_optional_permissions_are_not_stale():
    template = transformed("password-reset", samconfig_parameters("prod") | {"HostedZoneId": "Z0123456789EXAMPLE"})
    types = {r["Type"] for r in template["Resources"].values()}
    for (kind, action), reason in OPTIONAL.items():
        assert reason.strip(), (kind, action)
        assert kind in types, f"{kind} is no longer in the template: drop its OPTIONAL entries"
        listed = {a for actions in handler_permissions(kind).values() for a in actions}
        assert action in listed, f"{kind} no longer lists {action}"
        assert provider_schema(kind)


def template_transforms() -> list[str]:
    transform = load_yaml("infra/template.yaml")["Transform"]
    return transform if isinstance(transform, list) else [transform]


def deploy_calls(stack: str, bucket: str, execution_role: str):
    """What `sam deploy --s3-bucket … --role-arn …` calls with the deploy role's credentials."""
    stack_arn = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/0f0e0d0c-aaaa-bbbb-cccc-0123456789ab"
    # Every transform the template names is a resource of CreateChangeSet.
    transforms = [f"arn:aws:cloudformation:{REGION}:aws:transform/{t.removeprefix('AWS::')}" for t in template_transforms()]
    obj = f"arn:aws:s3:::{bucket}/{stack}/0123456789abcdef.template"
    return [
        # s3_uploader: head_object before each upload (404, not 403, needs ListBucket), then the
        # upload; CloudFormation reads the template (over 51,200 bytes) with the caller's rights.
        ("s3:GetObject", obj, {}),
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}", {}),
        ("s3:PutObject", obj, {}),
        # deployer: has_stack, create_changeset (+ the transform), the waiter, execute, events.
        ("cloudformation:DescribeStacks", stack_arn, {}),
        ("cloudformation:CreateChangeSet", stack_arn, {}),
        *[("cloudformation:CreateChangeSet", transform, {}) for transform in transforms],
        ("cloudformation:DescribeChangeSet", stack_arn, {}),
        ("cloudformation:ExecuteChangeSet", stack_arn, {}),
        ("cloudformation:DescribeStackEvents", stack_arn, {}),
        ("cloudformation:DeleteChangeSet", stack_arn, {}),
        ("cloudformation:GetTemplateSummary", stack_arn, {}),
        ("iam:PassRole", execution_role, {"iam:PassedToService": "cloudformation.amazonaws.com"}),
    ]


@pytest.mark.parametrize("env", sorted(STACKS))
def test_deploy_role_runs_sam_deploy_into_the_stacks_own_bucket(env):
    environment = "staging" if env == "default" else "prod"
    statements, oidc = oidc_role(environment, "DeployRole")
    bucket = artifact_bucket(oidc)
    execution_role = oidc.physical("CloudFormationExecutionRole", "Arn")
    refused = [
        f"{action} on {arn}"
        for action, arn, context in deploy_calls(STACKS[env], bucket, execution_role)
        if not allowed(statements, action, arn, context)
    ]
    assert not refused, "DeployRole lacks:\n" + "\n".join(refused)
    # resolve_s3 would create SAM's managed stack and bucket: s3:CreateBucket, which no role has.
    assert not allowed(statements, "s3:CreateBucket", "arn:aws:s3:::aws-sam-cli-managed-default-x")
    deploy = samconfig(env)["deploy"]["parameters"]
    assert not deploy.get("resolve_s3", False), f"samconfig.toml [{env}] still uses resolve_s3"


def test_pipeline_deploys_into_the_artifact_bucket():
    workflow = (REPO / ".github/workflows/deploy.yml").read_text(encoding="utf-8")
    deploys = re.findall(r"bin/sam deploy[^\n]*(?:\n\s+--[^\n]*)*", workflow)
    assert deploys, "no sam deploy in the workflow"
    for command in deploys:
        assert "--s3-bucket" in command, f"sam deploy without --s3-bucket: {command}"
    outputs = load_yaml("infra/github-oidc-role.yaml")["Outputs"]
    assert "ArtifactBucketName" in outputs, "the OIDC stack must output the bucket the pipeline deploys into"
