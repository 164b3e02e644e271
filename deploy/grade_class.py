"""Autograde a whole class, in parallel when one process is too slow, and time it.

    python deploy/grade_class.py grade ASSIGNMENT [ASSIGNMENT ...] [--course DIR] [--jobs N]
    python deploy/grade_class.py benchmark [--students 50] [--jobs 2] [--assignments A B]

`grade` runs `nbgrader autograde` on every submission in the course's submitted/ folder.
With --jobs 1 that is nbgrader itself.  With --jobs N > 1 the students are dealt into N
shards; each shard is a private copy of the course (its config, the assignment's source,
a copy of gradebook.db and the shard's submitted/ folders) autograded by its own nbgrader
process.  nbgrader's gradebook is SQLite, which takes one writer at a time, so no two
processes ever write the same database: when the workers are done their rows (student,
submitted_assignment, submitted_notebook, grade, comment) are copied into the course's
gradebook one shard after another, and their autograded/ folders moved into the course.

`benchmark` builds a synthetic class in a temporary course: --students students each
submit the given assignments (by default the two slowest to autograde, measured first),
a seeded mix of full, partial, blank and broken notebooks.  It grades the class once with
one process and once with --jobs processes, checks that both give every student the same
score, and prints the wall times and the throughput in submissions per minute (also written
to build/benchmarks/grading.json).
"""
import argparse
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from traitlets.config.loader import PyFileConfigLoader

REPO = Path(__file__).resolve().parent.parent
NBGRADER = Path(sys.executable).parent / "nbgrader"
# Rows that autograde writes for a student, parent tables first.
SUBMISSION_TABLES = ("submitted_assignment", "submitted_notebook", "grade", "comment")
KINDS = {"full": 0.4, "partial": 0.3, "blank": 0.15, "broken": 0.15}


# ---------------------------------------------------------------------------- nbgrader


def nbgrader(*args, cwd, timeout=7200):
    """Run one nbgrader command in `cwd`; raise with its output when it fails."""
    env = dict(os.environ, PATH=f"{NBGRADER.parent}{os.pathsep}{os.environ.get('PATH', '')}")  # it calls alembic
    result = subprocess.run([str(NBGRADER), *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} in {cwd} exited {result.returncode}:\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def course_dirs(course):
    """(source, submitted, autograded) folder names from the course's nbgrader_config.py."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config().CourseDirectory
    return (config.get("source_directory", "source"), config.get("submitted_directory", "submitted"),
            config.get("autograded_directory", "autograded"))


def submitting_students(course, assignments):
    """Students with a submission of any of the assignments, sorted."""
    _, submitted, _ = course_dirs(course)
    return sorted(p.name for p in (course / submitted).iterdir()
                  if p.is_dir() and any((p / a).is_dir() for a in assignments))


# ---------------------------------------------------------------------------- parallel grading


def make_shard(course, shard_dir, students, assignments):
    """A private copy of the course holding only these students' submissions."""
    source, submitted, _ = course_dirs(course)
    shard_dir.mkdir(parents=True)
    shutil.copy2(course / "nbgrader_config.py", shard_dir / "nbgrader_config.py")
    shutil.copy2(course / "gradebook.db", shard_dir / "gradebook.db")
    for assignment in assignments:
        shutil.copytree(course / source / assignment, shard_dir / source / assignment)
        for student in students:
            folder = course / submitted / student / assignment
            if folder.is_dir():
                shutil.copytree(folder, shard_dir / submitted / student / assignment)


def merge_shard(course, shard_dir, students, assignments):
    """Copy a graded shard's gradebook rows and autograded/ folders into the course (one writer)."""
    _, _, autograded = course_dirs(course)
    db = sqlite3.connect(course / "gradebook.db")
    try:
        db.execute("ATTACH DATABASE ? AS shard", (str(shard_dir / "gradebook.db"),))
        marks = ",".join("?" * len(students))
        columns = {t: ", ".join(r[1] for r in db.execute(f"PRAGMA main.table_info({t})"))
                   for t in ("student", *SUBMISSION_TABLES)}
        db.execute(f"INSERT OR IGNORE INTO main.student ({columns['student']}) "
                   f"SELECT {columns['student']} FROM shard.student WHERE id IN ({marks})", students)
        for assignment in assignments:
            (assignment_id,) = db.execute("SELECT id FROM main.assignment WHERE name = ?", (assignment,)).fetchone()
            for schema in ("main", "shard"):  # the shard's rows replace the course's (a regrade)
                db.execute(f"CREATE TEMP TABLE {schema}_sa AS SELECT id FROM {schema}.submitted_assignment "
                           f"WHERE assignment_id = ? AND student_id IN ({marks})", (assignment_id, *students))
                db.execute(f"CREATE TEMP TABLE {schema}_sn AS SELECT id FROM {schema}.submitted_notebook "
                           f"WHERE assignment_id IN (SELECT id FROM {schema}_sa)")
            for table, key, ids in (("comment", "notebook_id", "sn"), ("grade", "notebook_id", "sn"),
                                    ("submitted_notebook", "id", "sn"), ("submitted_assignment", "id", "sa")):
                db.execute(f"DELETE FROM main.{table} WHERE {key} IN (SELECT id FROM main_{ids})")
            for table, key, ids in (("submitted_assignment", "id", "sa"), ("submitted_notebook", "id", "sn"),
                                    ("grade", "notebook_id", "sn"), ("comment", "notebook_id", "sn")):
                db.execute(f"INSERT INTO main.{table} ({columns[table]}) SELECT {columns[table]} "
                           f"FROM shard.{table} WHERE {key} IN (SELECT id FROM shard_{ids})")
            for name in ("main_sa", "main_sn", "shard_sa", "shard_sn"):
                db.execute(f"DROP TABLE temp.{name}")
        db.commit()
        db.execute("DETACH DATABASE shard")
    finally:
        db.close()
    for student in students:
        for assignment in assignments:
            graded = shard_dir / autograded / student / assignment
            if graded.is_dir():
                target = course / autograded / student / assignment
                shutil.rmtree(target, ignore_errors=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(graded), str(target))


def grade(course, assignments, jobs=1, extra_args=()):
    """Autograde every submission of `assignments` in `course`, with `jobs` processes."""
    course = Path(course).resolve()
    students = submitting_students(course, assignments)
    if jobs <= 1 or len(students) < 2:
        for assignment in assignments:
            nbgrader("autograde", assignment, *extra_args, cwd=course)
        return
    shards = [students[i::jobs] for i in range(jobs)]
    with tempfile.TemporaryDirectory(prefix="grade-shards-") as tmp:
        dirs = [Path(tmp) / f"shard{i}" for i in range(jobs)]
        for shard_dir, shard in zip(dirs, shards):
            make_shard(course, shard_dir, shard, assignments)

        def autograde(shard_dir):
            for assignment in assignments:
                nbgrader("autograde", assignment, *extra_args, cwd=shard_dir)

        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(autograde, dirs))  # re-raises the first failure
        for shard_dir, shard in zip(dirs, shards):
            merge_shard(course, shard_dir, shard, assignments)


# ---------------------------------------------------------------------------- synthetic class


def read_nb(path):
    return json.loads(Path(path).read_text())


def grade_id(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def submission(course, assignment, kind, rng):
    """A student notebook of the given kind: full, partial, blank or broken."""
    nb = read_nb(course / "exercises" / assignment / f"{assignment}.ipynb")
    if kind == "blank":
        return nb
    solution = {grade_id(c): c["source"] for c in read_nb(course / "solutions" / assignment / f"{assignment}.ipynb")["cells"]}
    answers = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    chosen = range(len(answers))
    if kind == "partial":  # a random non-empty, proper subset of the answers
        chosen = rng.choice(len(answers), size=rng.integers(1, len(answers)), replace=False)
    for i in chosen:
        answers[i]["source"] = solution[grade_id(answers[i])]
    if kind == "broken":  # a syntax error in one answer, or an exception before the first
        victim = answers[rng.integers(len(answers))]
        text = "".join(victim["source"]) if isinstance(victim["source"], list) else victim["source"]
        victim["source"] = (text + "\nprint('unfinished'" if rng.random() < 0.5
                            else "import mixedlite_typo  # ModuleNotFoundError\n" + text)
    return nb


def synthetic_class(course, assignments, n_students, seed=2024):
    """Write n_students' submissions into course/submitted; return {(student, assignment): kind}."""
    rng = np.random.default_rng(seed)
    kinds = {}
    for s in range(1, n_students + 1):
        student = f"s{s:03d}"
        for assignment in assignments:
            kind = rng.choice(list(KINDS), p=list(KINDS.values()))
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            (folder / f"{assignment}.ipynb").write_text(json.dumps(submission(course, assignment, kind, rng)))
            (folder / "timestamp.txt").write_text("2026-11-30 09:00:00.000000 UTC")
            kinds[student, assignment] = str(kind)
    return kinds


def new_course(root, assignments):
    """A course directory with the repo's config and the assignments' sources, generated."""
    root.mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for assignment in assignments:
        shutil.copytree(REPO / "solutions" / assignment, root / "solutions" / assignment)
        nbgrader("generate_assignment", assignment, "--force", cwd=root)
    return root


def export(course):
    """{(student, assignment): (score, max_score)} from `nbgrader export`."""
    nbgrader("export", "--to=grades.csv", cwd=course)
    with open(course / "grades.csv", newline="") as fh:
        return {(r["student_id"], r["assignment"]): (float(r["score"]), float(r["max_score"]))
                for r in csv.DictReader(fh)}


def slowest_assignments(tmp, count=2, repeats=2):
    """Time autograding each assignment's full solution (best of `repeats`, the machine is shared);
    return the `count` slowest and all timings."""
    all_assignments = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())
    course = new_course(tmp / "calibrate", all_assignments)
    rng = np.random.default_rng(0)
    seconds = {}
    for assignment in all_assignments:
        folder = course / "submitted" / "calib" / assignment
        folder.mkdir(parents=True)
        (folder / f"{assignment}.ipynb").write_text(json.dumps(submission(course, assignment, "full", rng)))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            nbgrader("autograde", assignment, "--force", cwd=course)
            times.append(time.perf_counter() - start)
        seconds[assignment] = round(min(times), 1)
    return sorted(seconds, key=seconds.get, reverse=True)[:count], seconds


def benchmark(n_students, jobs, assignments=None):
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        tmp = Path(tmp)
        calibration = None
        if not assignments:
            assignments, calibration = slowest_assignments(tmp)
            print(f"one autograde per assignment (s): {calibration}; slowest: {assignments}", flush=True)
        base = new_course(tmp / "base", assignments)
        kinds = synthetic_class(base, assignments, n_students)
        n = len(kinds)
        print(f"{n} submissions of {assignments}: "
              f"{ {k: list(kinds.values()).count(k) for k in KINDS} }", flush=True)
        seconds, grades = {}, {}
        for label, n_jobs in (("sequential", 1), (f"{jobs} jobs", jobs)):
            course = tmp / label.replace(" ", "_")
            shutil.copytree(base, course)
            start = time.perf_counter()
            grade(course, assignments, jobs=n_jobs)
            seconds[label] = time.perf_counter() - start
            grades[label] = export(course)
            print(f"{label}: {seconds[label]:.0f} s, {60 * n / seconds[label]:.1f} submissions/min, "
                  f"load average now {os.getloadavg()[0]:.1f}", flush=True)
    sequential, parallel = grades["sequential"], grades[f"{jobs} jobs"]
    if sequential != parallel:
        raise SystemExit(f"parallel grades differ from sequential ones: "
                         f"{ {k: (sequential.get(k), parallel.get(k)) for k in set(sequential) | set(parallel) if sequential.get(k) != parallel.get(k)} }")
    by_kind = {k: [sequential[key][0] for key, kind in kinds.items() if kind == k] for k in KINDS}
    full_ok = all(sequential[key][0] == sequential[key][1] for key, kind in kinds.items() if kind == "full")
    blank_ok = all(sequential[key][0] == 0 for key, kind in kinds.items() if kind == "blank")
    result = {
        "assignments": assignments, "submissions": n, "jobs": jobs, "calibration_seconds": calibration,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "submissions_per_minute": {k: round(60 * n / v, 1) for k, v in seconds.items()},
        "speedup": round(seconds["sequential"] / seconds[f"{jobs} jobs"], 2),
        "identical_grades": True, "full_marks_for_full": full_ok, "zero_for_blank": blank_ok,
        "mean_score_by_kind": {k: round(float(np.mean(v)), 2) if v else None for k, v in by_kind.items()},
        "load_average_before": [round(x, 1) for x in load_before], "cores": os.cpu_count(),
    }
    out = REPO / "build" / "benchmarks" / "grading.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    if not (full_ok and blank_ok):
        raise SystemExit("a full submission did not get full marks, or a blank one got marks")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="autograde every submission of the assignments")
    g.add_argument("assignments", nargs="+")
    g.add_argument("--course", default=".", help="the course directory (holds nbgrader_config.py)")
    g.add_argument("--jobs", type=int, default=1, help="nbgrader processes, each with its own gradebook copy")
    b = sub.add_parser("benchmark", help="grade a synthetic class sequentially and in parallel, timed")
    b.add_argument("--students", type=int, default=50)
    b.add_argument("--jobs", type=int, default=2)
    b.add_argument("--assignments", nargs="*", help="default: the two slowest to autograde, measured first")
    args = parser.parse_args(argv)
    if args.command == "grade":
        grade(args.course, args.assignments, jobs=args.jobs)
    else:
        benchmark(args.students, args.jobs, args.assignments)


if __name__ == "__main__":
    main()
