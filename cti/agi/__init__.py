"""AGI: one session interface (``AgiSession``) over FastAGI (panoramisk) and classic AGI (pyst2)."""
