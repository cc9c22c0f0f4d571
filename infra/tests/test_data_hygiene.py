"""What must outlive the stack does: the address-change requests (retained, deletion
protection on), every queue (undelivered mail), and prod's log groups. Staging's log groups go
with the stack, so that a deleted staging stack can be re-created under its name."""

from __future__ import annotations

from cfn import load_yaml, samconfig_parameters

TEMPLATE = load_yaml("infra/template.yaml")


def policy(resource: dict, attribute: str, params: dict) -> str:
    value = resource.get(attribute, "Delete")
    if isinstance(value, dict):
        # AWS::LanguageExtensions resolves a Ref to a parameter here, nothing else.
        assert list(value) == ["Ref"], value
        assert "AWS::LanguageExtensions" in TEMPLATE["Transform"]
        spec = TEMPLATE["Parameters"][value["Ref"]]
        return params.get(value["Ref"], spec.get("Default"))
    return value


def test_address_requests_are_retained_and_protected():
    table = TEMPLATE["Resources"]["AddressRequestsTable"]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_queues_are_retained():
    queues = {k: r for k, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    assert len(queues) >= 3
    for name, queue in queues.items():
        assert queue.get("DeletionPolicy") == "Retain", name
        assert queue.get("UpdateReplacePolicy") == "Retain", name


def test_prod_log_groups_are_retained_and_stagings_are_not():
    groups = {k: r for k, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert len(groups) >= 8
    prod, staging = samconfig_parameters("prod"), samconfig_parameters("default")
    for name, group in groups.items():
        for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
            assert policy(group, attribute, prod) == "Retain", f"prod {name} {attribute}"
            # Named after the stack: a retained staging group would block its re-creation.
            if "LogGroupName" in group["Properties"]:
                assert policy(group, attribute, staging) == "Delete", f"staging {name} {attribute}"
