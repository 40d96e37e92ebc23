from gitrepo import GitRepo


def test_repo_helper_makes_real_commits(repo: GitRepo) -> None:
    sha = repo.commit("first", {"a.txt": "a"})
    assert len(sha) == 40
    assert repo.git("log", "--format=%s") == "first"
