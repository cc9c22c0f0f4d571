"""The canary can see: every function's CodeDeploy rollback alarms include one that a single
failure trips within two minutes. For the HTTP functions that is a single 5xx answer (metric
ServerErrors, dimension Function, emitted by reset-core's response mapping: Lambda counts a
handled 500/503 as a success); for every function also a single Lambda error. The alarms are
evaluated here the way CloudWatch does for one datapoint of value 1 in one period."""

from __future__ import annotations

import re

from cfn import REPO, Resolver, samconfig_parameters, transformed

HOOK_PREFIX = "CodeDeployHook"


def source_template() -> dict:
    from cfn import load_yaml

    return load_yaml("infra/template.yaml")


def one_failure_trips(alarm: dict) -> bool:
    """Does one datapoint of 1 (a Sum) in one period put the alarm in ALARM, within 2 minutes?"""
    period = int(alarm["Period"])
    evaluation = int(alarm.get("EvaluationPeriods", 1))
    needed = int(alarm.get("DatapointsToAlarm", evaluation))
    if needed != 1 or period > 120 or alarm.get("Statistic") != "Sum":
        return False
    threshold = float(alarm["Threshold"])
    return {
        "GreaterThanThreshold": 1 > threshold,
        "GreaterThanOrEqualToThreshold": 1 >= threshold,
    }.get(alarm["ComparisonOperator"], False)


def emitted_metric_names() -> set[str]:
    source = (REPO / "functions/reset-core/src/metrics.rs").read_text(encoding="utf-8")
    return set(re.findall(r'pub const [A-Z_]+: &str = "([A-Za-z]+)";', source))


def test_every_function_has_a_rollback_alarm_that_one_failure_trips():
    params = samconfig_parameters("prod")
    stack = "password-reset-prod"
    source = source_template()
    resolver = Resolver(transformed(stack, params), stack, params)
    namespace = resolver.resolve(source["Globals"]["Function"]["Environment"]["Variables"]["METRICS_NAMESPACE"])
    alarms = {
        logical: resolver.resolve(r["Properties"])
        for logical, r in resolver.template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    functions = {k: r for k, r in source["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    checked = 0
    for logical, function in functions.items():
        if function["Properties"].get("FunctionName", {}) and HOOK_PREFIX in str(function["Properties"]["FunctionName"]):
            continue  # the pre-traffic hook is not canary-deployed itself
        if function["Metadata"]["BuildProperties"]["Binary"] == "probe":
            continue  # the synthetic probe serves no user: ProbeFailureAlarm watches it (test_probe.py)
        preference = function["Properties"]["DeploymentPreference"]
        rollback = [a["Ref"] for a in preference["Alarms"]]
        binary = function["Metadata"]["BuildProperties"]["Binary"]
        lambda_errors = [
            name
            for name in rollback
            if alarms[name].get("Namespace") == "AWS/Lambda"
            and alarms[name].get("MetricName") == "Errors"
            and alarms[name]["Dimensions"][0]["Value"] == resolver.physical(logical)
            and one_failure_trips(alarms[name])
        ]
        assert lambda_errors, f"{logical}: no rollback alarm that one Lambda error trips"
        serves_http = any(e["Type"] == "HttpApi" for e in function["Properties"].get("Events", {}).values())
        if serves_http:
            answered = [
                name
                for name in rollback
                if alarms[name].get("Namespace") == namespace
                and alarms[name].get("MetricName") == "ServerErrors"
                and alarms[name].get("Dimensions") == [{"Name": "Function", "Value": binary}]
                and one_failure_trips(alarms[name])
            ]
            assert answered, f"{logical}: no rollback alarm that one 5xx answer trips"
        checked += 1
    assert checked >= 6
    assert "ServerErrors" in emitted_metric_names(), "reset-core does not emit ServerErrors"


def test_the_evaluation_tells_a_slow_alarm_from_a_fast_one():
    fast = {"Period": 60, "EvaluationPeriods": 1, "Threshold": 1, "Statistic": "Sum",
            "ComparisonOperator": "GreaterThanOrEqualToThreshold"}
    assert one_failure_trips(fast)
    assert not one_failure_trips(fast | {"Period": 300})
    assert not one_failure_trips(fast | {"EvaluationPeriods": 3, "DatapointsToAlarm": 2})
    assert not one_failure_trips(fast | {"Threshold": 5})
