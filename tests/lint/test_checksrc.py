"""Tests of checksrc.py's rules on small C files (run by `make lint`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checksrc  # noqa: E402

PREFIXES = {'lib/json_util': 'jsonu_'}


def check(tmp_path, monkeypatch, path, text):
    monkeypatch.setattr(checksrc, 'ROOT', str(tmp_path))
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text)
    findings = []
    checksrc.check_file(path, PREFIXES, {'FCGI_STDOUT'}, findings, set())
    return sorted((f[1], f[2], f[3]) for f in findings)


def test_banned_calls_not_in_comments_or_strings(tmp_path, monkeypatch):
    got = check(tmp_path, monkeypatch, 'lib/zz.c', '/*\n * zz: x.\n */\n'
                'static int f(char *b) { return sprintf(b, "strcpy(x)"); } /* atoi( */\n'
                'static int g(void) { return s.atoi(1) + p->atol(2); }\n')
    assert got == [(4, 'banned', 'sprintf')]


def test_mt_unsafe_only_in_threaded_folders(tmp_path, monkeypatch):
    src = '/*\n * zz: x.\n */\nstatic void f(void) { localtime(0); getenv("A"); }\n'
    assert check(tmp_path, monkeypatch, 'memdumpd/zz.c', src) == [(4, 'mt-unsafe', 'localtime')]
    assert check(tmp_path, monkeypatch, 'admin/zz.c', src) == []


def test_header_comment(tmp_path, monkeypatch):
    assert check(tmp_path, monkeypatch, 'lib/zz.h', '#ifndef X\n') == [(1, 'header', 'zz')]
    assert check(tmp_path, monkeypatch, 'lib/zz.h', '/* other: x */\n') == [(1, 'header', 'zz')]
    assert check(tmp_path, monkeypatch, 'poller/main.c', '/*\n * memdump-poller: x\n */\n') == []


def test_prefixes_and_table(tmp_path, monkeypatch):
    got = check(tmp_path, monkeypatch, 'lib/zz.h', '/* zz: x */\n'
                'struct zz *zz_new(void);\nvoid zz(void);\nint other_thing(int a,\n  int b);\n'
                'typedef int (*zz_fn)(void);\nstruct zz { int (*cb)(void); };\n'
                'extern const char *const bad_names[];\n'
                'void zz_log(const char *f, ...) __attribute__((format(printf, 1, 2)));\n')
    assert got == [(4, 'prefix', 'other_thing'), (8, 'prefix', 'bad_names')]
    got = check(tmp_path, monkeypatch, 'lib/json_util.c', '/* json_util: x */\n'
                'int jsonu_a(void) { return 0; }\nint json_util_b(void) { return 0; }\n'
                'static int c(void) { return 0; }\nint main(void) { return c(); }\n')
    assert got == [(3, 'prefix', 'json_util_b')]


def test_fcgi_literals(tmp_path, monkeypatch):
    src = '/* zz: x */\nstatic void f(unsigned char *h) { h[1] = 6; /* FCGI_STDOUT */ }\n'
    assert check(tmp_path, monkeypatch, 'fcgi/zz.c', src) == [(2, 'fcgi-const', 'FCGI_STDOUT')]


def test_escapes(tmp_path, monkeypatch):
    got = check(tmp_path, monkeypatch, 'lib/zz.c', '/* zz: x */\n'
                'static void a(char *s) { strcat(s, "x"); } /* lint: allow banned(strcat): ok */\n'
                '/* lint: allow banned(gets): the next line */\n'
                'static void b(char *s) { gets(s); }\n'
                '/* lint: allow banned(atoi): nothing here */\n'
                'static void c(void) { }\n'
                'static void d(char *s) { strcpy(s, ""); } /* lint: allow (no rule) */\n')
    assert got == [(5, 'allow-unused', 'banned(atoi)'), (7, 'allow-syntax', 'allow (no rule)'),
                   (7, 'banned', 'strcpy')]
