"""Helpers for driving the user portal with AppTest."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from .conftest import app_as

RUN_PAGE = "user/run_function.py"


def open_function(user: str, function: str) -> AppTest:
    """An AppTest signed in as `user`, on the run page of `function`."""
    app = app_as(user)
    app.query_params["function"] = function
    app.switch_page(RUN_PAGE).run()
    assert not app.exception, app.exception
    return app


def run_button(app: AppTest):
    (button,) = [b for b in app.button if b.label.startswith("Run")]
    return button


def widget(app: AppTest, kind: str, label: str):
    (found,) = [w for w in app.get(kind) if w.label == label]
    return found


def form_nodes(app: AppTest) -> list:
    """The children of the run form in order: each widget is followed by its error slot."""
    def forms(node) -> list:
        children = list(getattr(node, "children", {}).values())
        found = [child for child in children if getattr(child, "type", None) == "form"]
        return found + [f for child in children for f in forms(child)]

    (form,) = forms(app.main)
    return list(form.children.values())


def error_after(app: AppTest, label: str) -> str | None:
    """The error shown right under the widget labelled `label`, if any."""
    nodes = form_nodes(app)
    for index, node in enumerate(nodes):
        if getattr(node, "label", None) == label:
            slot = nodes[index + 1]
            return slot.value if slot.type == "error" else None
    raise AssertionError(f"no field labelled {label!r}")


def texts(app: AppTest, kind: str) -> list[str]:
    return [str(element.value) for element in app.get(kind)]
