#!/usr/bin/env python3
"""Writes the section 3 man pages from docs/api.md, the one reference.

    docs/man.py OUT_DIR          (make man: OUT_DIR is BUILD/man/man3)

A page for each entry of api.md that begins with signatures (a "###"
heading, or a "##" heading followed directly by them): NAME from the
functions its signatures declare, SYNOPSIS from the signatures,
DESCRIPTION from the prose (paragraphs, lists and errno tables), and SEE
ALSO the other pages of its section.  Each further function of a page
gets a page of its own that sources it (.so), so that `man green_send`
opens green_read's page.  Plain roff with the man macros; test/man.sh
checks that every public function has a page and that groff renders each
without a warning.
"""
import os
import re
import sys

API = os.path.join(os.path.dirname(os.path.abspath(__file__)), "api.md")
FUNC = re.compile(r"\b(green_[a-z0-9_]+)\s*\(")
DATE = "2026-12-01"


def esc(text):
    """Roff-escapes a line of text, with markdown's inline markup turned
    into fonts: `code` and **bold** bold, *emphasis* italic."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    return "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)


def line(text):
    """A text line that cannot be taken for a request."""
    return "\\&" + text if text[:1] in (".", "'") else text


def entries(md):
    """(section, title, signatures, body lines) for each entry."""
    lines = md.splitlines()
    section, i = "", 0
    while i < len(lines):
        l = lines[i]
        if l.startswith("## ") or l.startswith("### "):
            level, title = l.split(" ", 1)
            if level == "##":
                section = title
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            sig = []
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                sig.append(lines[j][4:])
                j += 1
            while sig and not sig[-1].strip():
                sig.pop()
            names = [n for s in sig for n in FUNC.findall(s) if "(*" not in s.split(n)[0][-3:]]
            body = []
            k = j
            while k < len(lines) and not lines[k].startswith("## ") and not lines[k].startswith("### "):
                body.append(lines[k])
                k += 1
            if names:
                yield section, title, sig, names, body
            i = j
            continue
        i += 1


def declared(sig):
    """The functions the signatures declare (not those they take)."""
    names = []
    for s in sig:
        m = re.match(r"\s*[\w\s\*]*?\b(green_[a-z0-9_]+)\s*\(", s)
        if m and m.group(1) not in names:
            names.append(m.group(1))
    return names


def description(body):
    out, para = [], []

    def flush():
        if para:
            out.append(".PP")
            out.extend(line(esc(p)) for p in para)
            para.clear()

    rows = []
    for l in body:
        s = l.rstrip()
        if s.startswith("|"):
            flush()
            cells = [c.strip() for c in s.strip("|").split("|")]
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            rows.append(cells)
            continue
        if rows:
            out.extend(table(rows))
            rows = []
        if not s:
            flush()
        elif s.startswith("    "):
            flush()
            out.append(".PP")
            out.append(".RS 4")
            out.append(".nf")
            out.append(line(esc(s[4:]).replace("\\fB", "").replace("\\fR", "")))
            out.append(".fi")
            out.append(".RE")
        elif re.match(r"\s*[-*] ", s) or re.match(r"\s*\d+\. ", s):
            flush()
            out.append(".IP \\(bu 2")
            out.append(line(esc(re.sub(r"^\s*([-*]|\d+\.) ", "", s))))
        elif s.startswith("  ") and out and out[-1] and not para:
            out.append(line(esc(s.strip())))  # a list item's next line
        else:
            para.append(s.strip())
    flush()
    if rows:
        out.extend(table(rows))
    # Code blocks run together: join the .nf runs.
    text = "\n".join(out)
    text = text.replace(".fi\n.RE\n.PP\n.RS 4\n.nf\n", "")
    return text.splitlines()


def table(rows):
    """A markdown table as tagged paragraphs: the first column the tag."""
    out = [".PP"]
    head, rows = rows[0], rows[1:]
    out.append(line(esc(" \u2014 ".join(head))) if len(head) > 1 else line(esc(head[0])))
    for r in rows:
        out.append(".TP")
        out.append(line(esc(r[0])))
        out.append(line(esc(" ".join(r[1:]))))
    return out


def page(section, title, sig, names, body, see_also):
    main = names[0]
    para, started = [], False
    for b in body:
        if b.strip() and not b.startswith(("|", "    ")):
            para.append(b.strip())
            started = True
        elif started:
            break
    summary = re.split(r"(?<=[.:])\s", " ".join(para), maxsplit=1)[0].rstrip(".:")
    if summary.count("(") > summary.count(")"):
        summary = summary[:summary.rindex("(")].rstrip(" ,")
    summary = re.sub(r"[`*]", "", summary) or section
    out = [f'.TH {main.upper()} 3 "{DATE}" "libgreen 0.2" "libgreen Manual"',
           ".SH NAME",
           ", ".join(names) + " \\- " + esc(summary),
           ".SH SYNOPSIS",
           ".nf",
           "#include <green.h>",
           ""]
    out += [line(esc(s).replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")) for s in sig]
    out += [".fi", ".PP", "Link with \\fB\\-lgreen\\fR (\\fBpkg\\-config \\-\\-libs green\\fR).",
            ".SH DESCRIPTION"]
    out += description(body)
    out += [".SH SEE ALSO"]
    refs = [f"\\fB{r}\\fR(3)" for r in see_also if r != main]
    out.append(", ".join(refs + ["the libgreen API reference, docs/api.md"]))
    return "\n".join(out) + "\n"


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    found = list(entries(open(API).read()))
    by_section = {}
    for sec, title, sig, names, body in found:
        names = declared(sig) or names
        by_section.setdefault(sec, []).append(names[0])
    written = 0
    for sec, title, sig, names, body in found:
        names = declared(sig) or names
        with open(os.path.join(outdir, names[0] + ".3"), "w") as f:
            f.write(page(sec, title, sig, names, body, by_section[sec]))
        for other in names[1:]:
            with open(os.path.join(outdir, other + ".3"), "w") as f:
                f.write(f".so man3/{names[0]}.3\n")
        written += len(names)
    print(f"man.py: {written} pages in {outdir}")


if __name__ == "__main__":
    main()
