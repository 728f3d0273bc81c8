"""The scheduler process (``python -m scheduler``, ``chronos scheduler``). It never imports Flask."""
