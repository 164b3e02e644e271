"""The nbgrader side of the course: assignments, student versions and the instructor workflow.

Everything runs in temporary copies of the course directory with a temporary exchange
directory and temporary Jupyter config/data/runtime directories, so the user's ~/.jupyter
and /srv/nbgrader are never read or written.

`nbgrader validate` exits 0 even when tests fail, so nothing here trusts an exit status
for grades: scores are read from the gradebook export (CSV).
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COURSE_ID = "mixed-models"
ASSIGNMENTS = [
    "prerequisites",
    "practice_test",
    "design_effects",
    "ex1_fit_extract",
    "ex2_lm_vs_lmer",
    "ex3_glmm_icc",
    "ex4_correlated_vs_uncorrelated",
    "ex5_convergence",
]
# Short enough to keep the endless-loop submission cheap, long enough for any model fit here.
# (The course's own nbgrader_config.py uses 60 s; test_config_values checks that.)
TEST_CELL_TIMEOUT = 20
MAX_SECONDS_PER_SUBMISSION = 30


def _find_bin(name):
    for candidate in (REPO / ".venv" / "bin" / name, Path(sys.executable).parent / name):
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


NBGRADER = _find_bin("nbgrader")
pytestmark = pytest.mark.skipif(NBGRADER is None, reason="nbgrader is not installed")


def present_assignments():
    """Assignments whose source notebook exists (all of ASSIGNMENTS once the course is complete)."""
    return [a for a in ASSIGNMENTS if (REPO / "solutions" / a / f"{a}.ipynb").exists()]


def needs_library(assignment):
    return assignment.startswith("ex")


def library_ready(need_glmer=False):
    """True when mixedlite is importable in the interpreter the grading kernel uses."""
    code = "import mixedlite as ml; ml.lmer" + ("; ml.glmer" if need_glmer else "")
    python = NBGRADER.parent / "python" if NBGRADER else Path(sys.executable)
    result = subprocess.run([str(python), "-c", code], capture_output=True)
    return result.returncode == 0


def gradable_assignments():
    """Assignments whose solutions can run here (the model exercises need mixedlite)."""
    ready = {False: library_ready(), True: library_ready(need_glmer=True)}
    return [a for a in present_assignments()
            if not needs_library(a) or ready[a == "ex3_glmm_icc"]]


# ---------------------------------------------------------------------------- helpers


def read_nb(path):
    return json.loads(Path(path).read_text())


def write_nb(nb, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1) + "\n")


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def source(cell):
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def cell_by_id(nb, gid):
    for cell in nb["cells"]:
        if grade_id(cell) == gid:
            return cell
    raise KeyError(gid)


def max_points(nb):
    return sum(c["metadata"]["nbgrader"].get("points", 0)
               for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))


class Env:
    """A sandbox: environment variables that keep nbgrader and Jupyter inside tmp_path."""

    def __init__(self, root):
        self.root = Path(root)
        self.exchange = self.root / "exchange"
        self.exchange.mkdir(parents=True, exist_ok=True)
        self.exchange.chmod(0o777)
        config_dir = self.root / "jupyter_config"
        config_dir.mkdir(exist_ok=True)
        # Shared by instructor and student, as a JupyterHub's system-wide config would be.
        (config_dir / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.Exchange.root = {str(self.exchange)!r}\n")
        self.vars = dict(os.environ)
        self.vars.pop("JUPYTER_CONFIG_PATH", None)
        self.vars.update(
            JUPYTER_CONFIG_DIR=str(config_dir),
            JUPYTER_DATA_DIR=str(self.root / "jupyter_data"),
            JUPYTER_RUNTIME_DIR=str(self.root / "jupyter_runtime"),
            IPYTHONDIR=str(self.root / "ipython"),
            PATH=f"{NBGRADER.parent}{os.pathsep}{os.environ.get('PATH', '')}",  # nbgrader calls `alembic`
            PYTHONDONTWRITEBYTECODE="1",
            MPLBACKEND="Agg",
        )

    def nbgrader(self, *args, cwd, check=True, timeout=900):
        result = subprocess.run([str(NBGRADER), *args], cwd=cwd, env=self.vars,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"nbgrader {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
        return result


def make_course(tmp_path, env):
    """A fresh course directory: the repo's config and solutions, student versions regenerated."""
    course = Path(tmp_path) / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions", course / "solutions")
    env.nbgrader("generate_assignment", "*", "--force", cwd=course)
    return course


def export_grades(env, course):
    """{(student, assignment): (score, max_score)} from `nbgrader export` (CSV)."""
    out = course / "grades.csv"
    env.nbgrader("export", f"--to={out}", cwd=course)
    with open(out, newline="") as fh:
        return {(row["student_id"], row["assignment"]): (float(row["score"]), float(row["max_score"]))
                for row in csv.DictReader(fh)}


def solved(course, assignment):
    """The student version with every solution cell filled in as the solutions notebook has it."""
    nb = read_nb(course / "exercises" / assignment / f"{assignment}.ipynb")
    src = read_nb(course / "solutions" / assignment / f"{assignment}.ipynb")
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            cell["source"] = source(cell_by_id(src, meta["grade_id"]))
    return nb


def answered(course, assignment, answers):
    """The student version with the given answer cells (grade_id -> source) filled in."""
    nb = read_nb(course / "exercises" / assignment / f"{assignment}.ipynb")
    for gid, text in answers.items():
        cell_by_id(nb, gid)["source"] = text
    return nb


def submit_directly(course, student, assignment, nb):
    """Place a submission where `nbgrader collect` would put it."""
    folder = course / "submitted" / student / assignment
    write_nb(nb, folder / f"{assignment}.ipynb")
    (folder / "timestamp.txt").write_text("2025-01-01 12:00:00.000000 UTC")


# ---------------------------------------------------------------------------- fast checks


def test_assignments_present():
    missing = [a for a in ASSIGNMENTS if a not in present_assignments()]
    assert not missing, f"source notebooks missing in solutions/: {missing}"


def test_every_assignment_can_be_autograded_here():
    """Say so (skip) when an assignment's solution cannot run yet because mixedlite lacks what it calls."""
    skipped = sorted(set(present_assignments()) - set(gradable_assignments()))
    if skipped:
        pytest.skip(f"not autograded here: {skipped} (mixedlite lacks lmer/glmer in {NBGRADER.parent})")


def test_config_values():
    from traitlets.config import Config

    config = Config()
    namespace = {"get_config": lambda: config, "__file__": str(REPO / "nbgrader_config.py")}
    exec(compile((REPO / "nbgrader_config.py").read_text(), "nbgrader_config.py", "exec"), namespace)
    assert config.CourseDirectory.course_id == COURSE_ID
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "exercises"
    assert Path(config.CourseDirectory.root) == REPO
    assert config.Execute.timeout == 60
    assert config.Execute.interrupt_on_timeout is True
    assert config.OverwriteCells.add_missing_cells is True


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_notebook_hygiene(folder):
    """python3 kernelspec, no stored outputs, one notebook per assignment named after it."""
    for assignment in present_assignments():
        path = REPO / folder / assignment / f"{assignment}.ipynb"
        assert path.exists(), f"{path} is missing"
        nb = read_nb(path)
        assert nb["metadata"]["kernelspec"]["name"] == "python3", f"{path}: kernelspec must be python3"
        assert source(nb["cells"][0]).lstrip().startswith("# "), f"{path}: first cell must be a title"
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{path}: cell {grade_id(cell)} has stored outputs"
                assert cell.get("execution_count") is None, f"{path}: cell {grade_id(cell)} has an execution count"


def test_sources_have_solutions_and_hidden_tests():
    for assignment in present_assignments():
        nb = read_nb(REPO / "solutions" / assignment / f"{assignment}.ipynb")
        tests = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
        answers = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
        assert tests and answers, f"{assignment}: needs answer cells and autograded test cells"
        for cell in tests:
            text = source(cell)
            assert "### BEGIN HIDDEN TESTS" in text, f"{assignment}/{grade_id(cell)}: no hidden tests"
            assert cell["metadata"]["nbgrader"].get("points", 0) > 0, f"{assignment}/{grade_id(cell)}: no points"
        for cell in answers:
            assert "### BEGIN SOLUTION" in source(cell), f"{assignment}/{grade_id(cell)}: no solution region"


def test_student_versions_hide_solutions_and_hidden_tests():
    for assignment in present_assignments():
        text = (REPO / "exercises" / assignment / f"{assignment}.ipynb").read_text()
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"exercises/{assignment}: contains {marker!r}"
        src = read_nb(REPO / "solutions" / assignment / f"{assignment}.ipynb")
        for cell in src["cells"]:
            text_src = source(cell)
            if "### BEGIN HIDDEN TESTS" in text_src:
                hidden = text_src.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
                for line in filter(None, (l.strip() for l in hidden.splitlines())):
                    assert line not in text, f"exercises/{assignment}: a hidden test leaked: {line}"


# ---------------------------------------------------------------------------- nbgrader runs


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A temporary course directory in which `nbgrader generate_assignment` has just run."""
    root = tmp_path_factory.mktemp("generated")
    env = Env(root)
    return env, make_course(root, env)


def comparable(nb):
    """A notebook reduced to what matters: cell types, sources, nbgrader metadata minus checksums."""
    cells = []
    for cell in nb["cells"]:
        meta = dict(cell["metadata"].get("nbgrader", {}))
        meta.pop("checksum", None)
        cells.append((cell["cell_type"], source(cell), json.dumps(meta, sort_keys=True)))
    return nb["metadata"].get("kernelspec"), cells


@pytest.mark.slow
def test_exercises_match_generate_assignment(generated):
    """exercises/ is exactly what `nbgrader generate_assignment` makes from solutions/."""
    env, course = generated
    fresh = sorted(p.relative_to(course / "exercises") for p in (course / "exercises").rglob("*") if p.is_file())
    committed = sorted(p.relative_to(REPO / "exercises") for p in (REPO / "exercises").rglob("*")
                       if p.is_file() and ".ipynb_checkpoints" not in p.parts)
    hint = "regenerate with: .venv/bin/nbgrader generate_assignment '*' --force (from the repository root)"
    assert committed == fresh, f"exercises/ has other files than generate_assignment makes; {hint}"
    for rel in fresh:
        if rel.suffix == ".ipynb":
            assert comparable(read_nb(REPO / "exercises" / rel)) == comparable(read_nb(course / "exercises" / rel)), \
                f"exercises/{rel} differs from the generated version; {hint}"
        else:
            assert (REPO / "exercises" / rel).read_bytes() == (course / "exercises" / rel).read_bytes(), \
                f"exercises/{rel} differs; {hint}"


# Prerequisites answers: right and wrong letters.
RIGHT = {"q1": 'q1 = "b"', "q2": 'q2 = "d"', "q3": 'q3 = "a"'}
WRONG = {"q1": 'q1 = "a"', "q2": 'q2 = "b"', "q3": 'q3 = "c"'}


def prerequisites_submissions(course):
    """Awkward submissions of the prerequisites quiz and the score each has earned (out of 3)."""
    a = "prerequisites"
    subs = {}
    subs["partial"] = (answered(course, a, {**RIGHT, "q2": WRONG["q2"]}), 2)
    subs["raises"] = (answered(course, a, {
        "q1": 'q1 = "b"\nraise RuntimeError("a bug after the answer")',  # answer set before the error: earns it
        "q2": "q2 = undefined_name",                                        # NameError: q2 never set
        "q3": RIGHT["q3"],
    }), 2)
    subs["loops"] = (answered(course, a, {
        "q1": "while True:\n    pass\nq1 = 'b'",  # interrupted after the cell timeout; q1 never set
        "q2": RIGHT["q2"], "q3": RIGHT["q3"],
    }), 2)
    nb = answered(course, a, RIGHT)
    nb["cells"] = [c for c in nb["cells"] if grade_id(c) not in ("test_q2", "test_q3")]
    subs["deleted_tests"] = (nb, 3)
    nb = answered(course, a, {**RIGHT, "q2": WRONG["q2"]})
    cell_by_id(nb, "test_q2")["source"] = "pass  # no test here"
    cell_by_id(nb, "test_q1")["metadata"]["nbgrader"]["points"] = 100
    subs["edited_tests"] = (nb, 2)
    nb = answered(course, a, {"q1": RIGHT["q1"], "q2": "", "q3": ""})
    cell_by_id(nb, "test_q3")["source"] = ""
    subs["emptied"] = (nb, 1)
    return subs


def design_effects_partial(course):
    """Right functions, a forgotten square root in B1 (3 points), DEFF instead of its root in B3 (1 point)."""
    a = "design_effects"
    nb = solved(course, a)
    cell_by_id(nb, "b1")["source"] = (
        "deff_trial = design_effect(10, 0.6)\n"
        "n_eff_trial = effective_sample_size(1000, 10, 0.6)\n"
        "se_mixed_trial = 0.5 * deff_trial\n")
    cell_by_id(nb, "b3")["source"] = "se_factor_longitudinal = design_effect(10, 0.5)\n"
    return nb, max_points(nb) - 3 - 1


def ex4_partial(course):
    """Right fits and AICs, but the ML comparison skipped (1 point) and the wrong conclusion (1 point)."""
    a = "ex4_correlated_vs_uncorrelated"
    nb = solved(course, a)
    cell_by_id(nb, "ml")["source"] = "delta_aic_ml = float(m_corr.aic() - m_uncorr.aic())  # forgot to refit by ML\n"
    cell_by_id(nb, "q_correlation")["source"] = 'q_correlation = "a"\n'
    return nb, max_points(nb) - 1 - 1


@pytest.mark.slow
def test_autograde_scores(tmp_path):
    """One `nbgrader autograde` run over every assignment: solutions full, blanks zero, the rest as earned."""
    env = Env(tmp_path)
    course = make_course(tmp_path, env)
    assignments = gradable_assignments()
    expected = {}
    for a in assignments:
        nb = solved(course, a)
        submit_directly(course, "solved", a, nb)
        expected[("solved", a)] = max_points(nb)
        submit_directly(course, "blank", a, read_nb(course / "exercises" / a / f"{a}.ipynb"))
        expected[("blank", a)] = 0
    for student, (nb, score) in prerequisites_submissions(course).items():
        submit_directly(course, student, "prerequisites", nb)
        expected[(student, "prerequisites")] = score
    nb, score = design_effects_partial(course)
    submit_directly(course, "partial", "design_effects", nb)
    expected[("partial", "design_effects")] = score
    if "ex4_correlated_vs_uncorrelated" in assignments:
        nb, score = ex4_partial(course)
        submit_directly(course, "partial", "ex4_correlated_vs_uncorrelated", nb)
        expected[("partial", "ex4_correlated_vs_uncorrelated")] = score

    start = time.perf_counter()
    result = env.nbgrader("autograde", "*", f"--Execute.timeout={TEST_CELL_TIMEOUT}", cwd=course, check=False)
    elapsed = time.perf_counter() - start
    per_submission = elapsed / len(expected)
    print(f"\nautograded {len(expected)} submissions of {len(assignments)} assignments in {elapsed:.1f} s "
          f"({per_submission:.1f} s per submission, one of them waiting out a {TEST_CELL_TIMEOUT} s cell timeout)")
    assert result.returncode == 0, f"autograde reported errors:\n{result.stderr[-6000:]}"

    grades = export_grades(env, course)
    observed = {key: grades[key][0] for key in expected}
    for key, score in sorted(expected.items()):
        print(f"  {key[0]:>14} {key[1]:<32} {observed[key]:5.1f} / {grades[key][1]:.0f}")
    wrong = {key: (observed[key], score) for key, score in expected.items() if observed[key] != score}
    assert not wrong, f"(student, assignment): (observed, expected) scores differ: {wrong}"

    # The endless loop was interrupted, not fatal: its notebook records the timeout and the later cells ran.
    looped = read_nb(course / "autograded" / "loops" / "prerequisites" / "prerequisites.ipynb")
    errors = [o.get("ename") for o in cell_by_id(looped, "q1").get("outputs", []) if o["output_type"] == "error"]
    assert errors, "the looping cell should show an error after being interrupted"
    # Deleted test cells were restored from the gradebook.
    restored = read_nb(course / "autograded" / "deleted_tests" / "prerequisites" / "prerequisites.ipynb")
    assert {"test_q2", "test_q3"} <= {grade_id(c) for c in restored["cells"]}
    # Edited test cells were overwritten with the instructor's version (hidden tests included).
    edited = read_nb(course / "autograded" / "edited_tests" / "prerequisites" / "prerequisites.ipynb")
    assert "BEGIN HIDDEN TESTS" in source(cell_by_id(edited, "test_q2"))
    assert grades[("edited_tests", "prerequisites")][1] == 3, "edited points must not change the maximum"
    assert per_submission < MAX_SECONDS_PER_SUBMISSION


@pytest.mark.slow
def test_instructor_workflow(tmp_path):
    """release -> fetch -> submit -> collect -> autograde -> feedback -> export, through an exchange directory."""
    env = Env(tmp_path)
    course = make_course(tmp_path, env)
    student_home = tmp_path / "student"
    student_home.mkdir()
    (student_home / "nbgrader_config.py").write_text(
        "c = get_config()\nc.Exchange.path_includes_course = True\n")
    course_flag = f"--course={COURSE_ID}"
    assignment = "prerequisites"
    # The student id is the account the student runs nbgrader under (here: this process's user).
    from pwd import getpwuid
    student = getpwuid(os.getuid())[0]

    env.nbgrader("release_assignment", assignment, cwd=course)
    listing = env.nbgrader("list", course_flag, cwd=student_home)
    assert assignment in listing.stdout + listing.stderr

    env.nbgrader("fetch_assignment", assignment, course_flag, cwd=student_home)
    work = student_home / COURSE_ID / assignment / f"{assignment}.ipynb"
    assert work.exists(), "fetch_assignment should put the notebook under <course>/<assignment>/"
    nb = read_nb(work)
    for gid, text in {**RIGHT, "q3": WRONG["q3"]}.items():  # two right, one wrong
        cell_by_id(nb, gid)["source"] = text
    write_nb(nb, work)
    env.nbgrader("submit", assignment, course_flag, cwd=student_home)

    env.nbgrader("collect", assignment, cwd=course)
    assert (course / "submitted" / student / assignment / f"{assignment}.ipynb").exists()

    start = time.perf_counter()
    env.nbgrader("autograde", assignment, cwd=course)
    elapsed = time.perf_counter() - start
    print(f"\nautograding one submission of {assignment!r} took {elapsed:.1f} s")
    assert elapsed < MAX_SECONDS_PER_SUBMISSION

    env.nbgrader("generate_feedback", assignment, cwd=course)
    assert (course / "feedback" / student / assignment / f"{assignment}.html").exists()
    env.nbgrader("release_feedback", assignment, cwd=course)
    env.nbgrader("fetch_feedback", assignment, course_flag, cwd=student_home)
    feedback = list((student_home / COURSE_ID / assignment / "feedback").rglob(f"{assignment}.html"))
    assert feedback, "the student should have received an HTML feedback file"
    html = feedback[0].read_text()
    assert "not the best answer" in html, "feedback should show the failing hidden test's message"
    assert "Why each option is right or wrong" in html and "c. Right." not in html and "a. Right." in html, \
        "feedback should explain every option of the prerequisite quiz (q3's answer is a)"

    grades = export_grades(env, course)
    assert grades[(student, assignment)] == (2.0, 3.0)


@pytest.mark.slow
def test_kernel_death_is_reported_not_fatal(generated):
    """A submission that kills its kernel cannot be graded: autograde says so (exit 1) and grades the others."""
    env, course = generated
    crasher = answered(course, "prerequisites", {**RIGHT, "q2": "import os\nos._exit(1)"})
    submit_directly(course, "crasher", "prerequisites", crasher)
    submit_directly(course, "steady", "prerequisites", answered(course, "prerequisites", RIGHT))
    result = env.nbgrader("autograde", "prerequisites", cwd=course, check=False)
    assert result.returncode != 0, "autograde should report the submission it could not grade"
    assert "crasher" in result.stderr and "Kernel died" in result.stderr
    grades = export_grades(env, course)
    assert grades[("steady", "prerequisites")] == (3.0, 3.0)
    assert not (course / "autograded" / "crasher").exists() or \
        not any((course / "autograded" / "crasher").rglob("*.ipynb")), "no autograded notebook for the crashed run"



# ---------------------------------------------------------------------------- alternative correct answers

# For every assignment, answers that are correct but written differently from solutions/: numpy instead of
# pandas, another standardisation, the rounding a question allows, other routes to the same number,
# letters in upper case. Each dict maps a student id to {grade_id: answer source}; cells not named keep
# the solution's source. A correct answer must never lose a point.
ALTERNATIVES = {
    "prerequisites": {"upper_case": {"q1": 'q1 = "B"', "q2": 'q2 = " D "', "q3": "q3 = 'A'"}},
    "practice_test": {"upper_case": {"q1": 'q1 = "C"', "q2": 'q2 = "A "', "q3": 'q3 = "D"', "q4": 'q4 = "B"',
                                     "q5": 'q5 = " c"'}},
    "design_effects": {"numpy_and_rounding": {
        "functions": (
            "import math\nimport numpy as np\n\n\n"
            "def design_effect(cluster_size, icc):\n    return float(np.add(1.0, np.multiply(cluster_size - 1, icc)))\n\n\n"
            "def effective_sample_size(n_total, cluster_size, icc):\n    return n_total / (1 + (cluster_size - 1) * icc)\n\n\n"
            "def se_inflation(cluster_size, icc):\n    return design_effect(cluster_size, icc) ** 0.5\n"),
        # the source text's own arithmetic: sqrt(6.4) rounded to 2.5, so 0.5 x 2.5 = 1.25
        "b1": "deff_trial = 6.4\nn_eff_trial = np.float64(1000) / deff_trial\nse_mixed_trial = 0.5 * 2.5\n",
        "b2": "deff_clinics = np.float64(1 + 19 * 0.4)\nn_eff_clinics = 100 / deff_clinics\n",
        "b3": "se_factor_longitudinal = float(np.sqrt(1 + 9 * 0.5))\n",
        "b4": "between, within = 4.0, 12.0\nicc_clinics = between / (between + within)\n",
        "b5": "clusters_needed = int(np.ceil(200 / (21 / (1 + 20 * 0.05))))\n",
    }},
    "ex1_fit_extract": {"numpy_arrays": {
        "fixed": "fixed = pd.Series(m.fixef())\n",
        "varcomp": (
            "vc = m.varcorr()\n"
            "sd_intercept = float(np.sqrt(vc['vcov'].iloc[0]))\n"
            "sd_days = float(np.sqrt(vc['vcov'].iloc[1]))\n"
            "corr_intercept_days = float(vc.loc[vc['var2'].notna(), 'sdcor'].iloc[0])\n"
            "sd_residual = float(m.sigma)\n"),
        "blups": "blups = m.ranef()['Subject'].copy()\n",
        "shrinkage": (
            "slopes_separate = np.array([np.polyfit(g['Days'], g['Reaction'], 1)[0]\n"
            "                            for _, g in d.groupby('Subject', observed=True)])\n"
            "slopes_model = m.coef()['Subject']['Days'].to_numpy()\n"
            "shrinkage_ratio = np.std(slopes_model) / np.std(slopes_separate)\n"),
        "plot": (
            "fig, axes = plt.subplots(3, 6, sharex=True, sharey=True)\n"
            "fitted = m.fitted()\n"
            "for ax, (subject, rows) in zip(axes.flat, d.groupby('Subject', observed=True)):\n"
            "    ax.plot(rows['Days'], rows['Reaction'], 'o', ms=2)\n"
            "    ax.plot(rows['Days'].to_numpy(), np.asarray(fitted)[rows.index])\n"
            "    ax.set_xlabel('days'); ax.set_ylabel('ms')\n"),
    }},
    "ex2_lm_vs_lmer": {"polyfit_and_summary": {
        "ols": (
            "x, y = d['Days'].to_numpy(float), d['Reaction'].to_numpy(float)\n"
            "b1, b0 = np.polyfit(x, y, 1)\n"
            "slope_ols = float(b1)\n"
            "rss = np.sum((y - b0 - b1 * x) ** 2)\n"
            "se_ols = float(np.sqrt(rss / (len(y) - 2) / np.sum((x - x.mean()) ** 2)))\n"),
        "lmer": (
            "coefs = m.summary().coefficients\n"
            "slope_lmer = float(coefs.loc['Days', 'Estimate'])\n"
            "se_lmer = float(coefs.loc['Days', 'Std. Error'])\n"),
        "short": (
            "slope_ols_short = float(np.polyfit(d_short['Days'], d_short['Reaction'], 1)[0])\n"
            "slope_lmer_short = float(ml.lmer('Reaction ~ 1 + Days + (1 + Days | Subject)', d_short).fixef()['Days'])\n"),
        "q_balanced": 'q_balanced = "B"', "q_unbalanced": "q_unbalanced = 'a '",
    }},
    "ex3_glmm_icc": {"other_construction": {
        "var_u": "var_u = float(np.pi ** 2 / 3 * ICC_TRUE / (1 - ICC_TRUE))\n",
        "simulate": (
            "rng = np.random.default_rng(SEED)\n"
            "u = rng.standard_normal(N_CLUSTERS) * np.sqrt(var_u)\n"
            "eta = INTERCEPT + np.repeat(u, CLUSTER_SIZE)\n"
            "sim = pd.DataFrame({'clinic': np.repeat([f'clinic_{j}' for j in range(N_CLUSTERS)], CLUSTER_SIZE),\n"
            "                    'y': (rng.random(len(eta)) < 1 / (1 + np.exp(-eta))).astype(int)})\n"),
        "fit": (
            "g = ml.glmer('y ~ (1 | clinic)', sim, family='binomial')\n"
            "var_u_hat = float(g.varcorr()['sdcor'].iloc[0] ** 2)\n"
            "icc_hat = var_u_hat / (var_u_hat + np.pi ** 2 / 3)\n"
            "icc_library = ml.icc(g)\n"),
        "q_latent": 'q_latent = "A"',
    }},
    "ex4_correlated_vs_uncorrelated": {"loglik_and_anova": {
        "aic": (
            "aic_corr = float(-2 * m_corr.loglik() + 2 * m_corr.df)\n"
            "aic_uncorr = float(-2 * m_uncorr.loglik() + 2 * m_uncorr.df)\n"
            "delta_aic = aic_corr - aic_uncorr\n"
            "corr_estimate = float(m_corr.varcorr().dropna(subset=['var2'])['sdcor'].iloc[0])\n"),
        "ml": "table = ml.anova(m_uncorr, m_corr)\ndelta_aic_ml = float(table['AIC'].iloc[1] - table['AIC'].iloc[0])\n",
        "q_correlation": 'q_correlation = "B"',
    }},
    "ex5_convergence": {
        "numpy_std": {"rescaled": (
            "x = d['baseline'].to_numpy()\n"
            "d['baseline_z'] = (x - x.mean()) / np.std(x)\n"
            "m_rescaled = ml.lmer('Reaction ~ Days + baseline_z + (Days + baseline_z | Subject)', d)\n"
            "problems_rescaled = problems(m_rescaled)\n")},
        "scipy_zscore": {"rescaled": (
            "from scipy.stats import zscore\n"
            "d['baseline_z'] = zscore(d['baseline'])\n"
            "m_rescaled = ml.lmer('Reaction ~ Days + baseline_z + (Days + baseline_z | Subject)', d)\n"
            "problems_rescaled = problems(m_rescaled)\n"),
            "q_resolved": 'q_resolved = "C"', "q_why": "q_why = 'A'"},
        # what scikit-learn's StandardScaler().fit_transform(d[['baseline']]) returns: an (n, 1) array, ddof 0
        "scaler_style": {"rescaled": (
            "column = d[['baseline']].to_numpy()\n"
            "d['baseline_z'] = (column - column.mean(axis=0)) / column.std(axis=0)\n"
            "m_rescaled = ml.lmer('Reaction ~ Days + baseline_z + (Days + baseline_z | Subject)', d)\n"
            "problems_rescaled = problems(m_rescaled)\n")},
    },
}


def test_alternatives_cover_every_assignment():
    assert set(ALTERNATIVES) == set(ASSIGNMENTS), "every assignment needs at least one alternative correct submission"


@pytest.mark.slow
def test_alternative_correct_solutions_get_full_marks(tmp_path):
    """Correct answers written another way (numpy, other standardisations, allowed rounding) earn every point."""
    env = Env(tmp_path)
    course = make_course(tmp_path, env)
    expected = {}
    for a in gradable_assignments():
        for student, answers in ALTERNATIVES[a].items():
            nb = solved(course, a)
            for gid, text in answers.items():
                cell_by_id(nb, gid)["source"] = text
            submit_directly(course, student, a, nb)
            expected[(student, a)] = max_points(nb)
    result = env.nbgrader("autograde", "*", f"--Execute.timeout={TEST_CELL_TIMEOUT}", cwd=course, check=False)
    assert result.returncode == 0, f"autograde reported errors:\n{result.stderr[-6000:]}"
    grades = export_grades(env, course)
    lost = {}
    for (student, a), full in expected.items():
        if grades[(student, a)][0] != full:
            graded = read_nb(course / "autograded" / student / a / f"{a}.ipynb")
            errors = [f"{grade_id(c)}: {o.get('evalue', '')}" for c in graded["cells"]
                      for o in c.get("outputs", []) if o.get("output_type") == "error"]
            lost[(student, a)] = (grades[(student, a)][0], full, errors)
    assert not lost, f"correct alternative answers lost points (score, max, errors): {lost}"
