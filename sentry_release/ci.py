"""Facts about the CI run we are in (GitHub Actions, GitLab CI), read from its environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional


@dataclass(frozen=True)
class CIFacts:
    provider: Optional[str] = None          # "github", "gitlab" or None
    sha: Optional[str] = None
    branch: Optional[str] = None
    run_id: Optional[str] = None            # stays the same when a job is re-run
    run_url: Optional[str] = None
    build: Optional[str] = None             # the human run / pipeline number
    pipeline_created_at: Optional[str] = None
    environment: Optional[str] = None
    environment_url: Optional[str] = None
    github_env: Optional[str] = None        # $GITHUB_ENV, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY
    github_output: Optional[str] = None
    github_summary: Optional[str] = None

    @property
    def deploy_name(self) -> Optional[str]:
        return f"{self.provider}-{self.run_id}" if self.provider and self.run_id else None


def detect_ci(env: Mapping[str, str]) -> CIFacts:
    if env.get("GITHUB_ACTIONS") == "true":
        return _github(env)
    if env.get("GITLAB_CI") == "true":
        return _gitlab(env)
    return CIFacts()


def _github(env: Mapping[str, str]) -> CIFacts:
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository, run_id = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    ref_name = env.get("GITHUB_REF_NAME") or None
    is_tag = (env.get("GITHUB_REF") or "").startswith("refs/tags/")
    return CIFacts(
        provider="github",
        sha=env.get("GITHUB_SHA") or None,
        # On pull requests GITHUB_REF_NAME is "123/merge"; the head branch is what people mean.
        branch=env.get("GITHUB_HEAD_REF") or (None if is_tag else ref_name),
        run_id=run_id,
        run_url=f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else None,
        build=env.get("GITHUB_RUN_NUMBER") or None,
        github_env=env.get("GITHUB_ENV") or None,
        github_output=env.get("GITHUB_OUTPUT") or None,
        github_summary=env.get("GITHUB_STEP_SUMMARY") or None,
    )


def _gitlab(env: Mapping[str, str]) -> CIFacts:
    return CIFacts(
        provider="gitlab",
        sha=env.get("CI_COMMIT_SHA") or None,
        branch=env.get("CI_COMMIT_BRANCH") or env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or None,
        run_id=env.get("CI_PIPELINE_ID") or None,
        run_url=env.get("CI_PIPELINE_URL") or env.get("CI_JOB_URL") or None,
        build=env.get("CI_PIPELINE_IID") or env.get("CI_PIPELINE_ID") or None,
        pipeline_created_at=env.get("CI_PIPELINE_CREATED_AT") or None,
        environment=env.get("CI_ENVIRONMENT_NAME") or None,
        environment_url=env.get("CI_ENVIRONMENT_URL") or None,
    )
