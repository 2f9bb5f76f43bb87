"""allowlist: the known findings `make lint` lets through (tests/lint/allowlist.txt).

One line per finding: `PATH: RULE(NAME): REASON`, the same shape as an in-source
`lint: allow RULE(NAME): REASON` escape. An entry covers every occurrence of RULE(NAME)
in PATH. Entries that no longer match anything are errors too, so the list only shrinks.
Used by checksrc.py and pycheck.py; each checks the entries of its own rules.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ALLOWLIST = os.path.join(HERE, 'allowlist.txt')
ENTRY_RE = re.compile(r'^(\S+): ([a-z][a-z-]*)\((.+)\): (\S.*)$')


class Allowlist:
    """The entries of `rules` from allowlist.txt; report() filters findings through them."""

    def __init__(self, rules, path=ALLOWLIST):
        self.path = path
        self.entries = {}  # (path, rule, name) -> line number
        self.errors = []
        with open(path, encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip('\n')
                if not line.strip() or line.startswith('#'):
                    continue
                m = ENTRY_RE.match(line)
                if not m:
                    self.errors.append(f'{os.path.relpath(path)}:{n}: '
                                       'not "PATH: RULE(NAME): REASON"')
                    continue
                if m.group(2) in rules:
                    self.entries[(m.group(1), m.group(2), m.group(3))] = n
        self.used = set()

    def allows(self, path, rule, name):
        key = (path, rule, name)
        if key in self.entries:
            self.used.add(key)
            return True
        return False

    def report(self, findings, checked):
        """findings: (path, line, rule, name, message); checked: the paths looked at.
        Prints what is not allowed and the stale entries of checked files; returns the
        number of problems."""
        bad = 0
        for err in self.errors:
            print(err)
            bad += 1
        for path, line, rule, name, msg in sorted(findings):
            if not self.allows(path, rule, name):
                print(f'{path}:{line}: {rule}({name})' + (f': {msg}' if msg else ''))
                bad += 1
        for key, n in sorted(self.entries.items(), key=lambda kv: kv[1]):
            if key not in self.used and key[0] in checked:
                print(f'{os.path.relpath(self.path)}:{n}: stale entry {key[0]}: {key[1]}({key[2]}) '
                      'matches nothing: delete it')
                bad += 1
        return bad


def main_exit(bad, what):
    if bad:
        print(f'{what}: {bad} problem(s); fix them, or add "lint: allow RULE(NAME): REASON" '
              '(see docs/hacking.md)')
        sys.exit(1)
