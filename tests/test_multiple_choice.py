"""Multiple-choice questions must not be answerable by their form, and must explain themselves.

Every question of the course counts: the graded ones in solutions/ (prerequisites, practice_test and the
questions inside the exercises) and the chapters' self-check questions (mixedlite.course.selfcheck_bank).
"""
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from mixedlite import selfcheck

ROOT = Path(__file__).resolve().parent.parent
OPTION = re.compile(r"^- \*\*([a-d])\.\*\* (.*?)(?=^- \*\*[a-d]\.\*\* |\Z)", re.M | re.S)
ANSWER = re.compile(r"^\s*(\w+)\s*=\s*[\"']([a-d])[\"']\s*$", re.M)


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _plain(text):
    return " ".join(text.split())


def graded_questions():
    """(where, {letter: option text}, answer letter) for every multiple-choice question in solutions/."""
    found = []
    for path in sorted((ROOT / "solutions").rglob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            options = {l: _plain(t) for l, t in OPTION.findall(_source(cell))} if cell["cell_type"] == "markdown" else {}
            if len(options) != 4:
                continue
            answer_cell = next(c for c in cells[i + 1:] if c["metadata"].get("nbgrader", {}).get("solution"))
            (_, letter), = ANSWER.findall(_source(answer_cell).split("### BEGIN SOLUTION")[1])
            found.append((f"{path.parent.name}/{answer_cell['metadata']['nbgrader']['grade_id']}", options, letter))
    return found


def selfcheck_questions():
    return [(f"selfcheck {q.key}", {l: _plain(o.text) for l, o in zip("abcd", q.options)}, q.answer)
            for q in selfcheck.questions()]


def all_questions():
    return graded_questions() + selfcheck_questions()


def test_the_parser_finds_every_graded_question():
    names = {where for where, _, _ in graded_questions()}
    assert len(names) == 14, sorted(names)
    assert {"prerequisites/q1", "practice_test/q5", "ex5_convergence/q_why"} <= names


def test_every_chapter_has_two_or_three_self_check_questions_and_shows_them():
    chapters = sorted((ROOT / "chapters").glob("*.ipynb"))
    assert chapters
    for path in chapters:
        keys = [q.key for q in selfcheck.questions(int(path.name[:2]))]
        assert 2 <= len(keys) <= 3, f"{path.name}: {keys}"
        text = path.read_text()
        missing = [k for k in keys if f'selfcheck.ask(\\"{k}\\")' not in text]
        assert not missing, f"{path.name} does not show its self-check questions {missing}"


def test_correct_option_is_the_longest_in_at_most_a_third_of_the_questions():
    questions = all_questions()
    longest = [where for where, options, answer in questions
               if len(options[answer]) == max(len(t) for t in options.values())]
    assert len(longest) <= len(questions) / 3, \
        f"the correct option is the longest in {len(longest)} of {len(questions)} questions: {longest}"
    graded = [where for where in longest if not where.startswith("selfcheck")]
    assert len(graded) <= len(graded_questions()) / 3, f"graded questions alone: {graded}"


def test_correct_option_is_never_much_longer_than_the_others():
    too_long = []
    for where, options, answer in all_questions():
        others = max(len(t) for letter, t in options.items() if letter != answer)
        if len(options[answer]) > 1.25 * others:
            too_long.append((where, len(options[answer]), others))
    assert not too_long, f"(question, correct length, longest other): {too_long}"


def test_correct_letters_are_spread():
    questions = all_questions()
    counts = Counter(answer for _, _, answer in questions)
    for letter in "abcd":
        share = counts[letter] / len(questions)
        assert 0.15 <= share <= 0.35, f"letter {letter} is correct in {counts[letter]} of {len(questions)}: {counts}"


@pytest.mark.parametrize("assignment", ["prerequisites", "practice_test"])
def test_instructor_versions_explain_every_option_after_grading(assignment):
    """The hidden test of each question prints why each of a, b, c, d is right or wrong."""
    cells = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())["cells"]
    tests = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    assert tests
    for cell in tests:
        hidden = _source(cell).split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
        explained = re.findall(r"^print\([\"']([a-d])\. (Right|Wrong|A real drawback)", hidden, re.M)
        assert [l for l, _ in explained] == list("abcd"), f"{assignment}/{cell['metadata']['nbgrader']['grade_id']}"
        answer = re.search(r"== \"([a-d])\"", hidden).group(1)
        assert dict(explained)[answer] == "Right", f"the explanation of the right answer must say so: {answer}"
