"""What the infrastructure tests share: the SAM transform as CloudFormation will run it, a small
resolver for the intrinsic functions a deployed stack would resolve, and an IAM policy evaluator
good enough for the statements these templates write (action and resource wildcards, NotAction,
Deny, and the condition operators they use).

Everything runs offline with the pinned tools of .tools/venv (samtranslator comes with the SAM
CLI, the resource provider schemas with cfn-lint)."""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import tomllib
from functools import lru_cache
from pathlib import Path

import cfnlint
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
PARTITION = "aws"
SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"


def load_yaml(path: str) -> dict:
    return yaml_parse((REPO / path).read_text(encoding="utf-8"))


def samconfig_parameters(env: str) -> dict[str, str]:
    """The parameter_overrides of one samconfig.toml environment, as a dict."""
    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
    params = {}
    for item in overrides:
        key, _, value = item.partition("=")
        params[key] = value.strip('"')
    return params


def samconfig(env: str) -> dict:
    return tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))[env]


@lru_cache(maxsize=None)
def _transformed(stack_name: str, params_json: str) -> str:
    template = load_yaml("infra/template.yaml")
    # `sam package` replaces each CodeUri by the uploaded object before CloudFormation sees it.
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifact-bucket/code.zip"
    params = json.loads(params_json)
    params.update(pseudo_parameters(stack_name))
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    out = Translator({}, Parser()).translate(template, params)
    return json.dumps(out)


def transformed(stack_name: str = "password-reset", params: dict | None = None) -> dict:
    """infra/template.yaml after the Serverless transform (every resource, conditions kept)."""
    return json.loads(_transformed(stack_name, json.dumps(params or {}, sort_keys=True)))


def pseudo_parameters(stack_name: str) -> dict:
    return {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": PARTITION,
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/id",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }


# Per resource type: its ARN (GetAtt …Arn) and what Ref returns, as CloudFormation shapes them.
ARNS = {
    "AWS::IAM::Role": ("arn:aws:iam::{account}:role/{name}", "{name}"),
    "AWS::IAM::ManagedPolicy": ("arn:aws:iam::{account}:policy/{name}", "{arn}"),
    "AWS::DynamoDB::Table": ("arn:aws:dynamodb:{region}:{account}:table/{name}", "{name}"),
    "AWS::SQS::Queue": ("arn:aws:sqs:{region}:{account}:{name}", "https://sqs.{region}.amazonaws.com/{account}/{name}"),
    "AWS::SNS::Topic": ("arn:aws:sns:{region}:{account}:{name}", "{arn}"),
    "AWS::KMS::Key": ("arn:aws:kms:{region}:{account}:key/{logical}-id", "{logical}-id"),
    "AWS::Logs::LogGroup": ("arn:aws:logs:{region}:{account}:log-group:{name}:*", "{name}"),
    "AWS::Lambda::Function": ("arn:aws:lambda:{region}:{account}:function:{name}", "{name}"),
    "AWS::S3::Bucket": ("arn:aws:s3:::{name}", "{name}"),
    "AWS::IAM::OIDCProvider": ("arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com", "{arn}"),
}
DEFAULT_ARN = "arn:aws:{service}:{region}:{account}:{logical}/{name}"


class NoValue:
    """AWS::NoValue: the property or list item disappears."""


class Resolver:
    """Resolves the intrinsic functions of one template for given parameter values, the way
    CloudFormation would at deploy time. Logical ids resolve to `physical(logical_id, kind)`:
    names and ARNs in the shape CloudFormation generates (`<stack>-<LogicalId>-<suffix>`)."""

    def __init__(self, template: dict, stack_name: str, params: dict[str, str]):
        self.template = template
        self.stack = stack_name
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            if name in params:
                self.params[name] = params[name]
            elif "Default" in spec:
                self.params[name] = str(spec["Default"])
        self.params.update(pseudo_parameters(stack_name))
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def resource_exists(self, logical_id: str) -> bool:
        resource = self.template["Resources"][logical_id]
        return "Condition" not in resource or self.condition(resource["Condition"])

    def physical(self, logical_id: str, attribute: str | None = None):
        resource = self.template["Resources"].get(logical_id)
        if resource is None:
            raise KeyError(f"unknown logical id {logical_id}")
        kind = resource["Type"]
        props = resource.get("Properties", {})
        generated = f"{self.stack}-{logical_id}-SUFFIX"
        # The name property when the template sets one, else the name CloudFormation generates.
        name_property = {
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::S3::Bucket": "BucketName",
        }.get(kind)
        if name_property in props:
            name = self.resolve(props[name_property])
        else:
            name = generated.lower() if kind == "AWS::S3::Bucket" else generated
        arn_format, ref_format = ARNS.get(kind, (DEFAULT_ARN, "{name}"))
        values = {"region": REGION, "account": ACCOUNT, "name": name, "logical": logical_id,
                  "service": kind.split("::")[1].lower()}
        arn = arn_format.format(**values)
        if attribute is None:
            return arn if ref_format == "{arn}" else ref_format.format(**values)
        return arn

    def resolve(self, value):
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NoValue]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NoValue
                if arg in self.params:
                    return self.params[arg]
                return self.physical(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.physical(logical, attribute)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return self._sub(text, extra)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(v) for v in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in self.resolve(parts))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::GetAZs":
                return [f"{REGION}a", f"{REGION}c", f"{REGION}d"]
        out = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NoValue:
                out[k] = resolved
        return out

    def _sub(self, text: str, extra: dict) -> str:
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            out.append(text[i:start])
            end = text.index("}", start)
            name = text[start + 2 : end]
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in extra:
                out.append(str(extra[name]))
            elif name in self.params:
                out.append(str(self.params[name]))
            elif "." in name:
                logical, attribute = name.split(".", 1)
                out.append(str(self.physical(logical, attribute)))
            else:
                out.append(str(self.physical(name)))
            i = end + 1
        return "".join(out)


# ------------------------------------------------------------------------------------------
# IAM evaluation
# ------------------------------------------------------------------------------------------


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _match(pattern: str, value: str, case_insensitive: bool = False) -> bool:
    if case_insensitive:
        pattern, value = pattern.lower(), value.lower()
    # IAM wildcards: * any run, ? one character; no character classes.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _conditions_hold(block: dict, context: dict) -> bool:
    for operator, pairs in block.items():
        if_exists = operator.endswith("IfExists")
        op = operator.removesuffix("IfExists")
        for key, wanted in pairs.items():
            given = context.get(key)
            if given is None:
                if not if_exists:
                    return False
                continue
            wanted = [str(w) for w in _as_list(wanted)]
            values = [str(g) for g in _as_list(given)]
            if op in ("StringEquals", "ArnEquals"):
                ok = all(v in wanted for v in values)
            elif op in ("StringLike", "ArnLike"):
                ok = all(any(_match(w, v) for w in wanted) for v in values)
            elif op == "ForAllValues:StringEquals":
                ok = all(v in wanted for v in values)
            else:
                raise ValueError(f"condition operator {operator} is not evaluated by these tests")
            if not ok:
                return False
    return True


def statement_applies(statement: dict, action: str, resource: str, context: dict) -> bool:
    if "Action" in statement:
        if not any(_match(p, action, True) for p in _as_list(statement["Action"])):
            return False
    elif any(_match(p, action, True) for p in _as_list(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(_match(p, resource) for p in _as_list(statement["Resource"])):
            return False
    elif any(_match(p, resource) for p in _as_list(statement.get("NotResource", []))):
        return False
    return _conditions_hold(statement.get("Condition", {}), context)


def allowed(statements: list[dict], action: str, resource: str, context: dict | None = None) -> bool:
    """IAM's verdict for one request against identity policies: an explicit Deny wins, then
    an Allow is needed."""
    context = context or {}
    if any(s["Effect"] == "Deny" and statement_applies(s, action, resource, context) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and statement_applies(s, action, resource, context) for s in statements)


def role_statements(resolved_role: dict) -> list[dict]:
    statements = []
    for policy in resolved_role["Properties"].get("Policies", []):
        statements.extend(_as_list(policy["PolicyDocument"]["Statement"]))
    return statements


# ------------------------------------------------------------------------------------------
# Resource provider schemas
# ------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def provider_schema(resource_type: str, region: str = REGION) -> dict:
    index = json.loads((SCHEMAS / "providers" / f"{region}.json").read_text())
    return json.loads((SCHEMAS / "resources" / f"{index[resource_type]}.json").read_text())


def handler_permissions(resource_type: str) -> dict[str, list[str]]:
    handlers = provider_schema(resource_type).get("handlers", {})
    return {h: handlers.get(h, {}).get("permissions", []) for h in ("create", "update", "delete")}


def deepcopy(value):
    return copy.deepcopy(value)
