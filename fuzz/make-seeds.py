#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/ from tests/fixtures/: each fixture file of a family once with its
format forced and once with detection (first byte: format index, or the family's format count
for detection; second byte: zone / year / file-name variant), and fixture lines for the core
helpers target. Run from the repository root after adding fixtures; commit the result."""
import hashlib, os, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
MAX_SEED = 16 << 10

def family_formats(family):
    mod = open(os.path.join(ROOT, "parsers", "src", family, "mod.rs")).read()
    ids = []
    for module in re.findall(r"&([a-z_0-9]+)::FORMAT", mod):
        source = open(os.path.join(ROOT, "parsers", "src", family, module + ".rs")).read()
        ids.append(re.search(r'id: "([^"]+)"', source).group(1))
    return ids

def files_of(format_id):
    base = os.path.join(FIXTURES, format_id)
    for directory, _, names in sorted(os.walk(base)):
        for name in sorted(names):
            yield os.path.join(directory, name)

def write(target, data):
    directory = os.path.join(SEEDS, target)
    os.makedirs(directory, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)

core_lines = set()
for family in ["issuer", "ce", "storage"]:
    formats = family_formats(family)
    for index, format_id in enumerate(formats):
        for path in files_of(format_id):
            data = open(path, "rb").read()[:MAX_SEED]
            write("family_" + family, bytes([index, 0]) + data)
            write("family_" + family, bytes([len(formats), 1]) + data)
            for line in data.split(b"\n")[:3]:
                if line.strip():
                    core_lines.add(line)
for line in sorted(core_lines):
    write("core_helpers", line)
print("seeds written under", SEEDS, file=sys.stderr)
