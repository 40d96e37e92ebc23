from __future__ import annotations

from sentry_release.ci import detect_ci


def test_github_actions_facts() -> None:
    facts = detect_ci({
        "GITHUB_ACTIONS": "true", "GITHUB_SHA": "abc", "GITHUB_REF": "refs/heads/feature/x",
        "GITHUB_REF_NAME": "feature/x", "GITHUB_RUN_ID": "99", "GITHUB_RUN_NUMBER": "7",
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_ENV": "/runner/env", "GITHUB_OUTPUT": "/runner/out",
    })
    assert (facts.provider, facts.sha, facts.branch, facts.build) == ("github", "abc", "feature/x", "7")
    assert facts.run_url == "https://github.com/acme/shop/actions/runs/99"
    assert facts.deploy_name == "github-99"
    assert (facts.github_env, facts.github_output, facts.github_summary) == ("/runner/env", "/runner/out", None)


def test_github_tag_build_has_no_branch() -> None:
    facts = detect_ci({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/tags/v1.2.0", "GITHUB_REF_NAME": "v1.2.0"})
    assert facts.branch is None


def test_gitlab_facts() -> None:
    facts = detect_ci({
        "GITLAB_CI": "true", "CI_COMMIT_SHA": "def", "CI_COMMIT_BRANCH": "main", "CI_PIPELINE_ID": "1234",
        "CI_PIPELINE_IID": "56", "CI_PIPELINE_URL": "https://gitlab.example.com/acme/shop/-/pipelines/1234",
        "CI_PIPELINE_CREATED_AT": "2024-01-16T10:00:00Z", "CI_ENVIRONMENT_NAME": "production",
        "CI_ENVIRONMENT_URL": "https://shop.example.com",
    })
    assert (facts.provider, facts.sha, facts.branch, facts.build) == ("gitlab", "def", "main", "56")
    assert facts.deploy_name == "gitlab-1234"
    assert (facts.environment, facts.environment_url) == ("production", "https://shop.example.com")
    assert facts.pipeline_created_at == "2024-01-16T10:00:00Z"


def test_no_ci() -> None:
    facts = detect_ci({"CI": "true"})
    assert facts.provider is None and facts.deploy_name is None
