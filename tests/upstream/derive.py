# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Derive, from upstream's released code, the facts the ktransformers contract tests check against.

Nothing is imported from the packages (they need torch and CUDA): their Python source is read with
the ast module. Each fixture under tests/fixtures/upstream/ records its provenance (package,
version, artifact file and sha256, and the sha256 of every source file read), and `verify`
rebuilds each one from the artifact and fails when the committed fixture differs.

  python tests/upstream/derive.py sglang ARTIFACT.whl OUT.json
  python tests/upstream/derive.py kt-kernel ARTIFACT.whl OUT.json
  python tests/upstream/derive.py legacy SOURCE_DIR OUT.json --origin TEXT
  python tests/upstream/derive.py verify [--cache DIR]      # pip download --no-deps into DIR (cached)

What is derived:
  sglang:    every command-line option of `python -m sglang.launch_server` (explicit add_argument
             calls, and the options sglang >= 0.5.2x generates from its annotated dataclass fields),
             each with its names, action, nargs, type name, choices and whether it is required.
  kt-kernel: INFERENCE_METHODS (kt_kernel/experts.py) and the words `kt run` puts on the SGLang
             command line (kt_kernel/cli/commands/run.py, _build_sglang_command).
  legacy:    the options of ktransformers/server/args.py and the keys of the config.yaml the
             package ships (ktransformers/configs/config.yaml), which Config() reads.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "upstream"
SGLANG_SOURCES = ("sglang/srt/server_args.py", "sglang/srt/arg_groups/")
KT_KERNEL_SOURCES = ("kt_kernel/experts.py", "kt_kernel/cli/commands/run.py")
LEGACY_SOURCES = ("ktransformers/server/args.py", "ktransformers/configs/config.yaml")
# Annotation wrappers that carry CLI metadata in sglang's dataclass-driven parser.
ANNOTATED = ("A", "Annotated")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# --- reading artifacts --------------------------------------------------------------------


class Artifact(object):
    """The files of a wheel, an sdist or a source directory, by their package-relative path."""

    def __init__(self, path):
        self.path = Path(path)
        self.files = {}
        if self.path.is_dir():
            for file in self.path.rglob("*"):
                if file.is_file():
                    self.files[file.relative_to(self.path).as_posix()] = file
        elif zipfile.is_zipfile(str(self.path)):
            archive = zipfile.ZipFile(str(self.path))
            for name in archive.namelist():
                self.files[name] = (archive, name)
        else:
            archive = tarfile.open(str(self.path))
            for member in archive.getmembers():
                if member.isfile():
                    # sdists nest everything under NAME-VERSION/
                    self.files[member.name.split("/", 1)[-1]] = (archive, member)

    def read(self, name):
        where = self.files[name]
        if isinstance(where, Path):
            return where.read_bytes()
        archive, member = where
        if isinstance(archive, zipfile.ZipFile):
            return archive.read(member)
        return archive.extractfile(member).read()

    def select(self, prefixes):
        return sorted(name for name in self.files if name.endswith((".py", ".yaml")) and any(
            name == prefix or (prefix.endswith("/") and name.startswith(prefix)) for prefix in prefixes))

    def sha256(self):
        return sha256(self.path.read_bytes()) if self.path.is_file() else None


# --- literal evaluation -------------------------------------------------------------------


class Unresolved(Exception):
    pass


def literal(node, names):
    """A constant, list, tuple or set of constants, or a module-level name bound to one."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [literal(item, names) for item in node.elts]
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
            "list", "tuple", "set", "frozenset", "sorted") and len(node.args) == 1:
        return list(literal(node.args[0], names))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return literal(node.left, names) + literal(node.right, names)
    raise Unresolved(ast.dump(node)[:80])


def module_names(trees):
    """Module-level NAME = literal bindings of every file (choices lists live in other modules)."""
    names = {}
    for _pass in range(2):  # a second pass resolves names defined from other names
        for tree in trees:
            for statement in tree.body:
                targets = []
                if isinstance(statement, ast.Assign):
                    targets, value = statement.targets, statement.value
                elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                    targets, value = [statement.target], statement.value
                for target in targets:
                    if isinstance(target, ast.Name):
                        try:
                            names[target.id] = literal(value, names)
                        except Unresolved:
                            pass
    return names


def dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Lambda):
        return "lambda"
    return type(node).__name__


# --- argparse options ---------------------------------------------------------------------


def action_bases(trees):
    """{custom Action class: the argparse base it derives from} (DeprecatedStoreTrueAction...)."""
    bases = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Action"):
                bases[node.name] = [dotted(base) for base in node.bases]
    return bases


def _action_kind(action, bases, keywords):
    """Normalise an action to one argparse understands without upstream's classes."""
    builtin = ("store", "store_true", "store_false", "store_const", "append", "append_const", "count",
               "extend", "BooleanOptionalAction")
    if action in builtin or action is None:
        return action or "store"
    # Upstream's own Action classes: their behaviour on the command line is what counts.
    base = " ".join(bases.get(action, []))
    if "StoreTrue" in action or "StoreTrue" in base:
        return "store_true"
    if "StoreFalse" in action or "StoreFalse" in base:
        return "store_false"
    if "BooleanOptional" in base:
        return "BooleanOptionalAction"
    if "nargs" in keywords and keywords["nargs"] == 0:
        return "store_true"
    return "store"


def option_from_call(call, names, bases):
    words = [arg.value for arg in call.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    flags = [word for word in words if word.startswith("-")]
    if not flags:
        return None
    keywords = {}
    option = {"names": flags, "nargs": None, "type": None, "choices": None, "required": False}
    for keyword in call.keywords:
        if keyword.arg == "action":
            keywords["action"] = keyword.value.value if isinstance(keyword.value, ast.Constant) else dotted(keyword.value)
        elif keyword.arg == "nargs":
            option["nargs"] = literal(keyword.value, names) if isinstance(keyword.value, ast.Constant) else "*"
            keywords["nargs"] = option["nargs"]
        elif keyword.arg == "type":
            option["type"] = dotted(keyword.value)
        elif keyword.arg == "choices":
            try:
                option["choices"] = sorted(set(str(item) for item in literal(keyword.value, names)))
            except (Unresolved, TypeError):
                option["choices"] = None  # computed at run time: not checked
        elif keyword.arg == "required" and isinstance(keyword.value, ast.Constant):
            option["required"] = bool(keyword.value.value)
    option["action"] = _action_kind(keywords.get("action"), bases, keywords)
    return option


def _annotation_parts(annotation):
    """(type node, metadata nodes) of A[T, ...] / Annotated[T, ...], or None."""
    if not (isinstance(annotation, ast.Subscript) and dotted(annotation.value) in ANNOTATED):
        return None
    inner = annotation.slice
    if isinstance(inner, ast.Tuple) and inner.elts:
        return inner.elts[0], inner.elts[1:]
    return None


def _unwrap(type_node):
    """Strip Optional[X], Union[X, None] and X | None."""
    if isinstance(type_node, ast.Subscript) and dotted(type_node.value) == "Optional":
        return _unwrap(type_node.slice)
    if isinstance(type_node, ast.Subscript) and dotted(type_node.value) == "Union":
        items = [item for item in getattr(type_node.slice, "elts", [type_node.slice])
                 if not (isinstance(item, ast.Constant) and item.value is None)]
        if len(items) == 1:
            return _unwrap(items[0])
    if isinstance(type_node, ast.BinOp) and isinstance(type_node.op, ast.BitOr):
        for side, other in ((type_node.left, type_node.right), (type_node.right, type_node.left)):
            if isinstance(other, ast.Constant) and other.value is None:
                return _unwrap(side)
    return type_node


def option_from_field(statement, names, bases):
    """The option sglang's add_cli_args_from_dataclass registers for an annotated field."""
    parts = _annotation_parts(statement.annotation)
    if parts is None or not isinstance(statement.target, ast.Name):
        return None
    type_node, metadata = parts
    meta = None
    for item in metadata:
        if isinstance(item, ast.Constant) and isinstance(item.value, str):
            meta = {}
            break
        if isinstance(item, ast.Call) and dotted(item.func) == "Arg":
            meta = {}
            for keyword in item.keywords:
                try:
                    meta[keyword.arg] = literal(keyword.value, names)
                except Unresolved:
                    meta[keyword.arg] = dotted(keyword.value) if keyword.arg in ("action", "type_parser") else None
            break
    if meta is None or meta.get("no_cli"):
        return None
    name = statement.target.id
    flags = [meta.get("cli_name") or "--" + name.replace("_", "-")] + list(meta.get("aliases") or [])
    has_default = statement.value is not None
    option = {"names": flags, "nargs": meta.get("nargs"), "type": None, "required": False,
              "choices": sorted(set(str(item) for item in meta["choices"])) if meta.get("choices") else None}
    if meta.get("action"):
        option["action"] = _action_kind(meta["action"], bases, {})
        return option
    inner = _unwrap(type_node)
    kind = dotted(inner.value) if isinstance(inner, ast.Subscript) else dotted(inner)
    if kind == "Literal":
        values = literal(inner.slice, names)
        values = values if isinstance(values, list) else [values]
        option["choices"] = option["choices"] or sorted(set(str(value) for value in values))
        option["type"] = type(values[0]).__name__ if values else "str"
    elif kind in ("List", "list") and not meta.get("type_parser"):
        option["nargs"] = option["nargs"] or "+"
        element = inner.slice
        option["type"] = dotted(element) if dotted(element) in ("int", "float", "str") else "str"
    elif kind == "bool":
        option["action"] = "store_true"
        return option
    else:
        option["type"] = kind if kind in ("int", "float", "str") and not meta.get("type_parser") else "str"
        required = meta.get("required")
        option["required"] = bool(required is True or (required is None and not has_default))
    option["action"] = "store"
    return option


def derive_options(artifact, sources):
    files = artifact.select(sources)
    trees = [ast.parse(artifact.read(name)) for name in files if name.endswith(".py")]
    names = module_names(trees)
    bases = action_bases(trees)
    options = {}
    for tree in trees:
        for node in ast.walk(tree):
            option = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
                option = option_from_call(node, names, bases)
            elif isinstance(node, ast.AnnAssign):
                option = option_from_field(node, names, bases)
            if option:
                options[option["names"][0]] = option
    return files, [options[key] for key in sorted(options)]


# --- kinds of fixture ---------------------------------------------------------------------


def provenance(kind, artifact, files, package, version, origin=None):
    return {
        "kind": kind,
        "package": package,
        "version": version,
        "artifact": artifact.path.name,
        "artifact_sha256": artifact.sha256(),
        "origin": origin or "PyPI: pip download --no-deps %s==%s" % (package, version),
        "files": {name: sha256(artifact.read(name)) for name in files},
        "generator": "tests/upstream/derive.py %s" % kind,
    }


def wheel_version(artifact, package):
    for name in artifact.files:
        if name.endswith(".dist-info/METADATA"):
            for line in artifact.read(name).decode("utf-8", "replace").splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    raise SystemExit("%s: no dist-info METADATA: expected a wheel of %s" % (artifact.path, package))


def wheel_package(artifact):
    for name in artifact.files:
        if name.endswith(".dist-info/METADATA"):
            for line in artifact.read(name).decode("utf-8", "replace").splitlines():
                if line.startswith("Name:"):
                    return line.split(":", 1)[1].strip()
    raise SystemExit("%s: no dist-info METADATA" % artifact.path)


def derive_sglang(artifact):
    package = wheel_package(artifact)
    files, options = derive_options(artifact, SGLANG_SOURCES)
    result = provenance("sglang", artifact, files, package, wheel_version(artifact, package))
    result["parser"] = {"prog": "python -m sglang.launch_server", "allow_abbrev": True}
    result["options"] = options
    return result


def _string_list(node):
    return [item.value for item in getattr(node, "elts", []) if isinstance(item, ast.Constant)
            and isinstance(item.value, str)]


def derive_kt_kernel(artifact):
    package = wheel_package(artifact)
    files = artifact.select(KT_KERNEL_SOURCES)
    experts = ast.parse(artifact.read("kt_kernel/experts.py"))
    methods = None
    for statement in experts.body:
        if isinstance(statement, ast.Assign) and any(dotted(target) == "INFERENCE_METHODS" for target in statement.targets):
            call = statement.value
            methods = sorted(_string_list(call.args[0] if isinstance(call, ast.Call) else call))
    if not methods:
        raise SystemExit("kt_kernel/experts.py: INFERENCE_METHODS not found")
    run = ast.parse(artifact.read("kt_kernel/cli/commands/run.py"))
    flags = []
    for node in ast.walk(run):
        if isinstance(node, ast.FunctionDef) and node.name == "_build_sglang_command":
            for inner in ast.walk(node):
                if isinstance(inner, (ast.List, ast.Tuple)):
                    flags += [word for word in _string_list(inner) if word.startswith("--")]
    result = provenance("kt-kernel", artifact, files, package, wheel_version(artifact, package))
    result["inference_methods"] = methods
    result["kt_run_flags"] = sorted(set(flags))
    return result


def config_keys(text):
    """Dotted keys of a YAML mapping, read without a YAML library (two levels, as the file has)."""
    keys, section = [], None
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped.strip() or ":" not in stripped:
            continue
        key = stripped.strip().split(":", 1)[0].strip()
        if not line.startswith((" ", "\t")):
            section = key
            keys.append(section)
        elif section:
            keys.append("%s.%s" % (section, key))
    return keys


def derive_legacy(artifact, origin, version):
    files, options = derive_options(artifact, ("ktransformers/server/args.py",))
    config = artifact.read("ktransformers/configs/config.yaml").decode("utf-8")
    files = files + ["ktransformers/configs/config.yaml"]
    result = provenance("legacy", artifact, files, "ktransformers", version, origin)
    # The legacy server is not on PyPI and GitHub is not reachable from CI: the source read is
    # named by origin (repository, commit), not by hashes of a local copy.
    result["files"] = sorted(result["files"])
    result["parser"] = {"prog": "ktransformers", "allow_abbrev": True}
    result["options"] = options
    result["config_keys"] = config_keys(config)
    return result


# --- verify -------------------------------------------------------------------------------


def download(package, version, cache):
    cache.mkdir(parents=True, exist_ok=True)
    stem = package.replace("-", "_").lower()
    found = [path for path in cache.iterdir() if path.name.lower().startswith("%s-%s-" % (stem, version))]
    if not found:
        subprocess.check_call([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                               "%s==%s" % (package, version), "-d", str(cache)])
        found = [path for path in cache.iterdir() if path.name.lower().startswith("%s-%s-" % (stem, version))]
    return found[0]


def verify(cache):
    failures = 0
    for fixture in sorted(FIXTURES.glob("*.json")):
        committed = json.loads(fixture.read_text())
        kind = committed["kind"]
        if kind == "legacy":
            source = os.environ.get("KTUNE_LEGACY_SOURCE")
            if not source:
                # The legacy server is not on PyPI: its provenance names the source read; the
                # recorded file hashes are checked when a checkout is given.
                print("%s: legacy source from %s (set KTUNE_LEGACY_SOURCE to a checkout to re-derive)"
                      % (fixture.name, committed["origin"]))
                continue
            rebuilt = derive_legacy(Artifact(source), committed["origin"], committed["version"])
            rebuilt["artifact"] = committed["artifact"]
        else:
            artifact = Artifact(download(committed["package"], committed["version"], cache))
            if artifact.sha256() != committed["artifact_sha256"]:
                print("%s: %s has sha256 %s, the fixture was derived from %s" % (
                    fixture.name, artifact.path.name, artifact.sha256(), committed["artifact_sha256"]))
                failures += 1
                continue
            rebuilt = derive_sglang(artifact) if kind == "sglang" else derive_kt_kernel(artifact)
        rebuilt["artifact_sha256"] = rebuilt["artifact_sha256"] or committed["artifact_sha256"]
        if rebuilt != committed:
            changed = sorted(key for key in set(rebuilt) | set(committed) if rebuilt.get(key) != committed.get(key))
            print("%s: differs from what %s gives now (%s). Regenerate it with tests/upstream/derive.py"
                  % (fixture.name, committed["artifact"], ", ".join(changed)))
            failures += 1
        else:
            print("%s: matches %s %s" % (fixture.name, committed["package"], committed["version"]))
    return 1 if failures else 0


def write(result, out):
    Path(out).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print("%s: %s %s" % (out, result["package"], result["version"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("sglang", "kt-kernel"):
        sub = commands.add_parser(name)
        sub.add_argument("artifact")
        sub.add_argument("out")
    sub = commands.add_parser("legacy")
    sub.add_argument("source")
    sub.add_argument("out")
    sub.add_argument("--origin", required=True, help="where the source came from (repository, tag, commit)")
    sub.add_argument("--version", required=True)
    sub = commands.add_parser("verify")
    sub.add_argument("--cache", default=os.environ.get("KTUNE_UPSTREAM_CACHE",
                                                       os.path.expanduser("~/.cache/ktune-upstream")))
    args = parser.parse_args(argv)
    if args.command == "verify":
        return verify(Path(args.cache))
    if args.command == "legacy":
        write(derive_legacy(Artifact(args.source), args.origin, args.version), args.out)
    elif args.command == "sglang":
        write(derive_sglang(Artifact(args.artifact)), args.out)
    else:
        write(derive_kt_kernel(Artifact(args.artifact)), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
