#!/usr/bin/env python3
"""checksrc: the C rules of `make lint`, in the spirit of curl's checksrc.pl.

Rules (NAME is what an escape or an allowlist entry names):
  header(NAME)      every .c/.h opens with a block comment whose text starts "NAME:", NAME
                    the file's module (main.c: its program, any name)
  banned(FN)        risky functions, anywhere: strcpy strcat sprintf vsprintf gets atoi atol
                    atof strtok system popen tmpnam tempnam mktemp
  mt-unsafe(FN)     calls that are not thread-safe, in the threaded programs and the library
                    they link (lib/ memdumpd/ fcgi/ poller/): localtime gmtime ctime asctime
                    rand srand setenv putenv unsetenv clearenv getpwnam getpwuid getgrnam
                    getgrgid gethostbyname gethostbyaddr inet_ntoa ttyname getlogin crypt
                    (allowed, see docs/hacking.md: glibc's strerror and strsignal are
                    MT-Safe since 2.32; readdir is, on a DIR only one thread reads;
                    getenv races only with the environment-changing calls banned here)
  prefix(SYMBOL)    functions and extern variables a header declares, and non-static
                    functions a .c defines, carry the module's prefix: FILE_ or the prefix
                    tests/lint/prefixes.txt gives the module
  fcgi-const(NAME)  a FastCGI protocol number written as a literal with its name in a
                    comment (h[1] = 6; /* FCGI_STDOUT */): use the constant from <fastcgi.h>
  allow-syntax(TEXT), allow-unused(RULE(NAME))  escapes that are malformed or suppress nothing

Escape one finding with a comment on its line or alone on the line above:
    /* lint: allow RULE(NAME): REASON */
Known findings in files that cannot be changed yet are listed in tests/lint/allowlist.txt.
Usage: checksrc.py [FILE...]   (default: every .c/.h in git); exits 1 on a finding.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from allowlist import Allowlist, main_exit  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
PREFIXES = os.path.join(ROOT, 'tests', 'lint', 'prefixes.txt')
FASTCGI_H = '/usr/include/fastcgi.h'

BANNED = ('strcpy strcat sprintf vsprintf gets atoi atol atof strtok system popen '
          'tmpnam tempnam mktemp').split()
MT_UNSAFE = ('localtime gmtime ctime asctime rand srand setenv putenv unsetenv clearenv '
             'getpwnam getpwuid getgrnam getgrgid gethostbyname gethostbyaddr inet_ntoa '
             'ttyname getlogin crypt').split()
MT_DIRS = ('lib/', 'memdumpd/', 'fcgi/', 'poller/')
RULES = {'header', 'banned', 'mt-unsafe', 'prefix', 'fcgi-const', 'allow-syntax', 'allow-unused'}
# Entry points whose names are fixed by someone else.
FIXED_NAMES = {'main', 'LLVMFuzzerTestOneInput', 'LLVMFuzzerInitialize'}

ESCAPE_RE = re.compile(r'lint:\s*allow\s+([a-z][a-z-]*)\(([^()]+)\):\s*\S')
CALL_RE = re.compile(r'(?<![\w.>$])(' + '|'.join(BANNED + MT_UNSAFE) + r')\s*\(')
IDENT_RE = re.compile(r'[A-Za-z_]\w*')


def split_source(text):
    """Returns (code, comments): code with comments and literal contents blanked (same
    length and lines), and a dict line -> comment text on that line."""
    out = []
    comments = {}
    i, n, line = 0, len(text), 1

    def note(ln, s):
        comments[ln] = comments.get(ln, '') + s

    while i < n:
        c = text[i]
        if c == '/' and text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            for k, part in enumerate(text[i:j].split('\n')):
                note(line + k, part)
            chunk = text[i:j]
            out.append(re.sub(r'[^\n]', ' ', chunk))
            line += chunk.count('\n')
            i = j
        elif c == '/' and text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            note(line, text[i:j])
            out.append(' ' * (j - i))
            i = j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            j = min(j + 1, n)
            chunk = text[i:j]
            out.append(c + re.sub(r'[^\n]', ' ', chunk[1:-1]) + chunk[-1])
            line += chunk.count('\n')
            i = j
        else:
            if c == '\n':
                line += 1
            out.append(c)
            i += 1
    return ''.join(out), comments


def load_prefixes():
    table = {}
    with open(PREFIXES, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith('#'):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                sys.exit(f'{PREFIXES}:{n}: not "MODULE PREFIX REASON"')
            table[parts[0]] = parts[1]
    return table


def fastcgi_names():
    try:
        with open(FASTCGI_H, encoding='utf-8') as f:
            names = re.findall(r'#define\s+(FCGI_[A-Z0-9_]+)\s+\(?\d', f.read())
    except OSError:
        names = []
    return set(names) or {'FCGI_VERSION_1', 'FCGI_BEGIN_REQUEST', 'FCGI_ABORT_REQUEST',
                          'FCGI_END_REQUEST', 'FCGI_PARAMS', 'FCGI_STDIN', 'FCGI_STDOUT',
                          'FCGI_STDERR', 'FCGI_DATA', 'FCGI_REQUEST_COMPLETE'}


def top_level_statements(code):
    """(line, text, ended_by) for each statement at file scope: text up to ';' or the
    '{' of a body. Preprocessor lines are dropped; brace bodies are skipped."""
    code = re.sub(r'^[ \t]*#(?:[^\n]*\\\n)*[^\n]*', lambda m: '\n' * m.group(0).count('\n'),
                  code, flags=re.M)
    code = re.sub(r'__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)', lambda m: ' ' * len(m.group(0)),
                  code)
    stmts = []
    depth, paren, start = 0, 0, 0
    for i, c in enumerate(code):
        if c == '(':
            paren += 1
        elif c == ')':
            paren -= 1
        elif c == '{':
            if depth == 0:
                stmts.append((start, i, '{'))
            depth += 1
        elif c == '}':
            depth -= 1
            if depth == 0:
                start = i + 1
        elif c == ';' and depth == 0 and paren == 0:
            stmts.append((start, i, ';'))
            start = i + 1
    out = []
    for a, b, end in stmts:
        text = code[a:b]
        lead = len(text) - len(text.lstrip())
        out.append((code.count('\n', 0, a + lead) + 1, ' '.join(text.split()), end))
    return out


def exported_names(path, code):
    """(line, name) of what this file exports: a header's function declarations and
    extern variables, a .c file's non-static function definitions."""
    names = []
    is_header = path.endswith('.h')
    for ln, text, end in top_level_statements(code):
        words = text.split()
        if not words or words[0] in ('typedef', 'static') or 'static' in words[:3]:
            continue
        if text.startswith(('struct', 'enum', 'union')) and end == '{' and '(' not in text:
            continue  # a type's body (its variable, if any, is not exported by a header)
        if '=' in text.split('(')[0]:
            text = text.split('=')[0]
        m = re.match(r'^[^()]*?([A-Za-z_]\w*)\s*\(', text)
        if m and not re.match(r'^[^()]*\(\s*\*', text):
            if is_header and end == ';' or not is_header and end == '{':
                names.append((ln, m.group(1)))
        elif is_header and end == ';' and words[0] == 'extern' and '(' not in text:
            ids = IDENT_RE.findall(text.split('[')[0])
            if ids:
                names.append((ln, ids[-1]))
    return names


def module_of(path):
    return os.path.splitext(path)[0]


def check_file(path, prefixes, fcgi_names, findings, escapes_used):
    with open(os.path.join(ROOT, path), encoding='utf-8', errors='replace') as f:
        text = f.read()
    code, comments = split_source(text)
    lines = code.split('\n')
    base = os.path.basename(module_of(path))

    def add(line, rule, name, msg):
        findings.append((path, line, rule, name, msg))

    # header
    m = re.match(r'\s*/\*[\s*]*([\w.-]+):', text)
    if not text.lstrip().startswith('/*'):
        add(1, 'header', base, 'the file does not open with its module header comment')
    elif not m or (m.group(1) != base and base != 'main'):
        add(1, 'header', base, f'the header comment does not start "{base}: ..."')

    # calls
    for ln, line_code in enumerate(lines, 1):
        for cm in CALL_RE.finditer(line_code):
            fn = cm.group(1)
            if fn in BANNED:
                add(ln, 'banned', fn, f'{fn}() is banned (see tests/lint/checksrc.py)')
            elif path.startswith(MT_DIRS):
                add(ln, 'mt-unsafe', fn,
                    f'{fn}() is not thread-safe and {path.split("/")[0]}/ runs threads')

    # prefixes
    prefix = prefixes.get(module_of(path), base + '_')
    for ln, name in exported_names(path, code):
        if name in FIXED_NAMES or name.startswith(prefix) or name + '_' == prefix:
            continue
        add(ln, 'prefix', name, f'{name} lacks the module prefix {prefix} '
            '(rename it, or see tests/lint/prefixes.txt)')

    # FastCGI numbers
    if path.startswith('fcgi/'):
        for ln, c in comments.items():
            for const in re.findall(r'\bFCGI_[A-Z0-9_]+\b', c):
                if const in fcgi_names and re.search(r'\b\d+\b', lines[ln - 1]):
                    add(ln, 'fcgi-const', const, f'a literal where {const} (<fastcgi.h>) belongs')

    # escapes: a finding is escaped by a comment on its line or alone on the line above
    escapes = {}
    for ln, c in comments.items():
        if 'lint:' not in c:
            continue
        em = ESCAPE_RE.search(c)
        if not em:
            bad = ' '.join(c[c.index('lint:') + 5:].replace('*/', '').split())
            add(ln, 'allow-syntax', bad, 'not "lint: allow RULE(NAME): REASON"')
            continue
        target = ln if lines[ln - 1].strip() else ln + 1
        escapes[(target, em.group(1), em.group(2))] = ln
    kept = []
    for f in findings:
        key = (f[1], f[2], f[3])
        if f[0] == path and key in escapes:
            escapes_used.add((path, escapes[key]))
        else:
            kept.append(f)
    findings[:] = kept
    for (target, rule, name), ln in escapes.items():
        if (path, ln) not in escapes_used:
            add(ln, 'allow-unused', f'{rule}({name})', 'this escape suppresses nothing: delete it')


def main(argv):
    files = argv[1:] or subprocess.run(['git', 'ls-files', '*.c', '*.h'], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout.split()
    prefixes = load_prefixes()
    fcgi_names = fastcgi_names()
    allow = Allowlist(RULES)
    findings, used, checked = [], set(), []
    for path in files:
        path = os.path.relpath(os.path.abspath(path), ROOT) if argv[1:] else path
        checked.append(path)
        check_file(path, prefixes, fcgi_names, findings, used)
    for module in prefixes:
        if not argv[1:] and not any(module_of(p) == module for p in files):
            findings.append((os.path.relpath(PREFIXES, ROOT), 0, 'prefix-table', module,
                             'no such module: delete its line'))
    main_exit(allow.report(findings, set(checked)), 'checksrc')


if __name__ == '__main__':
    main(sys.argv)
