"""scripts/build_course.py: the HTML page of a chapter reads offline, and executing it logs no kernel warning."""
import re
import sys

import nbformat
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import build_course  # noqa: E402  (scripts/ is not a package)


@pytest.mark.slow
def test_chapter_page_uses_local_mathjax_and_shows_the_widget_state(tmp_path, capfd):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("The shrinkage factor $k = \\tau^2 / (\\tau^2 + \\sigma^2 / n)$."),
        nbformat.v4.new_code_cell("import ipywidgets as w\nw.FloatSlider(value=2.5, description='tau')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)

    seconds, error = build_course.execute_chapter(path, tmp_path / "out", timeout=60)
    log = capfd.readouterr()

    assert error is None, error
    page = (tmp_path / "out" / "chapter.html").read_text(encoding="utf-8")
    assert 'src="mathjax/MathJax.js?config=' in page, "MathJax should load from build/chapters/mathjax/"
    remote = re.findall(r'<script[^>]*\bsrc="(https?://[^"]+)"', page)
    assert not remote, f"the page loads scripts from the internet: {remote}"
    assert "tau = 2.5" in page and "jupyter lab chapters/chapter.ipynb" in page, "widget's saved state and command"
    kernel_warnings = [line for line in (log.out + log.err).splitlines() if "WARNING" in line]
    assert not kernel_warnings, f"the build log has kernel warnings: {kernel_warnings}"


def test_chapters_run_with_the_rearming_output_widget():
    """The course build and the tests execute chapters with notebook_client's Output-widget stand-in, which
    re-arms the shell socket after each send (the ~120 s stall of widget cells, scripts/notebook_client.py)."""
    from nbclient.output_widget import OutputWidget

    import notebook_client
    client = notebook_client.notebook_client(nbformat.v4.new_notebook())
    widget = client.widget_registry["@jupyter-widgets/output"]["OutputModel"]
    assert issubclass(widget, OutputWidget) and widget._publish_msg is not OutputWidget._publish_msg
    assert build_course.notebook_client is notebook_client.notebook_client
