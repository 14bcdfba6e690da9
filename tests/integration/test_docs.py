"""The README and docs/ as an operator reads them: short, their links resolve, and what they name exists.

A guide that points at a moved section, a renamed variable or a removed playbook sends the operator
nowhere; these tests fail on each of those.
"""

import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
README = PROJECT / "README.md"
GUIDES = [README, PROJECT / "SECURITY.md"] + sorted((PROJECT / "docs").glob("*.md"))
# Guides written on other branches this round and linked from the README already; a link to one
# of them is checked like any other once the file exists (the lead empties this after the merge).
WRITTEN_ELSEWHERE = {"docs/adding-a-control.md", "docs/removing-and-upgrading.md",
                     "docs/fixing-the-layout-on-a-fleet.md"}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
FRESH_MACHINE = ("python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt && "
                 ".venv/bin/python tests/checkout.py && PATH=$PWD/.venv/bin:$PATH "
                 "ansible-playbook playbooks/tune.yml --check --diff")


def prose(text):
    """The text outside fenced code blocks (a link inside a code sample is not a link)."""
    return FENCE.sub("", text)


def github_anchor(heading):
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path):
    return {github_anchor(line.lstrip("#")) for line in prose(path.read_text()).splitlines()
            if re.match(r"#{1,6} ", line)}


def links(path):
    for target in LINK.findall(prose(path.read_text())):
        if not re.match(r"[a-z]+:", target):
            yield target


def test_readme_is_at_most_200_lines():
    assert len(README.read_text().splitlines()) <= 200


def test_readme_keeps_the_two_fresh_machine_commands():
    text = README.read_text()
    assert "```sh\n%s\n```" % FRESH_MACHINE in text
    assert "```sh\nbash tests/run-all.sh\n```" in text
    assert "exec bash tests/run-all.sh" in (PROJECT / ".ci/run").read_text()


def test_readme_links_every_guide_in_docs():
    linked = {target.split("#")[0] for target in links(README)}
    assert {"docs/" + guide.name for guide in (PROJECT / "docs").glob("*.md")} <= linked


@pytest.mark.parametrize("guide", GUIDES, ids=lambda path: str(path.relative_to(PROJECT)))
def test_every_link_resolves(guide):
    broken = []
    for target in links(guide):
        file_part, _, anchor = target.partition("#")
        resolved = (guide.parent / file_part).resolve() if file_part else guide
        relative = resolved.relative_to(PROJECT).as_posix() if resolved.is_relative_to(PROJECT) else str(resolved)
        if not resolved.exists():
            if relative not in WRITTEN_ELSEWHERE:
                broken.append("%s: no such file" % target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append("%s: no heading with that anchor in %s" % (target, relative))
    assert not broken, broken


def test_the_anchor_check_finds_a_missing_heading(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("# Guide\n\n## Where reports land\n\nSee [here](#where-reports-land), [x](#gone).\n")
    assert anchors(guide) == {"guide", "where-reports-land"}
    assert list(links(guide)) == ["#where-reports-land", "#gone"]
    assert github_anchor("What tune.yml prints") == "what-tuneyml-prints"
    assert github_anchor("Root: become") == "root-become"
