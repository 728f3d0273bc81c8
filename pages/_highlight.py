"""A small syntax highlighter for code snippets: splits each line into (text, kind) pieces that the page
renders as ``<span class="tok-<kind>">`` children — text only, never markup.

Line by line with one regular expression per language family (comments, strings, numbers, keywords);
a string or comment that spans lines is coloured only on its first line, which is good enough for a
snippet around a failing line.
"""
from __future__ import annotations

import re

_KEYWORDS = {
    "python": "False None True and as assert async await break class continue def del elif else except finally "
              "for from global if import in is lambda nonlocal not or pass raise return try while with yield "
              "match case",
    "javascript": "async await break case catch class const continue debugger default delete do else export extends "
                  "false finally for function if import in instanceof let new null return super switch this throw "
                  "true try typeof undefined var void while with yield of interface type enum implements",
    "bash": "if then else elif fi for while until do done case esac function in return local export set unset "
            "echo exit source",
    "sql": "select from where and or not insert into values update set delete create table index drop alter join "
           "left right inner outer on group by order having limit as null is in like between distinct union",
    "go": "break case chan const continue default defer else fallthrough for func go goto if import interface map "
          "package range return select struct switch type var nil true false",
    "ruby": "begin end def class module if elsif else unless while until for in do return yield nil true false self "
            "rescue ensure raise require",
}
_ALIASES = {"py": "python", "python3": "python", "js": "javascript", "ts": "javascript", "typescript": "javascript",
            "node": "javascript", "jsx": "javascript", "tsx": "javascript", "sh": "bash", "shell": "bash",
            "zsh": "bash", "rb": "ruby", "golang": "go", "postgresql": "sql", "mysql": "sql"}
_HASH_COMMENT = ("python", "bash", "ruby")


def _pattern(lang: str) -> re.Pattern[str]:
    comment = r"#.*" if lang in _HASH_COMMENT else r"--.*" if lang == "sql" else r"//.*|/\*.*?(?:\*/|$)"
    words = "|".join(sorted(_KEYWORDS[lang].split(), key=len, reverse=True))
    flags = re.IGNORECASE if lang == "sql" else 0
    return re.compile(
        rf"(?P<com>{comment})"
        r"|(?P<str>\"(?:\\.|[^\"\\])*\"?|'(?:\\.|[^'\\])*'?|`(?:\\.|[^`\\])*`?)"
        r"|(?P<num>\b\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?\b)"
        rf"|(?P<kw>\b(?:{words})\b)"
        r"|(?P<fn>\b[A-Za-z_]\w*(?=\())",
        flags,
    )


_PATTERNS = {lang: _pattern(lang) for lang in _KEYWORDS}


def language(name: str | None) -> str | None:
    """The highlighter's name for a language, or None when it has no rules for it."""
    key = (name or "").strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in _PATTERNS else None


def highlight_line(line: str, lang: str | None) -> list[tuple[str, str | None]]:
    """``line`` cut into pieces, each with its token kind (com, str, num, kw, fn) or None for plain text."""
    pattern = _PATTERNS.get(lang or "")
    if pattern is None or not line:
        return [(line, None)]
    out: list[tuple[str, str | None]] = []
    pos = 0
    for m in pattern.finditer(line):
        if m.start() > pos:
            out.append((line[pos:m.start()], None))
        out.append((m.group(0), m.lastgroup))
        pos = m.end()
    if pos < len(line):
        out.append((line[pos:], None))
    return out
