"""Generated sections of a Markdown file: the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`.

Only what lies between a section's markers is ever rewritten, so the prose around it stays
as people wrote it:

    from benchmarks.markdown import replace_section
    replace_section("benchmarks/RESULTS.md", "memory", "| process | peak RSS |\\n...")
"""

import os

from benchmarks.results import write_whole


def section_markers(name):
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def read_section(path, name):
    """The body of section `name` of the file at `path`, or None where it has none."""
    start, end = section_markers(name)
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if start not in text or end not in text:
        return None
    return text[text.index(start) + len(start): text.index(end)].strip("\n")


def replace_section(path, name, body, title="# Benchmark results\n"):
    """Replaces the `name` section of the Markdown file at `path` with `body`, in one write.

    A file without the section gets it appended under a `## name` heading (a new file starts
    with `title`).
    """
    start, end = section_markers(name)
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else title
    section = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n## {name}\n\n{section}\n"
    write_whole(path, text.encode("utf-8"))
