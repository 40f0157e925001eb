"""The class report: scores, item analysis and flagged submissions, as one HTML page.

It reads nbgrader's gradebook (autograded and manual scores) and the
``grading.json`` record the autograder leaves beside each notebook, then writes
``report.html`` (plots embedded as PNG, so the file can be mailed or archived)
with ``questions.csv`` and ``flags.csv`` beside it.

Item analysis, as in classical test theory:

* **difficulty** of a question: the mean share of its points the class earned
  (1.0 = everyone got it, 0.0 = nobody did);
* **discrimination**: the correlation between the score on the question and the
  score on the *rest* of the assignment (corrected item–total correlation). Near
  zero or negative, the question does not separate stronger from weaker work:
  read it again.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from dataethics.errors import DataethicsError
from dataethics.plotting import BAD, GOOD, PALETTE

#: Flag categories, in the order the report lists them, and the words that identify them.
CATEGORIES = {
    "missing": ("missing notebook",),
    "invalid": ("invalid notebook",),
    "timeout": ("time limit", "exceeded"),
    "crash": ("kernel died", "execution failed", "worker failed"),
    "memory": ("memory limit",),
    "tampering": ("tampering", "tampered with the grader", "edited locked", "edited test", "deleted",
                  "changed the type", "reordered"),
    "attack": ("sys.exit", "os._exit", "signals", "shell", "subprocess", "interrupts", "replaces",
               "setattr", "instructor files", "network", "suspicious code", "too long"),
    "renamed": ("wrong file name",),
    "late": ("late by", "late penalty"),
    "huge output": ("huge output",),
}
LOCKED_EDITS = ("edited locked", "edited test", "deleted", "changed the type", "reordered")


def category(flag: str) -> str:
    """The category of one flag.

    >>> category("notebook time limit (180 s) reached")
    'timeout'
    """
    low = flag.lower()
    for name, words in CATEGORIES.items():
        if any(w in low for w in words):
            return name
    return "other"


def grade_table(course_root: Path, db_url: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """One row per student, assignment and graded cell, from the gradebook; and every student id."""
    from nbgrader.api import Gradebook

    from dataethics.grading.course import existing_gradebook

    rows = []
    with Gradebook(existing_gradebook(course_root, db_url)) as gb:
        students = sorted(s.id for s in gb.students)
        for assignment in gb.assignments:
            for sub in gb.assignment_submissions(assignment.name):
                for nb in sub.notebooks:
                    for g in nb.grades:
                        rows.append({"assignment": assignment.name, "student": sub.student.id,
                                     "notebook": nb.name, "question": g.name,
                                     "kind": "auto" if g.cell_type == "code" else "manual",
                                     "score": float(g.score), "max_score": float(g.max_score),
                                     "needs_manual": bool(g.needs_manual_grade)})
    columns = ["assignment", "student", "notebook", "question", "kind", "score", "max_score",
               "needs_manual"]
    return pd.DataFrame(rows, columns=columns), students


def class_totals(grades: pd.DataFrame, students: list[str]) -> pd.DataFrame:
    """Autograded and total points per assignment and student; a student with no submission has 0."""
    auto = grades[grades["kind"] == "auto"]
    parts = {
        "auto": auto.groupby(["assignment", "student"])["score"].sum(),
        "total": grades.groupby(["assignment", "student"])["score"].sum(),
        "pending": grades[grades["needs_manual"]].groupby(["assignment", "student"])["score"].size(),
    }
    maxima = {
        "auto_max": auto.groupby(["assignment", "student"])["max_score"].sum().groupby("assignment").max(),
        "total_max": grades.groupby(["assignment", "student"])["max_score"].sum()
        .groupby("assignment").max(),
    }
    index = pd.MultiIndex.from_product([sorted(grades["assignment"].unique()), students],
                                       names=["assignment", "student"])
    table = pd.DataFrame({k: v.reindex(index) for k, v in parts.items()})
    table["submitted"] = table["total"].notna()
    table = table.fillna(0).reset_index()
    for key, values in maxima.items():
        table[key] = table["assignment"].map(values)
    table["auto_percent"] = 100 * table["auto"] / table["auto_max"].where(table["auto_max"] > 0)
    table["percent"] = 100 * table["total"] / table["total_max"].where(table["total_max"] > 0)
    return table


def collect_table(course_root: Path) -> pd.DataFrame:
    """What the last collect of each assignment reported (``reports/collect-<assignment>.csv``)."""
    frames = []
    for path in sorted(Path(course_root).glob("reports/collect-*.csv")):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
            continue
        frames.append(frame.assign(assignment=path.stem.removeprefix("collect-")))
    columns = ["assignment", "file", "action", "reason", "needs_instructor"]
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)
    return table.reindex(columns=columns).sort_values(["needs_instructor", "assignment"],
                                                       ascending=[False, True], kind="stable")


def flag_table(course_root: Path) -> pd.DataFrame:
    """One row per flag raised by the autograder (from the ``grading.json`` records)."""
    rows = []
    for record in sorted(Path(course_root).glob("autograded/*/*/grading.json")):
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            rows.append({"assignment": record.parent.name, "student": record.parent.parent.name,
                         "status": "unknown", "category": "other", "flag": "unreadable grading record"})
            continue
        flags = list(data.get("flags", []))
        if data.get("status", "ok") != "ok" and not flags:
            flags = [data["status"]]
        for flag in flags:
            rows.append({"assignment": data.get("assignment", record.parent.name),
                         "student": data.get("student", record.parent.parent.name),
                         "status": data.get("status", "ok"), "category": category(flag), "flag": flag})
    return pd.DataFrame(rows, columns=["assignment", "student", "status", "category", "flag"])


def item_analysis(grades: pd.DataFrame) -> pd.DataFrame:
    """Difficulty and discrimination of every autograded question, and of written ones once graded."""
    out = []
    pending = set(grades.loc[grades["needs_manual"], "question"] + "@" +
                  grades.loc[grades["needs_manual"], "assignment"])
    done = grades[(grades["kind"] == "auto") |
                  ~(grades["question"] + "@" + grades["assignment"]).isin(pending)]
    kinds = done.drop_duplicates(["assignment", "question"]).set_index(["assignment", "question"])["kind"]
    for assignment, part in done.groupby("assignment"):
        wide = part.pivot_table(index="student", columns="question", values="score", aggfunc="sum")
        maxima = part.groupby("question")["max_score"].max()
        total = wide.sum(axis=1)
        for question in wide.columns:
            item = wide[question]
            rest = total - item
            disc = item.corr(rest) if item.std() > 0 and rest.std() > 0 else float("nan")
            out.append({"assignment": assignment, "question": question,
                        "kind": kinds[(assignment, question)], "students": int(item.size),
                        "difficulty": float(item.mean() / maxima[question]) if maxima[question] else 0.0,
                        "discrimination": float(disc)})
    return pd.DataFrame(out, columns=["assignment", "question", "kind", "students", "difficulty",
                                      "discrimination"])


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _img(fig: Figure, alt: str) -> str:
    return f'<img src="data:image/png;base64,{_png(fig)}" alt="{html.escape(alt)}">'


def plot_scores(totals: pd.DataFrame) -> Figure:
    """Histogram of the autograded percentage of each assignment (one panel each)."""
    names = sorted(totals["assignment"].unique())
    fig = Figure(figsize=(2.6 * max(len(names), 1), 2.8), layout="constrained")
    axes = fig.subplots(1, max(len(names), 1), sharey=True, squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        pct = totals.loc[totals["assignment"] == name, "auto_percent"]
        ax.hist(pct, bins=range(0, 101, 10), color=GOOD, edgecolor="white")
        ax.axvline(pct.median(), color=BAD, linestyle="--", label="median")
        ax.set_title(f"{name} (n={len(pct)})")
        ax.set_xlabel("autograded score (%)")
    axes[0].set_ylabel("students")
    axes[0].legend(frameon=False, loc="upper left")
    return fig


def plot_items(items: pd.DataFrame) -> Figure:
    """Difficulty (bars) and discrimination (dots) of every autograded question."""
    labels = [f"{a} {q}" + (" (written)" if k == "manual" else "")
              for a, q, k in zip(items["assignment"], items["question"], items["kind"], strict=True)]
    fig = Figure(figsize=(7.5, 0.32 * len(labels) + 1.2), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    y = range(len(labels))
    left.barh(list(y), items["difficulty"], color=GOOD)
    left.set_yticks(list(y), labels)
    left.invert_yaxis()
    left.set_xlim(0, 1)
    left.set_xlabel("difficulty (share of points earned)")
    disc = items["discrimination"]
    colours = [BAD if (pd.isna(d) or d < 0.2) else PALETTE["green"] for d in disc]
    right.scatter(disc.fillna(0), list(y), color=colours)
    right.axvline(0.2, color="grey", linestyle=":")
    right.set_xlim(-1, 1)
    right.set_xlabel("discrimination (item–rest correlation)")
    return fig


def plot_flags(flags: pd.DataFrame) -> Figure:
    """Number of flagged submissions per category."""
    counts = flags.drop_duplicates(["assignment", "student", "category"])["category"].value_counts()
    fig = Figure(figsize=(6, 0.35 * max(len(counts), 1) + 1), layout="constrained")
    ax = fig.subplots()
    ax.barh(list(counts.index), list(counts.values), color=BAD)
    ax.invert_yaxis()
    ax.set_xlabel("flagged submissions")
    return fig


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p>None.</p>"
    return df.to_html(index=False, escape=True, border=0, classes="data", float_format="{:.2f}".format)


STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.45}table.data{border-collapse:collapse;margin:.5rem 0 1.5rem}
table.data td,table.data th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}
img{max-width:100%;height:auto}h2{margin-top:2.2rem}.note{color:#444}"""


def write_report(course_root: Path, out_dir: Path | None = None, db_url: str | None = None) -> Path:
    """Write ``report.html``, ``questions.csv`` and ``flags.csv``; return the HTML file."""
    course_root = Path(course_root).resolve()
    grades, students = grade_table(course_root, db_url)
    if grades.empty:
        raise DataethicsError(f"the gradebook of {course_root} holds no graded submission yet")
    out_dir = Path(out_dir) if out_dir is not None else course_root / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    items = item_analysis(grades)
    totals = class_totals(grades, students)
    flags = flag_table(course_root)
    absent = totals.loc[~totals["submitted"], ["assignment", "student"]]
    if not absent.empty:  # not in the LMS download or the exchange at all
        flags = pd.concat([flags, absent.assign(status="missing", category="missing",
                                                flag="no submission collected")], ignore_index=True)
    summary = totals.groupby("assignment").agg(
        students=("student", "nunique"), submitted=("submitted", "sum"),
        autograded_mean_percent=("auto_percent", "mean"),
        autograded_median_percent=("auto_percent", "median"),
        written_answers_to_grade=("pending", "sum")).reset_index()
    items.to_csv(out_dir / "questions.csv", index=False)
    flags.to_csv(out_dir / "flags.csv", index=False)
    locked = flags[flags["flag"].str.contains("|".join(LOCKED_EDITS), regex=True)]
    tamper = (locked.groupby(["assignment", "student"])["flag"].agg("; ".join).reset_index()
              .rename(columns={"flag": "changes to locked cells (compared with the released notebook)"}))
    review = (flags[flags["flag"].str.contains("tampered with the grader", regex=False)]
              .groupby(["assignment", "student"])["flag"].agg("; ".join).reset_index()
              .rename(columns={"flag": "what the submission changed in the grading kernel"}))
    why = (flags.groupby(["assignment", "student", "status"])
           .agg(categories=("category", lambda s: ", ".join(sorted(set(s)))),
                why=("flag", "; ".join)).reset_index())
    weak = items[(items["discrimination"] < 0.2) | items["discrimination"].isna()]
    by_student = (totals.pivot(index="student", columns="assignment", values="auto_percent")
                  .fillna(0).round().astype(int).add_suffix(" (%)"))
    by_student.columns.name = None
    by_student["flags"] = flags.groupby("student").size().reindex(by_student.index).fillna(0).astype(int)
    by_student = by_student.reset_index()
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Grading report</title>", f"<style>{STYLE}</style></head><body>",
        "<h1>Grading report</h1>",
        f"<p class='note'>{len(students)} students, {len(summary)} assignment(s), "
        f"{why['student'].nunique() if not why.empty else 0} student(s) with at least one flag. "
        "A student with no submission counts zero. Written answers are graded by hand in "
        "formgrader; the exports include the manual scores entered so far.</p>",
        "<h2>Scores</h2>", _table(summary),
        _img(plot_scores(totals), "Histograms of the autograded percentage score of each "
             "assignment, with the median marked by a dashed line."),
        "<h2>Questions: difficulty and discrimination</h2>",
        "<p class='note'>Difficulty is the share of the points the class earned. Discrimination is "
        "the correlation between a question and the rest of the assignment; below 0.2 (red dots) "
        "the question hardly separates stronger from weaker work.</p>",
        _img(plot_items(items), "Bar chart of the difficulty of each question and dot plot of its "
             "discrimination; weak questions are shown in red.") if not items.empty else "",
        _table(items),
        "<h3>Questions to review</h3>", _table(weak),
        "<h2>For manual review: tampered with the grader</h2>",
        "<p class='note'>While these notebooks ran, the grader found its machinery changed "
        "(exception handlers, transformers, hooks, library functions…) and restored it; every "
        "test cell from that point on scored zero. Read the notebook before deciding.</p>",
        _table(review),
        "<h2>Flagged submissions</h2>",
        _img(plot_flags(flags), "Bar chart of the number of flagged submissions in each category.")
        if not flags.empty else "",
        _table(why),
        "<h2>Students</h2>",
        "<p class='note'>Autograded percentage per assignment, and the number of flags.</p>",
        _table(by_student),
        "<h2>Collection</h2>",
        "<p class='note'>What collecting the LMS downloads did beyond copying a submission: files "
        "put aside (ids not in the mapping, names the LMS did not write), older uploads replaced, "
        "group submissions shared, submission times recorded. Lines marked <em>yes</em> need you "
        "(the collect command then exits with code 1).</p>",
        _table(collect_table(course_root)),
        "<h2>Tamper report</h2>",
        "<p class='note'>Locked cells the student changed, found by comparing the submission with "
        "the released notebook. No edit can earn points (every notebook is rebuilt from the "
        "instructor's source), but an edit is worth a conversation.</p>",
        _table(tamper),
        "</body></html>",
    ]
    page = out_dir / "report.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
