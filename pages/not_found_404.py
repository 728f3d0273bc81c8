"""Any unknown address inside the dashboard."""
from __future__ import annotations

import dash
from dash import dcc, html

from pages._components import create_empty_state

dash.register_page(__name__, path="/404", name="Not found", title="Not found · Chronos Synapse")


def layout(**_unknown: object) -> html.Div:
    return create_empty_state("Nothing here", "That address is not a page of the dashboard.",
                              action=dcc.Link("Go to the overview", href="/"))
