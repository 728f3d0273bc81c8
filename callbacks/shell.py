"""Navbar callbacks: the theme switch (client-side)."""
from __future__ import annotations

from dash import Input, Output, State, clientside_callback

from pages._ids import shell

clientside_callback(
    "function(n, theme){ var t = n ? (theme === 'dark' ? 'light' : 'dark') : (theme || 'light');"
    " document.documentElement.setAttribute('data-bs-theme', t); return t; }",
    Output(shell.theme, "data"),
    Input(shell.theme_toggle, "n_clicks"),
    State(shell.theme, "data"),
)
