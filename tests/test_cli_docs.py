"""The command line and its documentation agree.

Every option the code accepts (the getopt tables of tools/*.c, the -o
options of fuse/main.c) is described by the command's --help, by the man
page and, for the daemon, by the README's option table; and a short option
means the same thing in every ctfs-tool command.
"""
import os
import re
import subprocess

import pytest

from conftest import binary

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)

# source file -> the command whose --help describes its options
TOOL_FILES = {
    "cmd_keygen.c": ["keygen"], "cmd_key.c": ["key"], "cmd_encrypt.c": ["encrypt"],
    "cmd_inspect.c": ["inspect"], "cmd_verify.c": ["verify"],
    "cmd_decrypt.c": ["decrypt"], "cmd_rewrap.c": ["rewrap"],
    "cmd_tgsp.c": ["tgsp"], "cmd_tgsp_read.c": ["tgsp"], "cmd_policy.c": ["policy"],
    "cmd_sign.c": ["sign"], "cmd_rollback.c": ["rollback"],
    "cmd_keyfetch.c": ["key fetch"], "cmd_keyd.c": ["keyd ca", "keyd issue"],
}
LONGOPT = re.compile(r'\{\s*"([a-z][a-z0-9-]*)",\s*(?:no|required|optional)_argument,\s*NULL,'
                     r"\s*('(.)'|\w+)\s*\}")
# an option line of a --help text: "  -X, --long ARG  text" or "      --long ARG"
HELP_LINE = re.compile(r"^\s{2,}(?:-([A-Za-z]),\s+)?--([a-z][a-z0-9-]*)")


def read(*parts):
    with open(os.path.join(SRC, *parts), encoding="utf-8") as f:
        return f.read()


def macros():
    """Option-table macros of tools/tool.h (NAME -> their text)."""
    text = read("tools", "tool.h")
    return {m.group(1): m.group(2) for m in
            re.finditer(r"#define (TOOL_\w+_LONGOPTS)\s*\\\n((?:.*\\\n)*.*\n)", text)}


def source_options(name):
    """[(long, short or None)] from a file's getopt_long tables (with the
    shared table macros of tool.h expanded); a letter is a short option
    only when an optstring of the file has it."""
    text = read("tools", name)
    for macro, body in macros().items():
        text = text.replace(macro, body)
    shorts = "".join(re.findall(r'getopt_long\(argc, argv, "([^"]*)"', text)).replace(":", "")
    return [(m.group(1), m.group(3) if m.group(3) and m.group(3) in shorts else None)
            for m in LONGOPT.finditer(text)]


def help_text(cmd):
    p = subprocess.run([binary("ctfs-tool")] + cmd.split() + ["--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def help_options(text):
    """{long: short or None} from the option lines of a --help text."""
    out = {}
    for line in text.splitlines():
        m = HELP_LINE.match(line)
        if m:
            out[m.group(2)] = m.group(1)
            # "--policy-local FILE, --policy-remote FILE": several per line
            for extra in re.findall(r",\s+--([a-z][a-z0-9-]*)", line):
                out.setdefault(extra, None)
    return out


def man_text(page):
    # roff escapes the dashes: \-\-name
    return read("man", page).replace("\\-", "-")


def man_sections(cmd):
    """The man page text that documents cmd: its .SS sections (all of
    "key add", "key list"... for "key") and the COMMON OPTIONS section."""
    text = man_text("ctfs-tool.1")
    parts = re.split(r"(?m)^(?=\.S[SH] )", text)
    keep = [p for p in parts if re.match(r"\.SS %s(\s|$)" % re.escape(cmd), p) or
            p.startswith(".SH COMMON OPTIONS")]
    return "".join(keep)


@pytest.mark.parametrize("fname", sorted(TOOL_FILES))
def test_every_tool_option_is_in_help_and_man(fname):
    for cmd in TOOL_FILES[fname]:
        man = man_sections(cmd)
        assert man, "no section for %s in man/ctfs-tool.1" % cmd
        helped = help_options(help_text(cmd))
        for long, short in source_options(fname):
            assert long in helped, "%s: --%s missing from '%s --help'" % (fname, long, cmd)
            assert helped[long] == short, \
                "%s: --%s is -%s in the code, -%s in --help" % (fname, long, short, helped[long])
            assert re.search(r"(?<![\w-])--%s(?![\w-])" % re.escape(long), man), \
                "--%s missing from the %s section of man/ctfs-tool.1" % (long, cmd)
            if short:
                assert re.search(r"-%s, --%s(?![\w-])" % (short, re.escape(long)), man) or \
                    re.search(r'-%s ", " --%s(?![\w-])' % (short, re.escape(long)), man), \
                    "-%s, --%s missing from the %s section of man/ctfs-tool.1" % (short, long, cmd)


def test_short_options_mean_the_same_in_every_command():
    meaning = {}
    for fname, cmds in TOOL_FILES.items():
        for long, short in source_options(fname):
            if short and short not in "h":
                meaning.setdefault(short, set()).add(long)
    clashes = {s: sorted(ls) for s, ls in meaning.items() if len(ls) > 1}
    assert not clashes, "short options with several meanings: %s" % clashes


def test_top_level_options_documented():
    man = man_text("ctfs-tool.1")
    top = help_text("")
    for opt in ("-h", "--help", "-V", "--version"):
        assert re.search(r"(?<![\w-])%s(?![\w-])" % opt, top), opt
        assert re.search(r"(?<![\w-])%s(?![\w-])" % opt, man), opt
    p = subprocess.run([binary("ctfs-tool"), "-V"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("ctfs-tool ")


def test_every_daemon_option_is_in_man_and_readme():
    code = read("fuse", "main.c")
    opts = re.findall(r'OPT\("([a-z_]+)=%s"', code)
    flags = re.findall(r'OPT\("(-[A-Za-z]|--[a-z-]+)"', code)
    assert "keyring" in opts and "-h" in flags
    man = man_text("ctfs.1")
    readme = read("README.md")
    for o in opts:
        assert re.search(r"(?<![\w-])%s=" % o, man), "%s= missing from man/ctfs.1" % o
        assert "`%s=" % o in readme, "%s= missing from the README option table" % o
    for f in flags:
        assert re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(f), man), \
            "%s missing from man/ctfs.1" % f
        assert re.search(r"`%s`" % re.escape(f), readme), "%s missing from the README" % f
