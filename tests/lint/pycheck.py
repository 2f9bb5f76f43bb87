#!/usr/bin/env python3
"""pycheck: the Python rules of `make lint` over tests/**/*.py.

pyflakes3 (Debian package pyflakes3) finds unused imports and variables, undefined
names and the like: rule pyflakes(MESSAGE), MESSAGE being pyflakes' text without its
position. A small style subset, close to pycodestyle's codes:
  style(E501)  a line longer than 100 characters (the C code's ColumnLimit)
  style(W191)  a tab in the indentation
  style(W291)  trailing whitespace
  style(W292)  no newline at the end of the file
  style(E722)  a bare `except:` (it catches KeyboardInterrupt and SystemExit)
Known findings are listed in tests/lint/allowlist.txt (pyflakes has no inline escape).
Usage: pycheck.py [FILE...]   (default: every tests/**/*.py in git); exits 1 on a finding.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from allowlist import Allowlist, main_exit  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
LINE_MAX = 100
PYFLAKES = os.environ.get('PYFLAKES', 'pyflakes3')
PYFLAKES_RE = re.compile(r'^(.+?):(\d+):(?:\d+:)? (.*)$')


def style(path, findings):
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        text = f.read()
    lines = text.split('\n')
    for n, line in enumerate(lines, 1):
        if len(line) > LINE_MAX:
            findings.append((path, n, 'style', 'E501', f'line longer than {LINE_MAX} characters'))
        if re.match(r'^ *\t', line):
            findings.append((path, n, 'style', 'W191', 'tab in the indentation'))
        if line != line.rstrip():
            findings.append((path, n, 'style', 'W291', 'trailing whitespace'))
        if re.match(r'^\s*except\s*:', line):
            findings.append((path, n, 'style', 'E722', 'bare except: name the exceptions'))
    if text and not text.endswith('\n'):
        findings.append((path, len(lines), 'style', 'W292', 'no newline at the end of the file'))


def pyflakes(files, findings):
    res = subprocess.run([PYFLAKES] + files, cwd=ROOT, capture_output=True, text=True)
    if res.returncode not in (0, 1):
        sys.exit(f'pycheck: {PYFLAKES} failed: {res.stderr.strip()}')
    for line in (res.stdout + res.stderr).splitlines():
        m = PYFLAKES_RE.match(line)
        if not m:
            sys.exit(f'pycheck: cannot read {PYFLAKES} output: {line}')
        findings.append((m.group(1), int(m.group(2)), 'pyflakes', m.group(3), ''))


def main(argv):
    files = argv[1:] or subprocess.run(['git', 'ls-files', 'tests/*.py'], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout.split()
    findings = []
    for path in files:
        style(path, findings)
    if files:
        pyflakes(files, findings)
    main_exit(Allowlist({'pyflakes', 'style'}).report(findings, set(files)), 'pycheck')


if __name__ == '__main__':
    main(sys.argv)
