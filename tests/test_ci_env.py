"""What each CI system's environment says about the current run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timetravel.domain.ci_env import (
    DetectedRun,
    PipelineRun,
    Target,
    detect_run,
    normalize_service_account,
    normalize_status,
    parse_target,
)

SHA = "3f2c9e1d5b7a4c2e8f0a1b3c5d7e9f1a2b4c6d8e"

GITHUB = {
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_WORKFLOW": "deploy-prod",
    "GITHUB_RUN_ID": "7712345",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_SERVER_URL": "https://github.example.com",
    "GITHUB_REPOSITORY": "acme/payments-gitops",
    "GITHUB_SHA": SHA,
    "GITHUB_ACTOR": "alice",
}
GITLAB = {
    "CI": "true",
    "GITLAB_CI": "true",
    "CI_PIPELINE_ID": "90210",
    "CI_PROJECT_PATH": "acme/payments-gitops",
    "CI_PIPELINE_URL": "https://gitlab.example.com/acme/payments-gitops/-/pipelines/90210",
    "CI_COMMIT_SHA": SHA,
    "GITLAB_USER_LOGIN": "bob",
    "CI_PIPELINE_CREATED_AT": "2026-11-19T21:25:00Z",
}
JENKINS = {
    "JENKINS_URL": "https://jenkins.example.com/",
    "JOB_NAME": "payments/deploy-prod",
    "BUILD_NUMBER": "118",
    "BUILD_ID": "118",
    "BUILD_URL": "https://jenkins.example.com/job/payments/job/deploy-prod/118/",
    "GIT_COMMIT": SHA,
    "BUILD_USER_ID": "carol",
}


def test_github_actions() -> None:
    assert detect_run(GITHUB) == DetectedRun(
        provider="github-actions",
        pipeline="deploy-prod",
        run_id="7712345",
        url="https://github.example.com/acme/payments-gitops/actions/runs/7712345",
        commit=SHA,
        actor="alice",
    )


def test_github_actions_rerun_is_its_own_run() -> None:
    run = detect_run({**GITHUB, "GITHUB_RUN_ATTEMPT": "2", "GITHUB_TRIGGERING_ACTOR": "dave"})
    assert run is not None
    assert run.run_id == "7712345-attempt-2"
    assert (
        run.url == "https://github.example.com/acme/payments-gitops/actions/runs/7712345/attempts/2"
    )
    assert run.actor == "dave"


def test_github_actions_default_server() -> None:
    env = {k: v for k, v in GITHUB.items() if k != "GITHUB_SERVER_URL"}
    run = detect_run(env)
    assert run is not None and run.url is not None
    assert run.url.startswith("https://github.com/acme/")


def test_gitlab_ci() -> None:
    run = detect_run({**GITLAB, "CI_JOB_STATUS": "canceled"})
    assert run == DetectedRun(
        provider="gitlab-ci",
        pipeline="acme/payments-gitops",
        run_id="90210",
        url=GITLAB["CI_PIPELINE_URL"],
        commit=SHA,
        actor="bob",
        started_at=datetime(2026, 11, 19, 21, 25, tzinfo=UTC),
        status="cancelled",
    )


def test_gitlab_bad_created_at_is_ignored() -> None:
    run = detect_run({**GITLAB, "CI_PIPELINE_CREATED_AT": "last tuesday"})
    assert run is not None and run.started_at is None and run.run_id == "90210"


def test_jenkins() -> None:
    assert detect_run(JENKINS) == DetectedRun(
        provider="jenkins",
        pipeline="payments/deploy-prod",
        run_id="118",
        url=JENKINS["BUILD_URL"],
        commit=SHA,
        actor="carol",
    )
    only_id = {k: v for k, v in JENKINS.items() if k not in ("BUILD_NUMBER", "BUILD_USER_ID")}
    run = detect_run({**only_id, "BUILD_ID": "2026-11-19_21-30-00"})
    assert run is not None
    assert (run.run_id, run.actor) == ("2026-11-19_21-30-00", None)
    # JENKINS_URL alone (a tool configured to talk to Jenkins) is not a build.
    assert detect_run({"JENKINS_URL": "https://jenkins.example.com/"}) is None


def test_tekton_from_exported_variables() -> None:
    run = detect_run(
        {
            "TEKTON_PIPELINE_RUN": "deploy-prod-run-x7k2p",
            "TEKTON_PIPELINE": "deploy-prod",
            "TEKTON_NAMESPACE": "ci",
            "TEKTON_DASHBOARD_URL": "https://tekton.example.com/",
            "TEKTON_COMMIT": SHA,
            "TEKTON_SERVICE_ACCOUNT": "deployer",
            "TEKTON_STATUS": "Succeeded",
        }
    )
    assert run == DetectedRun(
        provider="tekton",
        pipeline="deploy-prod",
        run_id="deploy-prod-run-x7k2p",
        url="https://tekton.example.com/#/namespaces/ci/pipelineruns/deploy-prod-run-x7k2p",
        commit=SHA,
        status="success",
        service_account="system:serviceaccount:ci:deployer",
    )


def test_argo_workflows() -> None:
    run = detect_run(
        {
            "ARGO_WORKFLOW_NAME": "deploy-q9z8w",
            "ARGO_WORKFLOW_UID": "0d2a5e0c-0000-4000-8000-000000000001",
            "ARGO_WORKFLOW_NAMESPACE": "argo",
            "ARGO_SERVER_URL": "https://argo.example.com",
            "ARGO_WORKFLOW_TEMPLATE": "deploy",
            "ARGO_SERVICE_ACCOUNT": "system:serviceaccount:argo:deployer",
        }
    )
    assert run == DetectedRun(
        provider="argo-workflows",
        pipeline="deploy",
        run_id="deploy-q9z8w",
        url="https://argo.example.com/workflows/argo/deploy-q9z8w",
        service_account="system:serviceaccount:argo:deployer",
    )
    # The executor sets the name alone: the run is known, the pipeline must be given.
    bare = detect_run({"ARGO_WORKFLOW_NAME": "deploy-q9z8w"})
    assert bare is not None and bare.pipeline is None and bare.run_id == "deploy-q9z8w"


@pytest.mark.parametrize(
    ("env", "provider", "run_id", "url"),
    [
        (
            {
                "TF_BUILD": "True",
                "BUILD_DEFINITIONNAME": "deploy",
                "BUILD_BUILDID": "55",
                "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
                "SYSTEM_TEAMPROJECT": "payments",
                "BUILD_SOURCEVERSION": SHA,
            },
            "azure-pipelines",
            "55",
            "https://dev.azure.com/acme/payments/_build/results?buildId=55",
        ),
        (
            {
                "BUILDKITE": "true",
                "BUILDKITE_PIPELINE_SLUG": "deploy",
                "BUILDKITE_BUILD_NUMBER": "12",
                "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/deploy/builds/12",
                "BUILDKITE_COMMIT": SHA,
            },
            "buildkite",
            "12",
            "https://buildkite.com/acme/deploy/builds/12",
        ),
        (
            {
                "CIRCLECI": "true",
                "CIRCLE_PROJECT_USERNAME": "acme",
                "CIRCLE_PROJECT_REPONAME": "payments",
                "CIRCLE_WORKFLOW_ID": "wf-1",
                "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/payments/9",
                "CIRCLE_SHA1": SHA,
            },
            "circleci",
            "wf-1",
            "https://circleci.com/gh/acme/payments/9",
        ),
    ],
)
def test_other_hosted_ci(env: dict[str, str], provider: str, run_id: str, url: str) -> None:
    run = detect_run(env)
    assert run is not None
    assert (run.provider, run.run_id, run.url, run.commit) == (provider, run_id, url, SHA)
    assert run.pipeline


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"CI": "true"},
        {"CI": "true", "GITHUB_ACTIONS": "false", "GITHUB_RUN_ID": "1"},
        {"GITLAB_CI": ""},
        {"TEKTON_PIPELINE_RUN": "  "},
    ],
)
def test_nothing_detected(env: dict[str, str]) -> None:
    assert detect_run(env) is None


def test_hosted_ci_wins_over_user_set_variables() -> None:
    run = detect_run({**GITHUB, "ARGO_WORKFLOW_NAME": "stale"})
    assert run is not None and run.provider == "github-actions"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("SUCCESS", "success"),
        ("Succeeded", "success"),
        ("passed", "success"),
        ("FAILURE", "failed"),
        ("canceled", "cancelled"),
        ("ABORTED", "cancelled"),
        ("in_progress", "running"),
        ("UNSTABLE", "unstable"),
        ("  Waiting ", "waiting"),
    ],
)
def test_normalize_status(given: str, expected: str) -> None:
    assert normalize_status(given) == expected


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Deployment/payments/api", Target("Deployment", "payments", "api")),
        ("deployment.apps/payments/api", Target("deployment.apps", "payments", "api")),
        ("ClusterRole/system:kube-aggregator", Target("ClusterRole", "", "system:kube-aggregator")),
        ("ConfigMap/payments/*", Target("ConfigMap", "payments", "*")),
        ("Namespace/payments", Target("Namespace", "", "payments")),
    ],
)
def test_parse_target(text: str, target: Target) -> None:
    assert parse_target(text) == target
    assert parse_target(str(target)) == target  # the stored form reads back


@pytest.mark.parametrize(
    "text",
    [
        "api",
        "Deployment/payments/api/extra",
        "Deployment//api",
        "9Deployment/payments/api",
        "Deployment/Payments/api",
        "Deployment/payments/",
        "Deployment/payments/my api",
        "Deploy-ment/payments/api",
    ],
)
def test_parse_target_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_target(text)


def test_target_matches() -> None:
    assert parse_target("deployment.apps/payments/api").matches("Deployment", "payments", "api")
    assert not parse_target("Deployment/payments/api").matches("Deployment", "shop", "api")
    assert parse_target("ConfigMap/payments/*").matches("ConfigMap", "payments", "settings")
    assert not parse_target("ConfigMap/payments/*").matches("Secret", "payments", "settings")
    assert parse_target("ClusterRole/admin").matches("ClusterRole", "", "admin")


def test_normalize_service_account() -> None:
    assert normalize_service_account("ci/deployer") == "system:serviceaccount:ci:deployer"
    assert normalize_service_account("system:serviceaccount:ci:deployer") == (
        "system:serviceaccount:ci:deployer"
    )
    arn = "arn:aws:iam::123456789012:role/deployer"
    assert normalize_service_account(arn) == arn


def test_record_window_and_json() -> None:
    record = PipelineRun(
        id=1,
        provider="jenkins",
        pipeline="deploy",
        run_id="7",
        url=None,
        commit=SHA,
        status="success",
        actor=None,
        started_at=None,
        finished_at="2026-11-19T21:40:00.000000Z",
        targets=(),
        service_account=None,
        reported_at="2026-11-19T21:41:00.000000Z",
        source="record-run",
    )
    assert record.window == ("2026-11-19T21:40:00.000000Z", "2026-11-19T21:40:00.000000Z")
    assert record.to_json()["finished_at"] == "2026-11-19T21:40:00Z"
    assert record.to_json()["started_at"] is None
