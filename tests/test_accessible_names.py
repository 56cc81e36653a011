"""Every control of the playground has a name of its own: a screen reader, which reads a
control by its name, must be able to tell the columns' temperature fields apart."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

from tests.fake_upstream import FakeUpstream

CONTROLS = ("input", "select", "textarea", "button")


class Names(HTMLParser):
    """The accessible name of each visible control: its aria-label, else the text of the
    label around it (hidden text included, as a screen reader reads it), else its own text."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self._label: list[str] | None = None
        self._pending: list[list[str]] = []  # controls inside the open label, named at its end
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self._label = []
        if tag not in CONTROLS or a.get("type") == "hidden" or a.get("readonly") is not None:
            return
        if a.get("aria-label"):
            self.names.append(str(a["aria-label"]))
        elif tag == "button":
            self._button = []
        elif self._label is not None:
            self._pending.append(self._label)
        else:
            self.names.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None:
            self.names.append(" ".join("".join(self._button).split()))
            self._button = None
        if tag == "label" and self._label is not None:
            for _ in self._pending:
                self.names.append(" ".join("".join(self._label).split()))
            self._label, self._pending = None, []

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)
        # A control's own text (a textarea's value, an option) is not part of the label.
        elif self._label is not None and not self._pending:
            self._label.append(data)


def control_names(html: str) -> list[str]:
    parser = Names()
    parser.feed(html)
    return parser.names


def test_each_control_of_the_playground_has_a_name_of_its_own(client, fake: FakeUpstream):
    names = control_names(client.get("/").text)
    assert "Column 2 temperature" in names and "Remove column 3" in names
    assert "" not in names
    assert [name for name, count in Counter(names).items() if count > 1] == []
