"""Man pages (roff source) to plain text, in Python.

Rendering 800+ pages through `man`/groff costs minutes on two cores; the sample only needs the
words, so this keeps text lines, turns section and paragraph macros into headings and blank lines,
and drops font changes, comments and layout requests.
"""

from __future__ import annotations

import re
import shlex

_NAMED = {
    "em": "—", "en": "–", "hy": "-", "bu": "•", "lq": "“", "rq": "”", "oq": "‘", "cq": "’",
    "aq": "'", "dq": '"', "co": "©", "rg": "®", "tm": "™", "de": "°", "mu": "×", "di": "÷",
    "+-": "±", "<=": "≤", ">=": "≥", "!=": "≠", "->": "→", "<-": "←", "ti": "~", "ha": "^",
    "rs": "\\", "sl": "/", "ba": "|", "at": "@", "sh": "#", "Do": "$", "lB": "[", "rB": "]",
    "lC": "{", "rC": "}", "pc": "·", "fm": "′", "sq": "□", "ga": "`", "aa": "´",
}
_ESCAPES = re.compile(
    r"\\(?:"
    r"f(?:\([A-Za-z0-9]{2}|\[[^\]]*\]|.)"       # font change
    r"|s[+-]?(?:\(\d\d|\[\d+\]|\d)"             # size change
    r"|\*(?:\([A-Za-z0-9]{2}|\[[^\]]*\]|.)"     # string reference
    r"|n[+-]?(?:\([A-Za-z0-9]{2}|\[[^\]]*\]|.)"  # number register
    r"|\((..)"                                  # \(xx named character
    r"|\[([^\]]*)\]"                            # \[name] named character
    r"|[kmhvwlLxXoZbDR]'[^']*'"                 # motions, widths, overstrikes
    r"|(.)"                                     # one-character escape
    r")"
)
_SIMPLE = {"-": "-", "e": "\\", "\\": "\\", " ": " ", "~": " ", "0": " ", "t": "\t", ".": ".", "'": "'", "`": "`"}
_FONT_MACROS = {"B", "I", "SM", "SB"}
_ALT_MACROS = {"BR", "RB", "BI", "IB", "IR", "RI"}
_PARA = {"PP", "P", "LP", "sp", "HP", "TQ", "Sp"}
_HEADINGS = {"SH", "SS", "Sh", "Ss"}


def _unescape(line: str) -> str:
    line = line.split('\\"', 1)[0]

    def sub(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return _NAMED.get(m.group(1), "")
        if m.group(2) is not None:
            name = m.group(2)
            if name.startswith("u") and re.fullmatch(r"u[0-9A-Fa-f]{4,6}", name):
                return chr(int(name[1:], 16))
            return _NAMED.get(name, "")
        if m.group(3) is not None:
            return _SIMPLE.get(m.group(3), "")
        return ""

    return _ESCAPES.sub(sub, line)


def _args(rest: str) -> list[str]:
    try:
        return shlex.split(rest, posix=True)
    except ValueError:
        return rest.split()


def roff_to_text(src: str) -> str:
    """Plain text of a man page; `.so` redirections and macro definitions yield nothing."""
    out: list[str] = []
    skip_until: str | None = None
    for raw in src.split("\n"):
        if skip_until is not None:
            if raw.strip() == skip_until:
                skip_until = None
            continue
        if raw[:1] in (".", "'"):
            body = raw[1:].lstrip()
            if body.startswith('\\"') or not body:
                continue
            name, _, rest = body.partition(" ")
            name = name.rstrip()
            if name in ("de", "de1", "am", "ig"):
                skip_until = ".." if name != "ig" or not rest.strip() else "." + rest.strip()
                continue
            if name == "so":
                return ""
            if name == "TH":
                a = _args(_unescape(rest))
                if a:
                    out.append(f"{a[0]}({a[1]})" if len(a) > 1 else a[0])
                    out.append("")
            elif name in _HEADINGS:
                out.extend(["", " ".join(_args(_unescape(rest))), ""])
            elif name in _PARA or name == "TP":
                out.append("")
            elif name == "IP":
                a = _args(_unescape(rest))
                out.append("")
                if a and a[0].strip():
                    out.append(a[0])
            elif name == "br":
                out.append("")
            elif name in _FONT_MACROS:
                out.append(" ".join(_args(_unescape(rest))))
            elif name in _ALT_MACROS:
                out.append("".join(_args(_unescape(rest))))
            elif name in ("UR", "MT"):
                out.append(_unescape(rest).strip())
            elif name in ("Nm", "Nd", "Ar", "Fl", "Pa", "Xr", "Dt", "Em", "Sy", "Cm", "Va", "Fn", "Ft", "Dv", "It"):
                # mdoc (BSD) macros: keep their words
                out.append(" ".join(_args(_unescape(rest))))
            continue
        out.append(_unescape(raw))
    text = "\n".join(out)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
