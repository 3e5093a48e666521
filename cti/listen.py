"""Listening sockets bound before a server starts, so that a port already taken (a second engine,
another program) is a ``ConfigError`` naming the setting instead of a traceback, or uvicorn's
``sys.exit`` out of the event loop past the engine's clean stop."""

from __future__ import annotations

import errno
import socket

from cti.errors import ConfigError


def listening_sockets(host: str, port: int, setting: str) -> list[socket.socket]:
    """One bound socket per address ``host`` resolves to (as ``loop.create_server`` binds them);
    ``setting`` names the port's setting and variable in the error, e.g. ``web.port (CTI_WEB__PORT)``."""
    try:
        infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ConfigError(f"{setting}: cannot listen on {host}:{port}: {err.strerror}") from None
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.setblocking(False)
    except OSError as err:
        for sock in bound:
            sock.close()
        raise listen_error(setting, host, port, err) from None
    return bound


def listen_error(setting: str, host: str, port: int, err: OSError) -> ConfigError:
    """The error for a port that could not be bound, naming ``setting``."""
    if err.errno == errno.EADDRINUSE:
        return ConfigError(f"{setting}: {host}:{port} is in use (another engine, or another program, "
                           "listens there): stop it or choose another port")
    return ConfigError(f"{setting}: cannot listen on {host}:{port}: {err.strerror or err}")


def check_free(ports: list[tuple[str, int, str]]) -> None:
    """Each ``(host, port, setting)`` can be listened on now (bound, then let go): a run checks its
    ports before it touches anything, e.g. a running Asterisk a second engine would reconfigure."""
    for host, port, setting in ports:
        if port == 0:  # any free port: always one
            continue
        for sock in listening_sockets(host, port, setting):
            sock.close()
