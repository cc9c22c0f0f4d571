"""The sender's domain is an SES identity of the stack, with Easy DKIM and a custom MAIL FROM
domain; with a hosted zone the stack also publishes the DKIM CNAMEs, the MAIL FROM MX and SPF
records and DMARC; the configuration set hears delivery delays."""

from __future__ import annotations

from cfn import REGION, Resolver, samconfig_parameters, transformed

ZONE = "Z0123456789EXAMPLE"


def stack(extra: dict) -> Resolver:
    params = samconfig_parameters("prod") | extra
    return Resolver(transformed("password-reset-prod", params), "password-reset-prod", params)


def records(resolver: Resolver) -> list[dict]:
    return [
        resolver.resolve(r["Properties"])
        for logical, r in resolver.template["Resources"].items()
        if r["Type"] == "AWS::Route53::RecordSet" and resolver.resource_exists(logical)
    ]


def test_identity_with_dkim_and_mail_from():
    resolver = stack({"HostedZoneId": ZONE})
    sender_domain = resolver.params["SenderAddress"].split("@")[1]
    identities = [
        (logical, resolver.resolve(r["Properties"]))
        for logical, r in resolver.template["Resources"].items()
        if r["Type"] == "AWS::SES::EmailIdentity" and resolver.resource_exists(logical)
    ]
    assert len(identities) == 1
    logical, identity = identities[0]
    assert identity["EmailIdentity"] == sender_domain
    assert identity["DkimAttributes"]["SigningEnabled"] is True
    mail_from = identity["MailFromAttributes"]["MailFromDomain"]
    assert mail_from == f"bounce.{sender_domain}"

    published = records(resolver)
    assert all(r["HostedZoneId"] == ZONE for r in published)
    dkim = [r for r in published if r["Type"] == "CNAME"]
    assert sorted(r["Name"] for r in dkim) == sorted(
        resolver.physical(logical, f"DkimDNSTokenName{i}") for i in (1, 2, 3)
    )
    assert sorted(v for r in dkim for v in r["ResourceRecords"]) == sorted(
        resolver.physical(logical, f"DkimDNSTokenValue{i}") for i in (1, 2, 3)
    )
    mx = [r for r in published if r["Type"] == "MX"]
    assert [(r["Name"], r["ResourceRecords"]) for r in mx] == [
        (mail_from, [f"10 feedback-smtp.{REGION}.amazonses.com"])
    ]
    txt = {r["Name"]: r["ResourceRecords"] for r in published if r["Type"] == "TXT"}
    assert txt[mail_from] == ['"v=spf1 include:amazonses.com -all"']
    dmarc = txt[f"_dmarc.{sender_domain}"][0]
    assert dmarc.startswith('"v=DMARC1; p=quarantine;'), dmarc


def test_no_zone_no_records_and_no_identity_when_it_exists_elsewhere():
    assert records(stack({"HostedZoneId": ""})) == []
    resolver = stack({"HostedZoneId": ZONE, "CreateSenderIdentity": "false"})
    assert records(resolver) == []
    assert not any(
        r["Type"] == "AWS::SES::EmailIdentity" and resolver.resource_exists(k)
        for k, r in resolver.template["Resources"].items()
    )


def test_configuration_set_hears_delivery_delays():
    resolver = stack({})
    destinations = [
        resolver.resolve(r["Properties"])["EventDestination"]
        for k, r in resolver.template["Resources"].items()
        if r["Type"] == "AWS::SES::ConfigurationSetEventDestination" and resolver.resource_exists(k)
    ]
    assert destinations
    for destination in destinations:
        assert "deliveryDelay" in destination["MatchingEventTypes"]
