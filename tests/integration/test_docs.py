"""The README and docs/ as an operator reads them: short, their links resolve, and what they name exists.

A guide that points at a moved section, a renamed variable or a removed playbook sends the operator
nowhere; these tests fail on each of those.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
README = PROJECT / "README.md"
GUIDES = [README, PROJECT / "SECURITY.md"] + sorted((PROJECT / "docs").glob("*.md"))
ROLE_GUIDES = sorted(PROJECT.glob("roles/*/README.md"))
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


@pytest.mark.parametrize("guide", GUIDES + ROLE_GUIDES, ids=lambda path: str(path.relative_to(PROJECT)))
def test_every_link_resolves(guide):
    broken = []
    for target in links(guide):
        file_part, anchor = (target.split("#", 1) + [""])[:2]
        resolved = (guide.parent / file_part).resolve() if file_part else guide
        relative = resolved.relative_to(PROJECT).as_posix() if resolved.is_relative_to(PROJECT) else str(resolved)
        if not resolved.exists():
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


# Commands: from ```sh blocks, indented code blocks and `inline code`, a backslash joining lines.
COMMAND_START = re.compile(r"^(ansible-playbook|ansible-inventory|ansible-rulebook|ansible-doc|python3?|bash) ")
PLACEHOLDER_INVENTORIES = ("my-inventory", "INVENTORY", "inventory.yml", "my-hosts.yml")
EXAMPLE_HOST = "gpu-07.example.com"


def fenced_blocks(text):
    """(language, body) of each fenced code block, openings and closings paired in order."""
    return [(match.group(1), match.group(2)) for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def code_lines(text):
    lines = []
    for language, body in fenced_blocks(text):
        lines += body.splitlines() if language in ("", "sh", "bash") else []
    lines += [line[4:] for line in FENCE.sub("", text).splitlines() if line.startswith("    ")]
    lines += re.findall(r"`([^`\n]+)`", FENCE.sub("", text))
    return lines


def commands(text):
    """Every command line the text shows, continuation lines joined and comments dropped."""
    found, pending = [], ""
    for line in code_lines(text):
        line = pending + line.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        for command in line.split(" && "):
            command = re.sub(r"^(\w+=\S+ )+", "", command.strip()).replace(".venv/bin/", "", 1)
            if COMMAND_START.match(command):
                found.append(" ".join(shlex.split(command, comments=True)) if "'" not in command else command)
    return found


def documented_commands():
    return sorted({command for guide in GUIDES for command in commands(guide.read_text())})


def playbook_path(name):
    if name.startswith("ktune.inference."):
        return PROJECT / "playbooks" / (name.split(".", 2)[2] + ".yml")
    return PROJECT / name


def test_the_guides_show_commands_of_every_kind():
    shown = documented_commands()
    assert "bash tests/run-all.sh" in shown
    assert "ansible-playbook playbooks/tune.yml --check --diff" in shown
    assert any(command.startswith("ansible-playbook ktune.inference.tune ") for command in shown)
    assert any(command.startswith("ansible-rulebook ") for command in shown)
    assert commands("    ansible-playbook a.yml -i x \\\n      -e y=1   # note\n") == ["ansible-playbook a.yml -i x -e y=1"]


def test_every_script_and_rulebook_named_exists():
    missing = []
    for command in documented_commands():
        argv = shlex.split(command)
        if argv[0] in ("python", "python3", "bash") and argv[1].endswith((".py", ".sh")):
            missing += [argv[1]] if not (PROJECT / argv[1]).is_file() else []
        if argv[0] == "ansible-rulebook":
            rulebook = argv[argv.index("--rulebook") + 1].split(".")[-1]
            path = PROJECT / "extensions/eda/rulebooks" / (rulebook + ".yml")
            missing += [str(path)] if not path.is_file() else []
    assert not missing


def test_every_playbook_named_exists():
    named = set()
    for guide in GUIDES:
        named |= set(re.findall(r"\bplaybooks/[\w/]+\.yml\b", guide.read_text()))
        named |= {"ktune.inference." + name for name in re.findall(r"\bktune\.inference\.(\w+) -i\b", guide.read_text())}
    assert {"playbooks/tune.yml", "playbooks/audit.yml", "ktune.inference.tune"} <= named
    assert [name for name in sorted(named) if not playbook_path(name).is_file()] == []


def product_text():
    parts = []
    for pattern in ("playbooks/**/*.yml", "roles/**/*", "plugins/**/*", "extensions/**/*", "inventories/**/*.yml"):
        parts += [path.read_text(errors="replace") for path in PROJECT.glob(pattern)
                  if path.is_file() and path.suffix != ".md"]
    return "\n".join(parts)


def argument_spec_options():
    names = set()

    def walk(options):
        for name, spec in (options or {}).items():
            names.add(name)
            walk((spec or {}).get("options"))
    for spec_file in PROJECT.glob("roles/*/meta/argument_specs.yml"):
        for entry_point in yaml.safe_load(spec_file.read_text())["argument_specs"].values():
            walk(entry_point.get("options"))
    return names


# Names a guide shows on purpose although no role knows them: the warning a misspelling gets.
SHOWN_NOT_KNOWN = {("docs/preflight.md", "ktune_cpu_govenor")}


def test_every_ktune_name_in_the_guides_exists():
    """A variable is an argument spec's option, or a playbook's or the rulebook's; a metric or fact is
    written by a role or plugin: a renamed or misspelt name is in none of them."""
    specs = argument_spec_options()
    product = set(re.findall(r"\bktune_\w+", product_text()))
    formats = set(re.findall(r"\b(ktune_\w*_)(?:%s|%\(|\{)", product_text()))
    unknown = set()
    for guide in GUIDES + ROLE_GUIDES:
        for name in set(re.findall(r"\bktune_\w+", guide.read_text())):
            # ktune_dimm_* in a guide, "ktune_cpu_frequency_%s_hertz" % stat in a collector
            prefix = name.endswith("_") and any(known.startswith(name) for known in specs | product)
            built = any(name.startswith(known) for known in formats)
            shown = (str(guide.relative_to(PROJECT)), name) in SHOWN_NOT_KNOWN
            if name not in specs and name not in product and not prefix and not built and not shown:
                unknown.add("%s: %s" % (guide.relative_to(PROJECT), name))
    assert "ktune_cpu_governor" in specs and "ktune_report_dir" in product
    assert not unknown


def test_every_yaml_sample_parses():
    for guide in GUIDES:
        for language, body in fenced_blocks(guide.read_text()):
            if language == "yaml":
                yaml.safe_load(body)


def placeholder_inventory(workdir):
    """my-inventory as the README shows it, and the other names the guides use for an inventory."""
    blocks = [body for language, body in fenced_blocks(README.read_text()) if language == "yaml"]
    sample = next(block for block in blocks if "my-inventory/hosts.yml" in block)
    assert EXAMPLE_HOST in yaml.safe_load(sample)["all"]["children"]["inference"]["hosts"]
    (workdir / "my-inventory").mkdir()
    for name in PLACEHOLDER_INVENTORIES:
        target = workdir / name / "hosts.yml" if name == "my-inventory" else workdir / name
        target.write_text(sample)
    for shared in ("playbooks", "inventories"):
        (workdir / shared).symlink_to(PROJECT / shared)


def ansible_environment(workdir, collections):
    return dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(collections),
                ANSIBLE_NOCOLOR="1", PWD=str(workdir),
                PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def syntax_check_argv(command, workdir):
    argv = [os.path.expandvars(arg.replace("$PWD", str(workdir))) for arg in shlex.split(command, comments=True)]
    argv = ["all" if arg == "HOST" else arg for arg in argv]
    return argv + ["--syntax-check"]


PLAYBOOK_COMMANDS = [command for command in documented_commands() if command.startswith("ansible-playbook ")]


def test_playbook_commands_are_found():
    assert len(PLAYBOOK_COMMANDS) >= 20


@pytest.mark.parametrize("command", PLAYBOOK_COMMANDS)
def test_every_playbook_command_passes_its_syntax_check(command, tmp_path):
    """Run as written (placeholders filled) with --syntax-check: the playbook, options, -e and the
    inventory the guide names must all be accepted."""
    placeholder_inventory(tmp_path)
    done = subprocess.run(syntax_check_argv(command, tmp_path), cwd=tmp_path,
                          env=ansible_environment(tmp_path, PROJECT / "collections"),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_placeholder_inventory_is_the_readme_sample(tmp_path):
    placeholder_inventory(tmp_path)
    done = subprocess.run(["ansible-inventory", "-i", "my-inventory", "--list"], cwd=tmp_path,
                          env=ansible_environment(tmp_path, PROJECT / "collections"),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["inference"]["hosts"] == [EXAMPLE_HOST]


def test_the_built_collection_runs_its_playbooks_by_name(tmp_path):
    """The README's install commands, with the tarball and the collection kept in tmp_path."""
    environment = ansible_environment(tmp_path, tmp_path / "installed")
    build = subprocess.run(["ansible-galaxy", "collection", "build", str(PROJECT), "--output-path", str(tmp_path)],
                           env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = next(tmp_path.glob("ktune-inference-*.tar.gz"))
    install = subprocess.run(["ansible-galaxy", "collection", "install", str(tarball), "-p", str(tmp_path / "installed")],
                             env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (tmp_path / "installed/ansible_collections/ktune/inference/playbooks/tune.yml").is_file()
    placeholder_inventory(tmp_path)
    for command in [command for command in PLAYBOOK_COMMANDS if command.startswith("ansible-playbook ktune.inference.")]:
        done = subprocess.run(syntax_check_argv(command, tmp_path), cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, command + "\n" + done.stdout + done.stderr


RULE_FILES = sorted(PROJECT.glob("roles/*/files/*.rules.yml"))
RUNBOOK = PROJECT / "docs/runbook.md"


def runbook_base():
    """Where docs/runbook.md is read on the web: the repository galaxy.yml names, branch main."""
    repository = yaml.safe_load((PROJECT / "galaxy.yml").read_text())["repository"]
    return repository.rstrip("/") + "/blob/main/docs/runbook.md#"


def alert_rules():
    for rules in RULE_FILES:
        for group in yaml.safe_load(rules.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield rules, rule


def test_alert_rules_stay_plain_files():
    """Copied as they are (Prometheus templates its own {{ }}), never rendered by Ansible."""
    assert [path.relative_to(PROJECT).as_posix() for path in RULE_FILES] == [
        "roles/guard/files/ktune-guard-alerts.rules.yml", "roles/monitoring/files/ktune-alerts.rules.yml"]
    assert not list(PROJECT.glob("roles/*/templates/*rules*"))
    assert "ansible.builtin.copy:\n        src: ktune-alerts.rules.yml" in (PROJECT / "roles/monitoring/tasks/main.yml").read_text()


def test_every_alert_has_a_runbook_section_that_exists():
    sections = anchors(RUNBOOK)
    problems = []
    for rules, rule in alert_rules():
        url = rule.get("annotations", {}).get("runbook_url", "")
        if url != runbook_base() + rule["alert"].lower():
            problems.append("%s %s: runbook_url %r" % (rules.name, rule["alert"], url))
        elif rule["alert"].lower() not in sections:
            problems.append("%s %s: no section in docs/runbook.md" % (rules.name, rule["alert"]))
    assert len(list(alert_rules())) == 15
    assert not problems


def test_the_runbook_has_a_section_for_each_alert_and_no_other():
    alerts = {rule["alert"] for rules_file, rule in alert_rules()}
    headings = {line[4:].strip() for line in RUNBOOK.read_text().splitlines() if line.startswith("### ")}
    assert headings == alerts


def test_the_supported_ansible_core_range_is_the_requirements_pin():
    pin = re.search(r"^ansible-core>=2\.(\d+),<2\.(\d+)$", (PROJECT / "requirements.txt").read_text(), re.M)
    stated = "`ansible-core` 2.%s to 2.%d" % (pin.group(1), int(pin.group(2)) - 1)
    for guide in (README, PROJECT / "docs/user-guide.md"):
        assert stated in guide.read_text(), guide.name
