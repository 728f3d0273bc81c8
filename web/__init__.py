"""Server-rendered web pieces around the Dash app: sign-in, the session gate, vendored static files."""
