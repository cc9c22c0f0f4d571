"""Exchanges the GitHub Actions job's OIDC token for the deploy role's credentials and hands
them to the job's later steps. It replaces aws-actions/configure-aws-credentials in the jobs
that hold `id-token: write`: no third-party action runs with the power to mint that token, and
this file is reviewed with the rest of the repository.

    python scripts/ci_assume_role.py ROLE_ARN REGION

Reads ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN (set by GitHub when the job
has `id-token: write`), calls STS AssumeRoleWithWebIdentity (unsigned: the token is the
credential), masks the secrets in the log and appends AWS_* variables to $GITHUB_ENV. Runs with
the SAM CLI venv's python (boto3 comes with it)."""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request

import boto3
from botocore import UNSIGNED
from botocore.config import Config

AUDIENCE = "sts.amazonaws.com"


def oidc_token(environ: dict[str, str]) -> str:
    url = environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    bearer = environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise SystemExit("no OIDC token request variables: the job needs `permissions: id-token: write`")
    separator = "&" if "?" in url else "?"
    request = urllib.request.Request(
        f"{url}{separator}audience={urllib.parse.quote(AUDIENCE)}",
        headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["value"]


def assume(role_arn: str, region: str, token: str, environ: dict[str, str]) -> dict[str, str]:
    sts = boto3.client("sts", region_name=region, config=Config(signature_version=UNSIGNED))
    session = f"github-{environ.get('GITHUB_RUN_ID', 'local')}-{environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    credentials = sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName=session, WebIdentityToken=token, DurationSeconds=3600
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def main(argv: list[str], environ: dict[str, str]) -> None:
    if len(argv) != 3:
        raise SystemExit("usage: ci_assume_role.py ROLE_ARN REGION")
    role_arn, region = argv[1], argv[2]
    if not role_arn or not region:
        raise SystemExit("the role ARN and the region must be set (GitHub environment variables)")
    token = oidc_token(environ)
    print(f"::add-mask::{token}")
    variables = assume(role_arn, region, token, environ)
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        print(f"::add-mask::{variables[name]}")
    with open(environ["GITHUB_ENV"], "a", encoding="utf-8") as env_file:
        for name, value in variables.items():
            env_file.write(f"{name}={value}\n")
    print(f"assumed {role_arn} in {region}")


if __name__ == "__main__":
    main(sys.argv, dict(os.environ))
