"""What a deploy is told and what it refuses: samconfig's environments pass every Rule of the
template once the pipeline adds the secret, a PublicBaseUrl without DomainName must say how the
stack sees clients, and scripts/deploy_overrides.py hands SAM CLI samconfig's overrides with the
secret added, never committed (SAM CLI's own parser reads them back)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from samcli.cli.types import CfnParameterOverridesType

from cfn import REPO, Resolver, load_yaml, samconfig_parameters

TEMPLATE = load_yaml("infra/template.yaml")
SECRET = "a-long-random-origin-secret"


def failed_rules(params: dict[str, str]) -> list[str]:
    """The Rules CloudFormation would refuse the deploy with, for these parameter values."""
    resolver = Resolver(TEMPLATE, "password-reset", params)
    failed = []
    for name, rule in TEMPLATE["Rules"].items():
        if "RuleCondition" in rule and not resolver.resolve(rule["RuleCondition"]):
            continue
        for assertion in rule["Assertions"]:
            if not resolver.resolve(assertion["Assert"]):
                failed.append(name)
    return failed


def overrides(environment: str, secret: str | None) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"]}
    if secret is not None:
        env["ORIGIN_VERIFY_SECRET"] = secret
    line = subprocess.check_output(
        [sys.executable, str(REPO / "scripts/deploy_overrides.py"), environment], env=env, text=True
    ).strip()
    return CfnParameterOverridesType().convert(line, None, None)


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_the_pipelines_overrides_pass_every_rule(environment):
    params = overrides(environment, SECRET)
    assert failed_rules(params) == []
    # everything samconfig sets survives, and the secret is added
    assert {k: v for k, v in params.items() if k != "OriginVerifySecret"} == samconfig_parameters(environment)
    assert params["OriginVerifySecret"] == SECRET


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_without_the_secret_the_deploy_is_refused(environment):
    assert failed_rules(overrides(environment, None)) == ["CloudFrontNeedsOriginSecret"]


def test_a_public_base_url_without_domain_must_say_how_clients_are_seen():
    proxy = {"PublicBaseUrl": "https://id.example.jp", "DomainName": "", "ClientIpSource": "source-ip"}
    assert "FrontDoorSaysHowClientsAreSeen" in failed_rules(proxy)
    assert "FrontDoorSaysHowClientsAreSeen" not in failed_rules(
        {**proxy, "PublicBaseUrl": "https://abc123.execute-api.ap-northeast-1.amazonaws.com", "PublicBaseUrlIsApiEndpoint": "true"}
    )
    assert failed_rules(
        {**proxy, "ClientIpSource": "cloudfront-viewer-address", "OriginVerifySecret": SECRET}
    ) == []
    # with the API's custom domain, clients reach the API directly
    assert "FrontDoorSaysHowClientsAreSeen" not in failed_rules(
        {"PublicBaseUrl": "", "DomainName": "id.example.jp", "CertificateArn": "arn:aws:acm:ap-northeast-1:123456789012:certificate/x"}
    )


def test_a_committed_secret_is_refused(tmp_path: Path):
    text = (REPO / "samconfig.toml").read_text(encoding="utf-8")
    assert "OriginVerifySecret" not in text.replace("# OriginVerifySecret", "")
    script = (REPO / "scripts/deploy_overrides.py").read_text(encoding="utf-8")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/deploy_overrides.py").write_text(script, encoding="utf-8")
    (tmp_path / "samconfig.toml").write_text(
        '[prod.deploy.parameters]\nparameter_overrides = ["Stage=prod", "OriginVerifySecret=oops"]\n', encoding="utf-8"
    )
    run = subprocess.run(
        [sys.executable, str(tmp_path / "scripts/deploy_overrides.py"), "prod"], capture_output=True, text=True
    )
    assert run.returncode != 0 and "ORIGIN_VERIFY_SECRET" in run.stderr


def test_every_deploy_step_passes_the_overrides_and_the_secret():
    workflow = load_yaml(".github/workflows/deploy.yml")
    steps = [s for job in workflow["jobs"].values() for s in job["steps"] if "sam deploy" in str(s.get("run", ""))]
    assert len(steps) == 2
    for step in steps:
        assert "scripts/deploy_overrides.py" in step["run"] and "--parameter-overrides" in step["run"]
        assert step["env"]["ORIGIN_VERIFY_SECRET"] == "${{ secrets.ORIGIN_VERIFY_SECRET }}"
