"""Self-check questions: multiple choice with immediate feedback that explains every option.

A :class:`Question` holds a prompt, four options and, for each option, why it is right or wrong.
``Question.feedback(letter)`` is the plain function (tested without a browser); :func:`ask`
wraps it in a small ipywidgets box: pick an option, press *Check*, read why; *Explain all*
shows the reasoning behind every option. Nothing is graded or recorded.

The chapters' questions live in :mod:`mixedlite.course.selfcheck_bank`, with the two classes (re-exported
here); a chapter shows one with ``selfcheck.ask("06.1")``. ipywidgets is imported only when a
widget is built.
"""
import html

from .selfcheck_bank import LETTERS, QUESTIONS, Option, Question

__all__ = ["Option", "Question", "ask", "questions", "SelfCheck"]


def questions(chapter=None):
    """All self-check questions, or those of one chapter ('06' or 6), in order."""
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
