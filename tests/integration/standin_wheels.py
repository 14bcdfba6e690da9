"""Small stand-in wheels of upstream's packages for a local package index (tests only, never shipped).

write_index(DIR) lays out ktransformers 0.7.2 (extra [sglang] -> sglang-kt, kt-kernel) and an older
0.7.0, so `pip install --no-index --find-links DIR "ktransformers[sglang]==0.7.2"` resolves as the
real index does, in a second and without torch. The stand-in sglang.launch_server only records
its arguments.
"""

import base64
import hashlib
import zipfile

LAUNCH_SERVER = '''"""Stand-in for sglang.launch_server (ktune tests): prints the arguments it got."""
import json
import sys

if __name__ == "__main__":
    print(json.dumps({"standin": "sglang-kt", "argv": sys.argv[1:]}))
'''


def _digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def write_wheel(directory, name, version, files, requires=(), extras=()):
    dist = name.replace("-", "_")
    info = "%s-%s.dist-info" % (dist, version)
    metadata = ["Metadata-Version: 2.1", "Name: %s" % name, "Version: %s" % version]
    metadata += ["Provides-Extra: %s" % extra for extra in extras]
    metadata += ["Requires-Dist: %s" % requirement for requirement in requires]
    entries = dict((path, text.encode()) for path, text in files.items())
    entries["%s/METADATA" % info] = ("\n".join(metadata) + "\n").encode()
    entries["%s/WHEEL" % info] = b"Wheel-Version: 1.0\nGenerator: ktune-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = ["%s,%s,%d" % (path, _digest(data), len(data)) for path, data in sorted(entries.items())]
    record.append("%s/RECORD,," % info)
    entries["%s/RECORD" % info] = ("\n".join(record) + "\n").encode()
    path = directory / ("%s-%s-py3-none-any.whl" % (dist, version))
    with zipfile.ZipFile(str(path), "w") as wheel:
        for name_in_wheel, data in sorted(entries.items()):
            wheel.writestr(name_in_wheel, data)
    return path


def write_index(directory):
    directory.mkdir(parents=True, exist_ok=True)
    for version in ("0.7.0", "0.7.2"):
        write_wheel(directory, "ktransformers", version, {"ktransformers/__init__.py": "__version__ = %r\n" % version},
                    requires=['sglang-kt==%s; extra == "sglang"' % version, 'kt-kernel==%s; extra == "sglang"' % version],
                    extras=["sglang"])
        write_wheel(directory, "sglang-kt", version, {"sglang/__init__.py": "__version__ = %r\n" % version,
                                                      "sglang/launch_server.py": LAUNCH_SERVER})
        write_wheel(directory, "kt-kernel", version, {"kt_kernel/__init__.py": "__version__ = %r\n" % version})
    return directory
