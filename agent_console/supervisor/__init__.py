"""The supervisor's side of the console: live wallboard over /ws/supervisor, escalation alerts,
interventions (listen / whisper / barge, force not ready or logout, live skills) with an audit log,
interval reports (JSON, CSV, SVG) and the Erlang C staffing calculator. ``install.install_supervisor``
mounts it on the console app; docs/supervisor.md describes it."""
