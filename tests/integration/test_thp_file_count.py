"""Issue 22's proof of the registry: the transparent-hugepage knob landed in commits whose subject starts
with "THP:", touching at most 8 product files; issue 27 pins what counts: everything outside tests,
molecule, bench, docs and changelogs (.ci/run, galaxy.yml and meta/runtime.yml count, changelogs/ do not).
docs/adding-a-control.md states the count."""

import re
import subprocess

from playbook_run import PROJECT

NOT_PRODUCT = ("tests/", "molecule/", "bench/", "docs/", "changelogs/")


def git(*args):
    done = subprocess.run(["git", "-C", str(PROJECT)] + list(args), capture_output=True, text=True, check=True)
    return done.stdout


def product_files(paths):
    return sorted(set(path for path in paths if path and not path.startswith(NOT_PRODUCT)))


def thp_files():
    commits = [line.split(" ", 1)[0] for line in git("log", "--format=%H %s", "HEAD").splitlines()
               if line.split(" ", 1)[1].startswith("THP:")]
    assert commits, "no commit whose subject starts with THP: in this history"
    return product_files(path for commit in commits
                         for path in git("show", "--format=", "--name-only", commit).splitlines())


def test_what_counts_as_a_product_file():
    assert product_files([".ci/run", "galaxy.yml", "meta/runtime.yml", "changelogs/fragments/x.yml",
                          "tests/unit/x.py", "molecule/tune/x.yml", "docs/x.md", "bench/x.py"]) == [
        ".ci/run", "galaxy.yml", "meta/runtime.yml"]


def test_the_thp_commits_touch_at_most_8_product_files_and_the_guide_says_how_many():
    files = thp_files()
    assert len(files) <= 8, files
    guide = (PROJECT / "docs/adding-a-control.md").read_text()
    assert "**%d product files**" % len(files) in guide
    listed = re.findall(r"^\| `([^`]+)` \|", guide, re.M)
    assert sorted(listed) == files
