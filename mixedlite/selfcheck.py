"""Self-check questions: multiple choice with immediate feedback that explains every option.

A :class:`Question` holds a prompt, four options and, for each option, why it is right or wrong.
``Question.feedback(letter)`` is the plain function (tested without a browser); :func:`ask`
wraps it in a small ipywidgets box: pick an option, press *Check*, read why; *Explain all*
shows the reasoning behind every option. Nothing is graded or recorded.

The chapters' questions live in :mod:`mixedlite.selfcheck_bank`; a chapter shows one with
``selfcheck.ask("06.1")``. ipywidgets is imported only when a widget is built.
"""
import html
from dataclasses import dataclass

__all__ = ["Option", "Question", "ask", "questions", "SelfCheck"]

LETTERS = "abcd"


@dataclass(frozen=True)
class Option:
    """One answer option and the reason it is right or wrong."""
    text: str
    why: str


@dataclass(frozen=True)
class Question:
    """A multiple-choice question with one best answer (a letter) and an explanation per option."""
    key: str
    prompt: str
    options: tuple
    answer: str

    def __post_init__(self):
        if len(self.options) != len(LETTERS):
            raise ValueError(f"question {self.key}: give exactly {len(LETTERS)} options, not {len(self.options)}")
        if self.answer not in LETTERS:
            raise ValueError(f"question {self.key}: answer must be one of {tuple(LETTERS)}, not {self.answer!r}")

    def option(self, letter):
        letter = str(letter).strip().lower()
        if letter not in LETTERS:
            raise ValueError(f"choose one of {', '.join(LETTERS)}; got {letter!r}")
        return self.options[LETTERS.index(letter)]

    def feedback(self, letter):
        """(correct, message) for the chosen letter: the verdict and why that option is right or wrong."""
        correct = str(letter).strip().lower() == self.answer
        verdict = "Right." if correct else "Not quite."
        return correct, f"{verdict} {self.option(letter).why}"

    def explain_all(self):
        """Every option with its explanation, the best answer marked."""
        lines = []
        for letter, opt in zip(LETTERS, self.options):
            mark = "best answer" if letter == self.answer else "not the best answer"
            lines.append(f"{letter}. {opt.text} ({mark}) {opt.why}")
        return "\n".join(lines)

    def as_html(self):
        """The question and its options, without the answer (what a static page shows)."""
        items = "".join(f"<li><b>{l}.</b> {html.escape(o.text)}</li>" for l, o in zip(LETTERS, self.options))
        return (f"<div><b>Self-check {html.escape(self.key)}.</b> {html.escape(self.prompt)}"
                f"<ul style='list-style:none'>{items}</ul>"
                "<i>Run the notebook to check your answer.</i></div>")


def questions(chapter=None):
    """All self-check questions, or those of one chapter ('06' or 6), in order."""
    from .selfcheck_bank import QUESTIONS
    if chapter is None:
        return list(QUESTIONS)
    prefix = f"{int(chapter):02d}."
    return [q for q in QUESTIONS if q.key.startswith(prefix)]


def _lookup(key):
    found = [q for q in questions() if q.key == key]
    if not found:
        raise KeyError(f"no self-check question {key!r}; keys look like '06.1' "
                       f"(there are {len(questions())}: {', '.join(q.key for q in questions())})")
    return found[0]


class SelfCheck:
    """The widget: radio buttons, *Check* and *Explain all* buttons, and a feedback line.

    ``choose(letter)`` and ``check()`` do from Python what clicking does in JupyterLab.
    """

    def __init__(self, question):
        import ipywidgets as w
        self.question = question
        labels = [(f"{l}. {o.text}", l) for l, o in zip(LETTERS, question.options)]
        self.prompt = w.HTML(f"<b>Self-check {html.escape(question.key)}.</b> {html.escape(question.prompt)}")
        self.choices = w.RadioButtons(options=labels, value=None, layout=w.Layout(width="auto"))
        self.check_button = w.Button(description="Check", button_style="primary")
        self.explain_button = w.Button(description="Explain all")
        self.feedback = w.HTML()
        self.check_button.on_click(lambda _: self.check())
        self.explain_button.on_click(lambda _: self.explain())
        self.widget = w.VBox([self.prompt, self.choices, w.HBox([self.check_button, self.explain_button]),
                              self.feedback])

    def choose(self, letter):
        self.choices.value = str(letter).strip().lower()

    def check(self):
        if self.choices.value is None:
            self.feedback.value = "Pick an option first."
            return None
        correct, message = self.question.feedback(self.choices.value)
        color = "#1a7f37" if correct else "#b35900"
        self.feedback.value = f"<span style='color:{color}'>{html.escape(message)}</span>"
        return correct

    def explain(self):
        rows = html.escape(self.question.explain_all()).replace("\n", "<br>")
        self.feedback.value = rows

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/html"] = self.question.as_html()
        data["text/plain"] = f"Self-check {self.question.key}: {self.question.prompt}"
        return bundle


def ask(key):
    """The self-check widget for question ``key`` (e.g. '06.1')."""
    return SelfCheck(_lookup(key))
