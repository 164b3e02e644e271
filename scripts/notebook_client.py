"""The notebook client that executes the chapters: nbclient's, without a lost wake-up in widget cells.

Used by ``build_course.py`` (``make course``) and by the tests (``tests/conftest.py``).

While a cell draws into an ``ipywidgets.Output`` (the chapters' slider apps do), nbclient's
stand-in for a browser's Output widget sends the widget's new state to the kernel on the shell
socket, from the task reading IOPub, while the cell's other task awaits the execute_reply on that
same socket (``zmq.asyncio.Socket.poll``).  jupyter_client's ``Session.send`` writes through a
blocking shadow of the asyncio socket, and the send drains the socket's edge-triggered ``zmq.FD``
without pyzmq knowing.  If the reply came in just then, the pending poll is never woken: it ends
when its timeout (the cell timeout) expires, finds the reply and returns it, so the cell takes the
whole timeout and raises nothing (nbclient issue 312, jupyter_client PR 1059).  Measured: 3 to 9
such stalls in 300 runs of chapter 6's widget cell with the stock client, none with this one.

Reading ``zmq.EVENTS`` through the asyncio socket after the send makes pyzmq re-check the socket and
wake any pending poll (``zmq/_future.py``: ``_AsyncSocket.get`` -> ``_schedule_remaining_events``);
a reply arriving after that check signals the FD afresh.
"""
from functools import cache

from nbclient import NotebookClient


@cache
def rearming_output_widget():
    """nbclient's Output-widget stand-in, re-arming the shell socket's wake-up after each send."""
    import zmq
    from nbclient.output_widget import OutputWidget

    class RearmingOutputWidget(OutputWidget):
        def _publish_msg(self, *args, **kwargs):
            super()._publish_msg(*args, **kwargs)
            self.kernel_client.shell_channel.socket.get(zmq.EVENTS)

    return RearmingOutputWidget


def notebook_client(nb, **kwargs):
    """``NotebookClient(nb, **kwargs)`` with the re-arming Output widget registered."""
    client = NotebookClient(nb, **kwargs)
    client.widget_registry["@jupyter-widgets/output"]["OutputModel"] = rearming_output_widget()
    return client
