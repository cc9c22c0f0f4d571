"""The deploy pipeline: every action is in .github/action-pins.txt, pinned by the SHA listed
there (tag pins are named there as unverified, and never run in a job that can mint an OIDC
token); the toolchain is pinned without making rustup download; a cargo cache and a live
dependency audit precede the build; staging deploys from main only; the region is a variable;
the staging smoke test runs before prod."""

from __future__ import annotations

import re
import tomllib

import yaml

from cfn import REPO

WORKFLOW = yaml.safe_load((REPO / ".github/workflows/deploy.yml").read_text(encoding="utf-8"))
JOBS = WORKFLOW["jobs"]
SHA = re.compile(r"^[0-9a-f]{40}$")


def pins() -> dict[tuple[str, str], str]:
    out = {}
    for line in (REPO / ".github/action-pins.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            action, ref, _release, checked = line.split(None, 3)
            out[(action, ref)] = checked
    return out


def uses(job: dict) -> list[str]:
    return [step["uses"] for step in job.get("steps", []) if "uses" in step]


def test_every_action_is_pinned_as_listed():
    listed = pins()
    for name, job in JOBS.items():
        privileged = job.get("permissions", {}).get("id-token") == "write"
        for use in uses(job):
            action, _, ref = use.partition("@")
            assert (action, ref) in listed, f"{name}: {use} is not in .github/action-pins.txt"
            if SHA.match(ref):
                assert not listed[(action, ref)].startswith("unverified"), use
            else:
                assert listed[(action, ref)].startswith("unverified"), f"{name}: {use} is pinned by tag"
                assert not privileged, f"{name} holds id-token: write and runs {use}, pinned by tag only"
    raw = (REPO / ".github/workflows/deploy.yml").read_text(encoding="utf-8")
    for line in raw.splitlines():
        match = re.search(r"uses: (\S+)@([0-9a-f]{40})", line)
        if match:
            assert f"# {pins_release(match.group(1), match.group(2))}" in line, line


def pins_release(action: str, sha: str) -> str:
    for line in (REPO / ".github/action-pins.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts[:2] == [action, sha]:
            return parts[2]
    raise AssertionError(f"{action}@{sha} not listed")


def test_privileged_jobs_run_no_third_party_action():
    for name, job in JOBS.items():
        if job.get("permissions", {}).get("id-token") == "write":
            assert all(u.startswith("actions/") for u in uses(job)), f"{name}: {uses(job)}"


def test_toolchain_is_pinned_to_an_installed_release():
    toolchain = tomllib.loads((REPO / "rust-toolchain.toml").read_text(encoding="utf-8"))["toolchain"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", toolchain["channel"]), "a release, not stable/nightly"
    workspace = tomllib.loads((REPO / "Cargo.toml").read_text(encoding="utf-8"))
    minimum = workspace["workspace"]["package"]["rust-version"]
    as_tuple = lambda v: tuple(int(p) for p in v.split("."))  # noqa: E731
    assert as_tuple(toolchain["channel"]) >= as_tuple(minimum)
    # sam build cross-compiles for arm64.
    assert "aarch64-unknown-linux-gnu" in toolchain.get("targets", [])


def test_build_job_caches_cargo_and_audits_live_before_building():
    steps = JOBS["build"]["steps"]
    names = [s.get("uses", s.get("run", "")) for s in steps]
    cache = next(i for i, n in enumerate(names) if n.startswith("actions/cache@"))
    audit = next(i for i, n in enumerate(names) if "scripts/audit.sh --live" in n)
    build = next(i for i, n in enumerate(names) if "sam build" in n)
    assert cache < audit < build
    assert "target" in steps[cache]["with"]["path"] and "Cargo.lock" in steps[cache]["with"]["key"]
    audit_script = (REPO / "scripts/audit.sh").read_text(encoding="utf-8")
    live = audit_script[audit_script.index('"--live"'):]
    assert "--no-fetch" not in live.split("fi", 1)[0], "the live audit must fetch the database"


def test_build_job_holds_the_readme_zip_table_to_the_optimised_build_it_made():
    # make test's sam build is unoptimised (scripts/check-infra.sh): the sizes the README states
    # are checked here, on the release-profile build that deploys, before it is handed on.
    steps = JOBS["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    build = next(i for i, r in enumerate(runs) if "sam build" in r)
    check = next(i for i, r in enumerate(runs) if "scripts/check-zip-table.py" in r)
    upload = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert build < check < upload
    assert "CARGO_PROFILE" not in runs[build] and "CARGO_PROFILE" not in str(steps[build].get("env", {}))


def test_staging_deploys_from_main_only_with_the_region_a_variable_and_smokes_before_prod():
    for name in ("staging", "prod"):
        job = JOBS[name]
        assert job["if"] == "github.ref == 'refs/heads/main'", name
        assert job["env"]["AWS_REGION"] == "${{ vars.AWS_REGION }}", name
        runs = " ".join(s.get("run", "") for s in job["steps"])
        assert "ap-northeast-1" not in runs, f"{name}: a hard-coded region"
        assert '--region "$AWS_REGION"' in runs
    assert JOBS["prod"]["needs"] == "staging"
    staging_runs = [s.get("run", "") for s in JOBS["staging"]["steps"]]
    deploy = next(i for i, r in enumerate(staging_runs) if "sam deploy" in r)
    smoke = next(i for i, r in enumerate(staging_runs) if "make smoke" in r)
    assert deploy < smoke
    assert "continue-on-error" not in JOBS["staging"]["steps"][smoke]
