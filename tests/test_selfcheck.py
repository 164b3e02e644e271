"""The self-check widget: feedback as a plain function, and the widget driven headless."""
import pytest

from mixedlite import selfcheck

pytest.importorskip("ipywidgets")


def test_every_question_explains_every_option():
    questions = selfcheck.questions()
    assert len(questions) >= 20
    assert len({q.key for q in questions}) == len(questions), "keys must be unique"
    for q in questions:
        assert all(len(o.text) > 0 and len(o.why) > 15 for o in q.options), q.key


def test_feedback_says_right_or_wrong_and_why():
    q = selfcheck.questions("03")[0]          # between 9, residual 27: ICC 0.25 is d
    correct, message = q.feedback("D ")
    assert correct and message.startswith("Right.") and q.option("d").why in message
    for letter in "abc":
        correct, message = q.feedback(letter)
        assert not correct and message.startswith("Not quite.") and q.option(letter).why in message
    with pytest.raises(ValueError, match="choose one of a, b, c, d"):
        q.feedback("e")


def test_explain_all_marks_only_the_best_answer():
    q = selfcheck.questions(6)[0]
    text = q.explain_all()
    assert text.count("(best answer)") == 1 and f"{q.answer}. {q.option(q.answer).text} (best answer)" in text
    assert all(o.why in text for o in q.options)


def test_widget_gives_immediate_feedback():
    app = selfcheck.ask("06.1")
    assert app.check() is None and "Pick an option" in app.feedback.value
    app.choose("c")
    assert app.check() is False and "Not quite." in app.feedback.value
    app.choose("b")
    assert app.check() is True and "Right." in app.feedback.value
    app.explain()
    assert app.feedback.value.count("best answer") == 4  # 'best answer' once, 'not the best answer' three times


def test_static_fallback_shows_the_question_but_not_the_answer():
    app = selfcheck.ask("09.1")
    bundle = app._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "Self-check 09.1" in data["text/html"] and "best answer" not in data["text/html"]
    assert all(o.why not in data["text/html"] for o in app.question.options)


def test_unknown_key_and_malformed_question_are_clear_errors():
    with pytest.raises(KeyError, match="keys look like '06.1'"):
        selfcheck.ask("99.9")
    with pytest.raises(ValueError, match="exactly 4 options"):
        selfcheck.Question("x", "?", (selfcheck.Option("a", "why"),), "a")
    with pytest.raises(ValueError, match="answer must be one of"):
        selfcheck.Question("x", "?", tuple(selfcheck.Option(t, "why") for t in "abcd"), "e")


def test_lazy_import():
    import mixedlite as ml
    assert ml.selfcheck is selfcheck
