#!/usr/bin/env python3
"""The --parameter-overrides of `sam deploy` for one samconfig.toml environment, plus the secrets.

`sam deploy --parameter-overrides …` replaces samconfig's whole parameter_overrides list rather
than adding to it, so a secret passed alone would drop every other setting, and committing it
is no answer. This prints samconfig's list for the environment with the secrets from the
environment variables added, as one argument SAM CLI parses back (each value quoted):

    sam deploy --config-env prod --parameter-overrides "$(python3 scripts/deploy_overrides.py prod)"

Secrets: ORIGIN_VERIFY_SECRET → OriginVerifySecret (a GitHub environment secret in the pipeline).
"""
import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"OriginVerifySecret": "ORIGIN_VERIFY_SECRET"}


def overrides(environment: str, env: dict) -> list[tuple[str, str]]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    try:
        items = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    except KeyError:
        sys.exit(f"error: samconfig.toml has no [{environment}.deploy.parameters] parameter_overrides")
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"error: samconfig.toml override {item!r} is not Key=Value")
        if key in SECRETS:
            sys.exit(f"error: samconfig.toml commits the secret {key}: pass it as {SECRETS[key]} instead")
        pairs.append((key, value.strip('"')))
    for key, variable in SECRETS.items():
        if env.get(variable):
            pairs.append((key, env[variable]))
    return pairs


def quoted(pairs: list[tuple[str, str]]) -> str:
    for key, value in pairs:
        if '"' in value or "\\" in value:
            sys.exit(f"error: the value of {key} holds a quote or a backslash, which SAM CLI cannot take")
    return " ".join(f'{key}="{value}"' for key, value in pairs)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: deploy_overrides.py ENVIRONMENT   (default or prod)")
    print(quoted(overrides(sys.argv[1], os.environ)))


if __name__ == "__main__":
    main()
