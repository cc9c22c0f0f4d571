"""The alarm set reaches a person on a quiet night (issue 26, point 2).

Every alarm of the SAM-transformed template (SES configuration set on, AlarmEmail and
AlarmActionArn both set) is evaluated the way CloudWatch evaluates it, over a day of traffic at
one reset request an hour, with one failure event in it:

- the metrics are modelled per minute as the code and AWS publish them: an EMF line carries
  every count of its kind, zeros included, only in the minute its function ran; SQS publishes
  its queue metrics every minute; API Gateway and Lambda publish in the minutes they serve;
- each alarm's periods, statistic, metric math (FILL, IF, DIFF, arithmetic, comparisons, AND,
  OR), threshold, comparison, EvaluationPeriods, DatapointsToAlarm and TreatMissingData are
  evaluated every minute; each OK→ALARM transition is one notification.

An alarm passes when it stays OK through the healthy day and goes into ALARM within its
`within` minutes of the single event. Alarms that by design want many events (rates) are listed
in BY_DESIGN_SLOW with the alarm that catches the single event instead; every alarm of the
template is in exactly one of the two lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import pytest

from cfn import Resolver, transformed

STACK = "password-reset-prod"
PAGING_ARN = "arn:aws:sns:ap-northeast-1:123456789012:ops-paging"
PARAMS = {
    "Stage": "prod",
    "SenderAddress": "no-reply@id.example.jp",
    "PublicBaseUrl": "https://id.example.jp",
    "ClientIpSource": "cloudfront-viewer-address",
    "OriginVerifySecret": "x" * 32,
    # A prod stack runs the synthetic probe and tells the administrators of verified requests.
    "ProbeUsernames": "pr000001,pr000002,pr000003,pr000004",
    "AddressRequestNotifyAddress": "id-admins@example.jp",
    "ServiceName": "s",
    "SupportContact": "c",
    "SignInUrl": "https://id.example.jp/sign-in",
    "SesConfigurationSetName": "password-reset-prod",
    "AlarmEmail": "ops@example.jp",
    "AlarmActionArn": PAGING_ARN,
}

DAY = 24 * 60
# The failure happens in the request of this minute (hour 12, half past).
EVENT = 12 * 60 + 30


# ------------------------------------------------------------------------------------------
# Traffic: what one healthy reset request publishes, minute by minute
# ------------------------------------------------------------------------------------------

# (minute offset after the request, metric name) -> value. Offsets: 0 the HTTP request
# (API Gateway, request-reset), 1 send-mail's batch, 2 mail-events' SES delivery event.
HEALTHY_REQUEST = {
    (0, "Count"): 1, (0, "4xx"): 0, (0, "5xx"): 0,
    (0, "ResetRequests"): 1, (0, "MailsQueued"): 1, (0, "MailQueueFailures"): 0,
    (0, "RateLimitRefusals"): 0,
    (0, "Errors"): 0, (0, "Throttles"): 0,
    (1, "MailsSent"): 1, (1, "MailSendFailures"): 0, (1, "MailsExpiredBeforeSending"): 0,
    (1, "MailsDeadLettered"): 0, (1, "MailDuplicatesSuppressed"): 0, (1, "ResetJobsWithoutMail"): 0,
    (1, "MailJobsRefused"): 0, (1, "AddressConfirmationsOverCap"): 0, (1, "MailSendsThrottled"): 0,
    (1, "Errors"): 0, (1, "Throttles"): 0,
    (2, "MailDeliveries"): 1, (2, "MailBounces"): 0, (2, "MailComplaints"): 0, (2, "MailRejects"): 0,
    (2, "MailEventsUnmatched"): 0, (2, "MailEventsMalformed"): 0, (2, "MailEventsForeign"): 0,
    (2, "MailDeliveryDelays"): 0,
    (2, "Errors"): 0, (2, "Throttles"): 0,
}
# Published every minute whatever the traffic (SQS, for its queues).
EVERY_MINUTE = {
    "ApproximateAgeOfOldestMessage": 0,
    "ApproximateNumberOfMessagesVisible": 0,
    "NumberOfMessagesSent": 0,
}


# The synthetic probe runs every 5 minutes, at night too: its success and the oldest verified
# address request's age (none waiting on a healthy day).
PROBE_EVERY_5_MINUTES = {"ProbeSuccess": 1, "OldestPendingAddressRequestAge": 0}


def probe_series(value_at: Callable[[int], float | None]) -> Callable[[int], float | None]:
    """A probe metric: a value only in the minutes the probe runs."""
    return lambda m: value_at(m) if m % 5 == 0 else None


def request_minutes() -> list[int]:
    return [h * 60 + 30 for h in range(24)]


@dataclass
class Scenario:
    """One failure event: `at` overrides the healthy request at EVENT ((offset, metric) ->
    value, None = not published); `series` replaces a metric's whole day (minute -> value)."""

    at: dict = field(default_factory=dict)
    series: dict[str, Callable[[int], float | None]] = field(default_factory=dict)
    # Minutes after EVENT by which the alarm must be in ALARM.
    within: int = 20
    # A second event of the same kind later the same day must page again.
    repeats_at: int | None = None


def datapoints(scenario: Scenario | None) -> dict[str, dict[int, float]]:
    """metric name -> {minute: value} for the whole day."""
    points: dict[str, dict[int, float]] = {}
    events = [EVENT] + ([scenario.repeats_at] if scenario and scenario.repeats_at else [])
    for start in request_minutes():
        emitted = dict(HEALTHY_REQUEST)
        if scenario and start in events:
            emitted.update(scenario.at)
        for (offset, name), value in emitted.items():
            if value is None:
                continue
            minute = start + offset
            points.setdefault(name, {})
            points[name][minute] = points[name].get(minute, 0) + value
    # The probe ran the day before too (its first window reaches back past minute 0).
    for name, value in PROBE_EVERY_5_MINUTES.items():
        points.setdefault(name, {}).update({m: value for m in range(-60, DAY, 5)})
    for name, value in EVERY_MINUTE.items():
        points.setdefault(name, {}).update({m: value for m in range(DAY) if m not in points.get(name, {})})
    if scenario:
        for name, series in scenario.series.items():
            points[name] = {m: v for m in range(-60, DAY) if (v := series(m)) is not None}
    return points


def step_up(*minutes: int) -> Callable[[int], float]:
    """A count that rises by one at each of `minutes` and stays (a standing queue depth)."""
    return lambda m: float(sum(1 for s in minutes if m >= s))


def growing_age(start: int, stuck_for: int) -> Callable[[int], float]:
    """The age of a mail stuck from `start` for `stuck_for` minutes."""
    return lambda m: float((m - start) * 60) if start <= m < start + stuck_for else 0.0


# ------------------------------------------------------------------------------------------
# CloudWatch: periods, statistics, metric math, missing data
# ------------------------------------------------------------------------------------------


def stat(points: dict[int, float], end: int, period_minutes: int, statistic: str) -> float | None:
    values = [points[m] for m in range(end - period_minutes, end) if m in points]
    if not values:
        return None
    return {"Sum": sum, "Maximum": max, "Minimum": min, "Average": lambda v: sum(v) / len(v),
            "SampleCount": len}[statistic](values)


TOKEN = re.compile(r"\s*(\d+\.?\d*|[A-Za-z_][A-Za-z0-9_]*|>=|<=|==|!=|[-+*/(),<>])")


class Expression:
    """CloudWatch metric math, the subset the template uses, evaluated per period end.
    A missing operand makes arithmetic and comparisons missing; FILL replaces it; IF is lazy."""

    def __init__(self, text: str):
        self.tokens = [t for t in TOKEN.findall(text) if t.strip()]
        self.pos = 0
        self.tree = self.parse_or()
        assert self.pos == len(self.tokens), f"unparsed rest of {text!r}: {self.tokens[self.pos:]}"

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected=None):
        token = self.tokens[self.pos]
        assert expected is None or token == expected, (token, expected)
        self.pos += 1
        return token

    def parse_or(self):
        node = self.parse_and()
        while self.peek() == "OR":
            self.take()
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_cmp()
        while self.peek() == "AND":
            self.take()
            node = ("and", node, self.parse_cmp())
        return node

    def parse_cmp(self):
        node = self.parse_sum()
        if self.peek() in (">", "<", ">=", "<=", "==", "!="):
            node = ("cmp", self.take(), node, self.parse_sum())
        return node

    def parse_sum(self):
        node = self.parse_product()
        while self.peek() in ("+", "-"):
            node = ("arith", self.take(), node, self.parse_product())
        return node

    def parse_product(self):
        node = self.parse_atom()
        while self.peek() in ("*", "/"):
            node = ("arith", self.take(), node, self.parse_atom())
        return node

    def parse_atom(self):
        token = self.take()
        if token == "(":
            node = self.parse_or()
            self.take(")")
            return node
        if re.fullmatch(r"\d+\.?\d*", token):
            return ("num", float(token))
        if self.peek() == "(":
            self.take("(")
            args = [self.parse_or()]
            while self.peek() == ",":
                self.take()
                args.append(self.parse_or())
            self.take(")")
            return ("call", token, args)
        return ("id", token)

    def value(self, node, end: int, lookup, period: int):
        kind = node[0]
        if kind == "num":
            return node[1]
        if kind == "id":
            return lookup(node[1], end)
        if kind == "arith":
            a, b = self.value(node[2], end, lookup, period), self.value(node[3], end, lookup, period)
            if a is None or b is None:
                return None
            if node[1] == "/":
                return None if b == 0 else a / b
            return {"+": a + b, "-": a - b, "*": a * b}[node[1]]
        if kind == "cmp":
            a, b = self.value(node[2], end, lookup, period), self.value(node[3], end, lookup, period)
            if a is None or b is None:
                return None
            return float({">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b, "==": a == b, "!=": a != b}[node[1]])
        if kind in ("and", "or"):
            a, b = self.value(node[1], end, lookup, period), self.value(node[2], end, lookup, period)
            if a is None or b is None:
                return None
            return float(bool(a) and bool(b)) if kind == "and" else float(bool(a) or bool(b))
        if kind == "call":
            name, args = node[1], node[2]
            if name == "FILL":
                inner = self.value(args[0], end, lookup, period)
                return self.value(args[1], end, lookup, period) if inner is None else inner
            if name == "IF":
                condition = self.value(args[0], end, lookup, period)
                if condition is None:
                    return None
                branch = args[1] if condition else (args[2] if len(args) > 2 else ("num", 0.0))
                return self.value(branch, end, lookup, period)
            if name == "DIFF":
                now = self.value(args[0], end, lookup, period)
                before = self.value(args[0], end - period, lookup, period)
                return None if now is None or before is None else now - before
            raise AssertionError(f"metric math function {name} is not modelled")
        raise AssertionError(node)


def metric_points(metric: dict, points: dict[str, dict[int, float]]) -> dict[int, float]:
    return points.get(metric["MetricName"], {})


def evaluate(alarm: dict, points: dict[str, dict[int, float]]) -> list[str]:
    """The alarm's state after each minute of the day."""
    n = int(alarm.get("EvaluationPeriods", 1))
    m = int(alarm.get("DatapointsToAlarm", n))
    threshold = float(alarm["Threshold"])
    operator = alarm["ComparisonOperator"]
    missing = alarm.get("TreatMissingData", "missing")
    if "Metrics" in alarm:
        queries = {q["Id"]: q for q in alarm["Metrics"]}
        returned = [q for q in alarm["Metrics"] if q.get("ReturnData", True)]
        assert len(returned) == 1, f"one query returns data: {[q['Id'] for q in returned]}"
        result = returned[0]
        period = int(next(q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q)) // 60
        parsed = {i: Expression(q["Expression"]) for i, q in queries.items() if "Expression" in q}

        def lookup(query_id: str, end: int):
            query = queries[query_id]
            if "MetricStat" in query:
                s = query["MetricStat"]
                return stat(metric_points(s["Metric"], points), end, int(s["Period"]) // 60, s["Stat"])
            expression = parsed[query_id]
            return expression.value(expression.tree, end, lookup, period)

        def period_value(end: int):
            return lookup(result["Id"], end)
    else:
        period = int(alarm["Period"]) // 60
        series = metric_points(alarm, points)

        def period_value(end: int):
            return stat(series, end, period, alarm["Statistic"])

    def breaches(value: float) -> bool:
        return {
            "GreaterThanThreshold": value > threshold,
            "GreaterThanOrEqualToThreshold": value >= threshold,
            "LessThanThreshold": value < threshold,
            "LessThanOrEqualToThreshold": value <= threshold,
        }[operator]

    states, state = [], "OK"
    for now in range(DAY):
        values = [period_value(now - i * period) for i in range(n)]
        present = [v for v in values if v is not None]
        if not present and missing in ("ignore", "missing"):
            states.append(state if missing == "ignore" else "INSUFFICIENT_DATA")
            continue
        bad = sum(1 for v in present if breaches(v))
        if missing == "breaching":
            bad += len(values) - len(present)
        state = "ALARM" if bad >= m else "OK"
        states.append(state)
    return states


def notifications(states: list[str]) -> list[int]:
    """Minutes at which the alarm went into ALARM (each one notifies its actions)."""
    return [i for i, s in enumerate(states) if s == "ALARM" and (i == 0 or states[i - 1] != "ALARM")]


# ------------------------------------------------------------------------------------------
# The alarms and their single events
# ------------------------------------------------------------------------------------------

SCENARIOS: dict[str, Scenario] = {
    # Mail sending down: the one mail of the hour fails, nothing is sent.
    "SendFailureNoSuccessAlarm": Scenario(at={(1, "MailSendFailures"): 1, (1, "MailsSent"): 0}),
    # The request could not queue its mail (503), or a notice was lost.
    "NoticeMailFailureAlarm": Scenario(at={(0, "MailQueueFailures"): 1, (0, "MailsQueued"): 0}),
    "MailJobRefusedAlarm": Scenario(at={(1, "MailJobsRefused"): 1, (1, "MailsSent"): 0}),
    "AddressConfirmationCapAlarm": Scenario(at={(1, "AddressConfirmationsOverCap"): 1, (1, "MailsSent"): 0}),
    "ComplaintAlarm": Scenario(at={(2, "MailComplaints"): 1, (2, "MailDeliveries"): 0}),
    # Every username "unknown" after a bad restore: the one job of the hour sends nothing.
    "ResetJobsWithoutMailAlarm": Scenario(
        at={(1, "ResetJobsWithoutMail"): 1, (1, "MailsSent"): 0, (2, "MailDeliveries"): None}
    ),
    # A user refused by a rate limit (429, or nothing queued).
    "RateLimitRefusalAlarm": Scenario(at={(0, "RateLimitRefusals"): 1, (0, "MailsQueued"): 0, (0, "4xx"): 1}),
    # SES accepted the mail and the receiving server delays it.
    "MailDeliveryDelayAlarm": Scenario(at={(2, "MailDeliveryDelays"): 1, (2, "MailDeliveries"): 0}),
    # The one request of the hour answered 4xx (an API Gateway 429 included).
    "Api4xxAlarm": Scenario(at={(0, "4xx"): 1}),
    # One mail dead-lettered by the redrive policy (no NumberOfMessagesSent for those, no
    # send-mail line either when the last receive timed out): the depth rises and stays; a second
    # one five hours later pages again although the first still waits.
    "MailDeadLetterAlarm": Scenario(
        series={"ApproximateNumberOfMessagesVisible": step_up(EVENT, EVENT + 300)},
        repeats_at=EVENT + 300,
        within=3,
    ),
    # Lambda's on-failure destination sends the event (counted by NumberOfMessagesSent).
    "MailEventsDeadLetterAlarm": Scenario(
        series={
            "NumberOfMessagesSent": lambda m: 1.0 if m in (EVENT + 2, EVENT + 302) else 0.0,
            "ApproximateNumberOfMessagesVisible": step_up(EVENT + 2, EVENT + 302),
        },
        repeats_at=EVENT + 300,
        within=8,
    ),
    # One mail stuck in the queue for half an hour (MailQueueAgeAlarmSeconds = 600).
    "MailQueueAgeAlarm": Scenario(
        series={"ApproximateAgeOfOldestMessage": growing_age(EVENT, 30)}, at={(1, "MailsSent"): 0}, within=15
    ),
    # One run of the probe fails (a step of the public flow broke at night).
    "ProbeFailureAlarm": Scenario(
        series={"ProbeSuccess": probe_series(lambda m: 0.0 if m == EVENT else 1.0)}, within=2
    ),
    # A request verified long ago reaches the threshold (96 h, two working days) half an hour
    # after EVENT; an administrator decides it an hour later.
    "AddressRequestWaitAlarm": Scenario(
        series={
            "OldestPendingAddressRequestAge": probe_series(
                lambda m: float(345600 - 1800 + (m - EVENT) * 60) if EVENT <= m < EVENT + 60 else 0.0
            )
        },
        within=40,
    ),
}
# One Lambda error, one throttle, one answered 5xx of each function.
for fn in ("RequestReset", "VerifyToken", "AddressChange", "ChangePassword", "SendMail", "MailEvents"):
    SCENARIOS[f"{fn}ErrorsAlarm"] = Scenario(at={(0, "Errors"): 1}, within=3)
    SCENARIOS[f"{fn}ThrottlesAlarm"] = Scenario(at={(0, "Throttles"): 1}, within=6)
for fn in ("RequestReset", "VerifyToken", "AddressChange", "ChangePassword"):
    SCENARIOS[f"{fn}ServerErrorsAlarm"] = Scenario(at={(0, "ServerErrors"): 1, (0, "5xx"): 1}, within=3)

# Alarms that want many events by design, and what pages on the single event instead.
BY_DESIGN_SLOW = {
    "SendFailureRateAlarm": "a rate over ≥ 5 attempts for partial failures at high traffic; "
    "SendFailureNoSuccessAlarm pages on a single failure with nothing sent",
    "Api5xxAlarm": "a 5 % rate over 2 of 3 periods; RequestResetServerErrorsAlarm and each other HTTP function's ServerErrors alarm page on one 5xx",
    "BounceRateAlarm": "a rate over ≥ 10 events: one bounce is one stale address (reset-admin mail-problems), "
    "not an outage; the account's own reputation alarms watch SES's judgement",
    "BreachCheckUnavailableAlarm": "≥ 5 fail-open checks in 15 min: users feel nothing (the change goes on)",
    "SesReputationBounceAlarm": "SES's account-wide rate, computed by SES over its own window",
    "SesReputationComplaintAlarm": "SES's account-wide rate, computed by SES over its own window",
}


def alarms() -> dict[str, dict]:
    resolver = Resolver(transformed(STACK, PARAMS), STACK, PARAMS)
    return {
        logical: resolver.resolve(r["Properties"])
        for logical, r in resolver.template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm" and resolver.resource_exists(logical)
    }


def test_every_alarm_is_either_proven_fast_or_explained_slow():
    names = set(alarms())
    assert not set(SCENARIOS) & set(BY_DESIGN_SLOW)
    assert names - set(SCENARIOS) - set(BY_DESIGN_SLOW) == set(), "alarms without a single-event scenario"
    assert (set(SCENARIOS) | set(BY_DESIGN_SLOW)) - names == set(), "scenarios of alarms the template lacks"
    for name, reason in BY_DESIGN_SLOW.items():
        covering = re.findall(r"[A-Za-z0-9]+Alarm", reason)
        assert all(c in names for c in covering), f"{name}: {reason}"


def test_every_alarm_reaches_the_mail_topic_and_the_paging_action():
    for name, alarm in alarms().items():
        for actions in ("AlarmActions", "OKActions"):
            targets = alarm[actions]
            assert PAGING_ARN in targets, f"{name}: {actions} lacks AlarmActionArn"
            assert any("AlarmTopic" in t for t in targets), f"{name}: {actions} lacks the e-mail topic"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_single_event_at_one_request_an_hour_pages(name):
    alarm = alarms()[name]
    scenario = SCENARIOS[name]
    quiet = evaluate(alarm, datapoints(None))
    assert "ALARM" not in quiet, f"{name} fires on a healthy day at one request an hour"
    states = evaluate(alarm, datapoints(scenario))
    fired = notifications(states)
    assert fired, f"{name} never fires on the single event"
    assert EVENT <= fired[0] <= EVENT + scenario.within, f"{name} first fires at minute {fired[0] - EVENT} after the event"
    assert states[-1] == "OK", f"{name} is still in ALARM at the end of the day: the next event would not notify"
    if scenario.repeats_at:
        assert len(fired) == 2 and fired[1] >= scenario.repeats_at, (
            f"{name}: a second arrival while the first still waits notifies again (fired at {fired})"
        )


def test_the_probe_alarm_fires_when_the_probe_stops_running():
    """Missing data breaches: a probe that no longer runs (deleted schedule, broken role, a crash
    at cold start) pages within one period and stays in ALARM."""
    alarm = alarms()["ProbeFailureAlarm"]
    assert alarm["TreatMissingData"] == "breaching"
    points = datapoints(None)
    points["ProbeSuccess"] = {m: v for m, v in points["ProbeSuccess"].items() if m < EVENT}
    states = evaluate(alarm, points)
    fired = notifications(states)
    assert fired and EVENT <= fired[0] <= EVENT + 15, fired
    assert states[-1] == "ALARM"


def test_the_evaluator_tells_a_standing_count_from_new_arrivals():
    standing = {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Statistic": "Maximum",
                "Period": 60, "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching"}
    day = datapoints(Scenario(series={"ApproximateNumberOfMessagesVisible": step_up(EVENT, EVENT + 300)}))
    # The old alarm: one notification, then ALARM for the rest of the day.
    assert len(notifications(evaluate(standing, day))) == 1
    slow = {**standing, "MetricName": "MailsSent", "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2, "Threshold": 0}
    # Two of three 5-minute periods: one request an hour never breaches twice.
    assert notifications(evaluate(slow, datapoints(None))) == []
    math = Expression("IF(FILL(a, 0) > 0 AND FILL(b, 0) == 0, 1, 0)")
    values = {"a": 2.0, "b": None}
    assert math.value(math.tree, 0, lambda i, _e: values[i], 1) == 1.0
    values["b"] = 1.0
    assert math.value(math.tree, 0, lambda i, _e: values[i], 1) == 0.0
