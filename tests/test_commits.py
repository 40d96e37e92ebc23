"""commits.py on real git repositories: URL matching, specs, streamed local history, shallow clones."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gitrepo import GitRepo
from sentry_release.commits import collect_local_commits, parse_commit_spec
from sentry_release.errors import GitError, UsageError
from sentry_release.git import Repository
from sentry_release.remotes import KNOWN_PROVIDERS, match_repository, normalize_remote_url, repository_name_from_remote

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


# ------------------------------------------------------------------------------------------
# helpers


def day(n: int) -> str:
    """Distinct, increasing commit dates so history order is unambiguous."""
    return (datetime(2024, 1, 1, 10, tzinfo=timezone.utc) + timedelta(days=n - 1)).isoformat()


def commit_staged(repo: GitRepo, message: str, date: str) -> str:
    dated = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    repo.git("commit", "-q", "--allow-empty", "-m", message, env=dated)
    return repo.head()


def diff_tree(repo: GitRepo, sha: str) -> set[tuple[str, str]]:
    """What git itself says a commit changed against its own first parent (root: empty tree)."""
    parents = repo.git("rev-list", "--parents", "-n", "1", sha).split()[1:]
    if parents:
        out = repo.git("diff-tree", "-z", "--no-renames", "-r", "--name-status", parents[0], sha)
    else:
        out = repo.git("diff-tree", "-z", "--root", "--no-renames", "-r", "--name-status", sha)
    tokens = [t for t in out.split("\0") if t]
    if not parents:
        tokens = tokens[1:] if tokens and len(tokens[0]) >= 40 else tokens  # leading commit id
    pairs = zip(tokens[0::2], tokens[1::2])
    return {({"T": "M"}.get(status, status), path) for status, path in pairs}


def patch_set_of(commit: dict) -> set[tuple[str, str]]:
    return {(change["type"], change["path"]) for change in commit["patch_set"]}


def rev_list(repo: GitRepo, revision_range: str) -> list[str]:
    return repo.git("rev-list", revision_range).split()


def linear_history(repo: GitRepo, count: int) -> list[str]:
    """`count` commits, each changing its own file; returns shas oldest first."""
    return [repo.commit(f"change {i}", {f"f{i}.txt": str(i)}, date=day(i + 1)) for i in range(count)]


@pytest.fixture
def upstream(tmp_path: Path) -> GitRepo:
    return GitRepo.init(tmp_path / "upstream")


# ------------------------------------------------------------------------------------------
# remote URLs


@pytest.mark.parametrize(
    "url, expected",
    [
        ("git@github.com:acme/shop.git", ("github.com", "acme/shop")),
        ("git@github.com:Acme/Shop.git", ("github.com", "acme/shop")),
        ("https://github.com/acme/shop", ("github.com", "acme/shop")),
        ("https://github.com/acme/shop/", ("github.com", "acme/shop")),
        ("https://GitHub.com/ACME/shop.git", ("github.com", "acme/shop")),
        ("https://token:x-oauth@github.com/acme/shop.git", ("github.com", "acme/shop")),
        ("http://github.com:80/acme/shop.git", ("github.com", "acme/shop")),
        ("ssh://git@github.com/acme/shop.git", ("github.com", "acme/shop")),
        ("ssh://git@github.com:22/acme/shop", ("github.com", "acme/shop")),
        ("git://github.com/acme/shop.git", ("github.com", "acme/shop")),
        ("git+https://x@github.com/acme/shop.git", ("github.com", "acme/shop")),
        ("git+ssh://git@github.com/acme/shop.git", ("github.com", "acme/shop")),
        ("  git@github.com:acme/shop.git\n", ("github.com", "acme/shop")),
        ("git@github.mycompany.com:acme/shop.git", ("github.mycompany.com", "acme/shop")),
        # self-hosted GitLab: ssh on port 2222, nested subgroups kept
        ("ssh://git@gitlab.acme.internal:2222/acme/shop.git", ("gitlab.acme.internal", "acme/shop")),
        ("https://gitlab.acme.internal/acme/shop", ("gitlab.acme.internal", "acme/shop")),
        ("git@gitlab.com:group/sub/repo.git", ("gitlab.com", "group/sub/repo")),
        ("https://gitlab.com/Group/Sub/Repo", ("gitlab.com", "group/sub/repo")),
        ("ssh://git@gitlab.acme.internal:2222/group/sub/deeper/repo.git",
         ("gitlab.acme.internal", "group/sub/deeper/repo")),
        # Bitbucket Cloud and Server
        ("git@bitbucket.org:acme/shop.git", ("bitbucket.org", "acme/shop")),
        ("https://user@bitbucket.org/acme/shop.git", ("bitbucket.org", "acme/shop")),
        ("https://bitbucket.acme.com/projects/PRJ/repos/shop/browse", ("bitbucket.acme.com", "prj/shop")),
        ("https://bitbucket.acme.com/scm/prj/shop.git", ("bitbucket.acme.com", "prj/shop")),
        ("ssh://git@bitbucket.acme.com:7999/prj/shop.git", ("bitbucket.acme.com", "prj/shop")),
        # Azure DevOps
        ("git@ssh.dev.azure.com:v3/Org/Proj/Repo", ("dev.azure.com", "org/proj/_git/repo")),
        ("https://Org@dev.azure.com/Org/Proj/_git/Repo", ("dev.azure.com", "org/proj/_git/repo")),
        ("https://dev.azure.com/org/proj/_git/repo", ("dev.azure.com", "org/proj/_git/repo")),
        ("https://org.visualstudio.com/Proj/_git/Repo", ("dev.azure.com", "org/proj/_git/repo")),
        ("https://org.visualstudio.com/DefaultCollection/Proj/_git/Repo",
         ("dev.azure.com", "org/proj/_git/repo")),
        ("org@vs-ssh.visualstudio.com:v3/org/Proj/Repo", ("dev.azure.com", "org/proj/_git/repo")),
        ("https://org.visualstudio.com/_git/Repo", ("dev.azure.com", "org/repo/_git/repo")),
    ],
)
def test_normalize_remote_url(url: str, expected: tuple[str, str]) -> None:
    assert normalize_remote_url(url) == expected


@pytest.mark.parametrize("url", ["", "/srv/git/shop.git", "file:///srv/git/shop.git", "../shop", "github.com"])
def test_unparseable_remote_urls_give_none(url: str) -> None:
    assert normalize_remote_url(url) is None
    assert repository_name_from_remote(url) is None


@pytest.mark.parametrize(
    "url, name",
    [
        ("git@github.com:Acme/Shop.git", "Acme/Shop"),
        ("https://github.com/acme/shop", "acme/shop"),
        ("ssh://git@gitlab.acme.internal:2222/group/sub/repo.git", "group/sub/repo"),
        ("git@ssh.dev.azure.com:v3/Org/Proj/Repo", "Org/Proj/Repo"),
    ],
)
def test_repository_name_from_remote_keeps_case(url: str, name: str) -> None:
    assert repository_name_from_remote(url) == name


def test_remote_url_reads_the_named_remote(repo: GitRepo) -> None:
    repo.git("remote", "add", "origin", "git@github.com:acme/shop.git")
    repo.git("remote", "add", "upstream", "https://github.com/acme/upstream")
    assert Repository(repo.path).remote_url() == "git@github.com:acme/shop.git"
    assert Repository(repo.path).remote_url("upstream") == "https://github.com/acme/upstream"
    assert Repository(repo.path).remote_url("missing") is None


# ------------------------------------------------------------------------------------------
# repository matching


def sentry_repo(name: str, url: str | None, provider: str | None, status: str = "active", id_: str = "1") -> dict:
    return {
        "id": id_, "name": name, "url": url, "status": status,
        "provider": {"id": provider, "name": str(provider)} if provider is not None else None,
    }


def test_known_providers_exclude_unknown_and_empty() -> None:
    assert {"integrations:github", "integrations:gitlab", "integrations:vsts", "github"} <= KNOWN_PROVIDERS
    assert None not in KNOWN_PROVIDERS and "" not in KNOWN_PROVIDERS and "unknown" not in KNOWN_PROVIDERS


def test_match_repository_skips_repos_without_a_real_provider() -> None:
    by_name_only = sentry_repo("acme/shop", None, None, id_="1")
    unknown = sentry_repo("acme/shop", "https://github.com/acme/shop", "unknown", id_="2")
    empty = sentry_repo("acme/shop", "https://github.com/acme/shop", "", id_="3")
    real = sentry_repo("acme/shop", "https://github.com/acme/shop", "integrations:github", id_="4")
    remote = "git@github.com:Acme/Shop.git"
    assert match_repository(remote, [by_name_only, unknown, empty]) is None
    assert match_repository(remote, [by_name_only, unknown, empty, real]) is real


def test_match_repository_skips_inactive_repos() -> None:
    disabled = sentry_repo("acme/shop", "https://github.com/acme/shop", "integrations:github", status="disabled")
    assert match_repository("git@github.com:acme/shop.git", [disabled]) is None


def test_match_repository_needs_same_host_and_path() -> None:
    repos = [
        sentry_repo("acme/shop", "https://github.mycompany.com/acme/shop", "integrations:github_enterprise"),
        sentry_repo("acme/shop-api", "https://github.com/acme/shop-api", "integrations:github"),
    ]
    assert match_repository("git@github.com:acme/shop.git", repos) is None


def test_match_repository_gitlab_name_with_spaces_matches_by_url() -> None:
    gitlab = sentry_repo("acme / shop", "https://gitlab.acme.internal/acme/shop", "integrations:gitlab")
    matched = match_repository("ssh://git@gitlab.acme.internal:2222/acme/shop.git", [gitlab])
    assert matched is gitlab and matched["name"] == "acme / shop"


def test_match_repository_azure_ssh_remote() -> None:
    vsts = sentry_repo("Proj/Repo", "https://org.visualstudio.com/Proj/_git/Repo", "integrations:vsts")
    assert match_repository("git@ssh.dev.azure.com:v3/org/Proj/Repo", [vsts]) is vsts


def test_match_repository_unparseable_remote() -> None:
    repos = [sentry_repo("acme/shop", "https://github.com/acme/shop", "integrations:github")]
    assert match_repository("/srv/shop.git", repos) is None


# ------------------------------------------------------------------------------------------
# --commit specs


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("acme/shop@bddf357", {"repository": "acme/shop", "commit": "bddf357", "previousCommit": None}),
        ("acme/shop@a1..b2", {"repository": "acme/shop", "commit": "b2", "previousCommit": "a1"}),
        ("acme / shop@" + "a" * 64, {"repository": "acme / shop", "commit": "a" * 64, "previousCommit": None}),
    ],
)
def test_parse_commit_spec(spec: str, expected: dict) -> None:
    assert parse_commit_spec(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["acme/shop", "acme/shop@", "@abc", "acme/shop@..abc", "acme/shop@abc..", "acme/shop@a...b", "acme/shop@v1..2..abc",
     "acme/shop@" + "a" * 65, "acme/shop@" + "a" * 65 + "..abc", "r" * 201 + "@abc"],
)
def test_parse_commit_spec_rejects(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_commit_spec(spec)


# ------------------------------------------------------------------------------------------
# local history: patch sets


@pytest.fixture
def branchy(repo: GitRepo) -> GitRepo:
    """Rename, delete, and a feature branch merged with --no-ff while main moved on."""
    repo.commit("root", {"app.py": "v1\n", "old_name.py": "x\n" * 20, "doomed.txt": "bye"}, date=day(1))
    repo.git("mv", "old_name.py", "new_name.py")
    commit_staged(repo, "rename", day(2))
    repo.commit("delete", {"doomed.txt": None}, date=day(3))
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit("feature 1", {"feature.py": "f1", "dir with space/ünïcode.txt": "u"}, date=day(4))
    repo.commit("feature 2", {"feature.py": "f2", "app.py": "v1\nfeature\n"}, date=day(6))
    repo.git("checkout", "-q", "main")
    repo.commit("main moves on", {"other.py": "o"}, date=day(5))
    dated = {"GIT_AUTHOR_DATE": day(7), "GIT_COMMITTER_DATE": day(7)}
    repo.git("merge", "-q", "--no-ff", "feature", "-m", "Merge feature", env=dated)
    repo.commit("after merge", {"app.py": "v2\nfeature\n"}, date=day(8))
    return repo


def test_every_patch_set_is_against_the_commits_own_first_parent(branchy: GitRepo) -> None:
    result = collect_local_commits(branchy.path, previous=None, repository="acme/shop", initial_depth=50)
    assert [c["id"] for c in result.commits] == rev_list(branchy, "HEAD")
    for commit in result.commits:
        assert patch_set_of(commit) == diff_tree(branchy, commit["id"]), commit["message"]
    by_message = {c["message"]: c for c in result.commits}
    assert patch_set_of(by_message["rename"]) == {("D", "old_name.py"), ("A", "new_name.py")}
    assert patch_set_of(by_message["delete"]) == {("D", "doomed.txt")}
    assert patch_set_of(by_message["Merge feature"]) == {
        ("A", "feature.py"), ("A", "dir with space/ünïcode.txt"), ("M", "app.py"),
    }
    # a real root commit is legitimately "everything added"
    assert patch_set_of(by_message["root"]) == {("A", "app.py"), ("A", "old_name.py"), ("A", "doomed.txt")}


def test_commit_fields(branchy: GitRepo) -> None:
    result = collect_local_commits(branchy.path, previous=None, repository="acme/shop", initial_depth=50)
    newest = result.commits[0]
    assert newest["id"] == branchy.head() and len(newest["id"]) == 40
    assert newest["repository"] == "acme/shop"
    assert newest["author_name"] == "Test Author"
    assert newest["author_email"] == "author@example.com"
    assert newest["timestamp"] == "2024-01-08T10:00:00+00:00"
    assert newest["message"] == "after merge"
    for commit in result.commits:
        assert ISO_WITH_OFFSET.match(commit["timestamp"])
        assert set(commit) <= {"id", "repository", "author_name", "author_email", "timestamp", "message", "patch_set"}
        assert all(change["type"] in {"A", "M", "D"} for change in commit["patch_set"])


def test_timestamp_keeps_the_author_offset_and_is_present_everywhere(repo: GitRepo) -> None:
    repo.commit("one", date="2024-03-01T12:00:00+02:00")
    repo.commit("two", date="2024-03-02T08:30:00-05:30")
    commits = collect_local_commits(repo.path, previous=None, repository="r").commits
    assert [c["timestamp"] for c in commits] == ["2024-03-02T08:30:00-05:30", "2024-03-01T12:00:00+02:00"]


def test_empty_message_is_omitted_not_null(repo: GitRepo) -> None:
    repo.commit("first", date=day(1))
    repo.write("file.txt", "changed")
    repo.git("add", "file.txt")
    repo.git("commit", "-q", "--allow-empty-message", "-m", "")
    commits = collect_local_commits(repo.path, previous=None, repository="r").commits
    assert "message" not in commits[0]
    assert commits[1]["message"] == "first"


def test_full_multiline_message(repo: GitRepo) -> None:
    repo.commit("Subject line\n\nBody paragraph.\n\nFixes SHOP-1 #skipsentry-not", date=day(1))
    commit = collect_local_commits(repo.path, previous=None, repository="r").commits[0]
    assert commit["message"] == "Subject line\n\nBody paragraph.\n\nFixes SHOP-1 #skipsentry-not"


def write_raw_commit(repo: GitRepo, author: bytes, message: bytes) -> str:
    """A commit object with bytes that are not UTF-8 and no encoding header, made without porcelain."""
    tree = repo.git("rev-parse", "HEAD^{tree}")
    parent = repo.head()
    body = (
        f"tree {tree}\nparent {parent}\n".encode()
        + b"author " + author + b" 1705400000 +0100\n"
        + b"committer " + author + b" 1705400000 +0100\n\n"
        + message
    )
    sha = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo.path, input=body,
        capture_output=True, check=True,
    ).stdout.decode().strip()
    repo.git("update-ref", "HEAD", sha)
    return sha


def test_non_utf8_author_and_message_are_decoded_with_replacement(repo: GitRepo) -> None:
    repo.commit("first", date=day(1))
    sha = write_raw_commit(repo, b"J\xf6rg M\xfcller <jm@example.com>", b"Caf\xe9 fix\n")
    commit = collect_local_commits(repo.path, previous=None, repository="r").commits[0]
    assert commit["id"] == sha
    assert commit["author_name"] == "J\ufffdrg M\ufffdller"
    assert commit["author_email"] == "jm@example.com"
    assert commit["message"] == "Caf\ufffd fix"
    assert commit["timestamp"] == "2024-01-16T11:13:20+01:00"


def test_missing_author_email_is_omitted(repo: GitRepo) -> None:
    repo.commit("first", date=day(1))
    write_raw_commit(repo, b"Nobody <>", b"anonymous\n")
    commit = collect_local_commits(repo.path, previous=None, repository="r").commits[0]
    assert "author_email" not in commit and commit["author_name"] == "Nobody"


def test_long_author_fields_are_truncated(repo: GitRepo) -> None:
    repo.commit("first", date=day(1))
    write_raw_commit(repo, ("é" * 200).encode() + b" <" + b"a" * 250 + b"@example.com>", b"long\n")
    commit = collect_local_commits(repo.path, previous=None, repository="r").commits[0]
    assert commit["author_name"] == "é" * 128
    assert len(commit["author_email"]) == 200


def test_paths_longer_than_sentry_allows_are_dropped_with_a_note(repo: GitRepo) -> None:
    long_path = "/".join(["d" * 200, "e" * 200, "f" * 200 + ".txt"])
    repo.commit("long", {long_path: "x", "short.txt": "y"}, date=day(1))
    result = collect_local_commits(repo.path, previous=None, repository="r")
    assert patch_set_of(result.commits[0]) == {("A", "short.txt")}
    assert any("510" in note for note in result.notes)


def test_repository_name_longer_than_64_is_a_usage_error(repo: GitRepo) -> None:
    repo.commit("first", date=day(1))
    with pytest.raises(UsageError, match="64"):
        collect_local_commits(repo.path, previous=None, repository="r" * 65)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError):
        collect_local_commits(tmp_path, previous=None, repository="r")


# ------------------------------------------------------------------------------------------
# ranges


def test_first_release_takes_the_initial_depth(repo: GitRepo) -> None:
    shas = linear_history(repo, 30)
    result = collect_local_commits(repo.path, previous=None, repository="acme/shop", initial_depth=5)
    assert [c["id"] for c in result.commits] == shas[::-1][:5]
    assert result.previous is None
    # the oldest of the five is still diffed against its own (local) parent, not the whole tree
    assert patch_set_of(result.commits[-1]) == {("A", "f25.txt")}
    assert any("newest 5" in note for note in result.notes)


def test_first_release_of_a_short_history_includes_the_root(repo: GitRepo) -> None:
    shas = linear_history(repo, 3)
    result = collect_local_commits(repo.path, previous=None, repository="r")
    assert [c["id"] for c in result.commits] == shas[::-1]


def test_second_release_is_exactly_the_range(branchy: GitRepo) -> None:
    previous = branchy.git("rev-parse", ":/delete")
    branchy.commit("after release", {"late.py": "l"}, date=day(9))
    result = collect_local_commits(branchy.path, previous=previous, repository="acme/shop", initial_depth=1)
    assert [c["id"] for c in result.commits] == rev_list(branchy, f"{previous}..HEAD")
    assert {c["message"] for c in result.commits} == {
        "after release", "after merge", "Merge feature", "main moves on", "feature 2", "feature 1",
    }
    assert result.previous == previous
    for commit in result.commits:
        assert patch_set_of(commit) == diff_tree(branchy, commit["id"])


def test_previous_given_as_short_sha(repo: GitRepo) -> None:
    shas = linear_history(repo, 6)
    result = collect_local_commits(repo.path, previous=shas[2][:10], repository="r")
    assert result.previous == shas[2]
    assert [c["id"] for c in result.commits] == shas[:2:-1]


def test_previous_equal_to_head_gives_no_commits(repo: GitRepo) -> None:
    shas = linear_history(repo, 3)
    result = collect_local_commits(repo.path, previous=shas[-1], repository="r")
    assert result.commits == [] and result.previous == shas[-1]


def test_range_uses_one_git_log_process(branchy: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    linear_history(branchy, 40)
    previous = branchy.git("rev-parse", ":/root")
    real_popen = subprocess.Popen
    log_calls: list[list[str]] = []

    def counting_popen(args, *rest, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(args, (list, tuple)) and "git" in str(args[0]) and "log" in args:
            log_calls.append(list(args))
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    result = collect_local_commits(branchy.path, previous=previous, repository="r")
    assert len(result.commits) == len(rev_list(branchy, f"{previous}..HEAD")) > 40
    assert len(log_calls) == 1


def test_previous_not_an_ancestor_in_full_clone(repo: GitRepo) -> None:
    linear_history(repo, 3)
    repo.git("checkout", "-q", "-b", "abandoned")
    orphaned = repo.commit("abandoned work", {"x.txt": "x"}, date=day(9))
    repo.git("checkout", "-q", "main")
    with pytest.raises(GitError, match="--ignore-missing"):
        collect_local_commits(repo.path, previous=orphaned, repository="r")
    fallback = collect_local_commits(repo.path, previous=orphaned, repository="r", ignore_missing=True, initial_depth=2)
    assert len(fallback.commits) == 2 and fallback.previous is None
    assert any("ignore-missing" in note for note in fallback.notes)


def test_unknown_previous_in_full_clone(repo: GitRepo) -> None:
    linear_history(repo, 2)
    with pytest.raises(GitError, match="rebased"):
        collect_local_commits(repo.path, previous="f" * 40, repository="r")


# ------------------------------------------------------------------------------------------
# path filter (monorepo)


def test_path_filter_keeps_commits_touching_the_paths_with_full_patch_sets(repo: GitRepo) -> None:
    repo.commit("root", {"services/api/app.py": "1", "services/web/app.js": "1", "README": "r"}, date=day(1))
    root = repo.head()
    repo.commit("api only", {"services/api/app.py": "2"}, date=day(2))
    repo.commit("web only", {"services/web/app.js": "2"}, date=day(3))
    repo.commit("both", {"services/api/app.py": "3", "services/web/app.js": "3"}, date=day(4))
    repo.commit("api-sibling", {"services/api-v2/x.py": "1"}, date=day(5))
    repo.commit("docs", {"README": "r2"}, date=day(6))

    result = collect_local_commits(repo.path, previous=root, repository="r", paths=["services/api"])
    assert [c["message"] for c in result.commits] == ["both", "api only"]
    assert patch_set_of(result.commits[0]) == {("M", "services/api/app.py"), ("M", "services/web/app.js")}

    first = collect_local_commits(repo.path, previous=None, repository="r", paths=["services/web/"], initial_depth=2)
    assert [c["message"] for c in first.commits] == ["both", "web only"]

    from_subdir = collect_local_commits(repo.path / "services", previous=root, repository="r", paths=["api"])
    assert [c["message"] for c in from_subdir.commits] == ["both", "api only"]


def test_path_outside_the_repository(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("root", date=day(1))
    with pytest.raises(UsageError):
        collect_local_commits(repo.path, previous=None, repository="r", paths=[str(tmp_path / "elsewhere")])


# ------------------------------------------------------------------------------------------
# shallow clones


def test_depth_one_first_release_never_lists_the_whole_tree_as_added(upstream: GitRepo, tmp_path: Path) -> None:
    linear_history(upstream, 5)
    clone = upstream.clone(tmp_path / "clone", depth=1)
    result = collect_local_commits(clone.path, previous=None, repository="r")
    assert [c["id"] for c in result.commits] == [upstream.head()]
    assert "patch_set" not in result.commits[0]
    assert "timestamp" in result.commits[0]
    assert any("shallow" in note for note in result.notes)


def test_depth_one_clone_deepens_to_reach_the_previous_release(upstream: GitRepo, tmp_path: Path) -> None:
    shas = linear_history(upstream, 120)
    previous = shas[10]  # 109 commits below HEAD: needs more than one deepening step
    clone = upstream.clone(tmp_path / "clone", depth=1)
    logged: list[str] = []
    result = collect_local_commits(
        clone.path, previous=previous, repository="acme/shop", log=logged.append,
    )
    assert [c["id"] for c in result.commits] == rev_list(upstream, f"{previous}..HEAD")
    assert result.previous == previous
    assert all("patch_set" in c for c in result.commits)
    assert patch_set_of(result.commits[-1]) == {("A", "f11.txt")}
    assert len(logged) >= 2 and all("--deepen" in line or "--unshallow" in line for line in logged)
    assert any("deepened" in note for note in result.notes)


def test_merged_side_branch_crossing_the_shallow_boundary_is_deepened(upstream: GitRepo, tmp_path: Path) -> None:
    upstream.commit("root", {"a": "1"}, date=day(1))
    upstream.git("checkout", "-q", "-b", "feature")
    feature = [upstream.commit(f"feature {i}", {f"feat{i}": "x"}, date=day(2 + i)) for i in range(4)]
    upstream.git("checkout", "-q", "main")
    previous = upstream.commit("released", {"a": "2"}, date=day(10))
    dated = {"GIT_AUTHOR_DATE": day(11), "GIT_COMMITTER_DATE": day(11)}
    upstream.git("merge", "-q", "--no-ff", "feature", "-m", "Merge feature", env=dated)

    clone = upstream.clone(tmp_path / "clone", depth=2)  # previous is local, but feature 0..2 are not
    result = collect_local_commits(clone.path, previous=previous, repository="r")
    assert [c["id"] for c in result.commits] == rev_list(upstream, f"{previous}..HEAD")
    assert set(feature) <= {c["id"] for c in result.commits}
    assert all("patch_set" in c for c in result.commits)


def test_rebased_away_previous_in_shallow_clone(upstream: GitRepo, tmp_path: Path) -> None:
    linear_history(upstream, 4)
    upstream.git("checkout", "-q", "-b", "topic")
    rebased_away = upstream.commit("old release commit", {"gone.txt": "g"}, date=day(20))
    upstream.git("checkout", "-q", "main")
    upstream.git("branch", "-q", "-D", "topic")
    linear_history(upstream, 2)

    clone = upstream.clone(tmp_path / "clone", depth=1)
    with pytest.raises(GitError) as raised:
        collect_local_commits(clone.path, previous=rebased_away, repository="r")
    assert "--ignore-missing" in str(raised.value)

    shallow_again = upstream.clone(tmp_path / "clone2", depth=1)
    result = collect_local_commits(
        shallow_again.path, previous=rebased_away, repository="r", ignore_missing=True, initial_depth=3,
    )
    assert result.previous is None
    assert len(result.commits) == 3
    assert any("ignore-missing" in note for note in result.notes)


def test_shallow_clone_without_deepening_names_the_fix(upstream: GitRepo, tmp_path: Path) -> None:
    shas = linear_history(upstream, 5)
    clone = upstream.clone(tmp_path / "clone", depth=1)
    with pytest.raises(GitError, match="fetch-depth: 0") as raised:
        collect_local_commits(clone.path, previous=shas[0], repository="r", deepen=False)
    assert "GIT_DEPTH: 0" in str(raised.value) and "--ignore-missing" in str(raised.value)


def test_failed_fetch_is_reported_as_missing(upstream: GitRepo, tmp_path: Path) -> None:
    shas = linear_history(upstream, 5)
    clone = upstream.clone(tmp_path / "clone", depth=1)
    clone.git("remote", "set-url", "origin", f"file://{tmp_path / 'gone'}")
    result = collect_local_commits(clone.path, previous=shas[0], repository="r", ignore_missing=True, initial_depth=2)
    assert result.previous is None
    assert any("could not deepen" in note for note in result.notes)
