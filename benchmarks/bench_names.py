"""Benchmark of release identity: a busy history (20 days of 3-40 main-line commits, 30 % of them
same-day merges of side branches, tags now and then) and `sentry-release version` at every
first-parent commit. It prints how many distinct names those commits get, with and without the
same-day `.N` suffix, and the time per `version`. Not part of the test suite.

    .venv/bin/python benchmarks/bench_names.py
"""
import os, subprocess, sys, tempfile, time, random
from pathlib import Path

random.seed(7)
root = Path(tempfile.mkdtemp(prefix="wtgit-busy-"))
env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
def git(*a, extra=None):
    return subprocess.run(["git", *a], cwd=root, env={**env, **(extra or {})}, check=True,
                          capture_output=True, text=True).stdout.strip()
git("init", "-q", "-b", "main")
tree = subprocess.run(["git", "mktree"], cwd=root, input="", text=True, capture_output=True, env=env,
                      check=True).stdout.strip()
def commit(parents, when, msg):
    e = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b",
         "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}
    args = ["commit-tree", tree, "-m", msg]
    for p in parents: args += ["-p", p]
    return git(*args, extra=e)
head = commit([], "2024-03-01T08:00:00+00:00", "root")
git("tag", "v1.0.0", head)
first_parent_count, version_minor = 1, 0
for day in range(1, 21):
    n = random.randint(3, 40)   # commits on main that day
    for i in range(n):
        minute = 8 * 60 + i * 10 + 1
        when = f"2024-03-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00+00:00"
        if random.random() < 0.3:  # a side branch of 1-4 commits merged the same day
            side = head
            for k in range(random.randint(1, 4)):
                side = commit([side], when, f"side {day} {i} {k}")
            head = commit([head, side], when, f"merge {day} {i}")
        else:
            head = commit([head], when, f"main {day} {i}")
        if random.random() < 0.02:
            version_minor += 1
            git("tag", f"v1.{version_minor}.0", head)
git("update-ref", "refs/heads/main", head)
git("reset", "-q", "--hard", "main")
line = git("rev-list", "--first-parent", "HEAD").split()
total = int(git("rev-list", "--count", "HEAD"))
cli = [str(Path(sys.executable).parent / "sentry-release"), "version"]
names, started = {}, time.time()
for sha in line:
    git("checkout", "-q", "--detach", sha)
    out = subprocess.run(cli, cwd=root, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    names[sha] = out.stdout.strip()
elapsed = time.time() - started
plain = {n.split("-")[0] + "-" + n.split("-")[1].split(".")[0] for n in names.values()}
print(f"{total} commits, {len(line)} on the first-parent line, {len(set(names.values()))} distinct names "
      f"(without the .N suffix: {len(plain)}); {elapsed / len(line) * 1000:.0f} ms per `version`")
print("busiest:", max(names.values(), key=lambda n: int(n.rsplit('.', 1)[1]) if n.count('.') > 2 else 1))
print("first-parent commits per day, max:", max(sum(1 for s in line if names[s].split('-')[1].split('.')[0] == d) for d in {n.split('-')[1].split('.')[0] for n in names.values()}))
