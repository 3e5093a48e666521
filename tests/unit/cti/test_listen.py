"""Listening sockets bound before a server starts: a taken port names its setting."""

from __future__ import annotations

import socket

import pytest

from cti.errors import ConfigError
from cti.listen import check_free, listening_sockets
from tests.servers import free_port


def test_a_taken_port_is_a_config_error_naming_the_setting() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(ConfigError) as caught:
            listening_sockets("127.0.0.1", port, "metrics.port (CTI_METRICS__PORT)")
        assert caught.value.message.startswith(f"metrics.port (CTI_METRICS__PORT): 127.0.0.1:{port} is in use")
    finally:
        holder.close()


def test_a_free_port_is_bound_and_an_unknown_host_named() -> None:
    port = free_port()
    socks = listening_sockets("127.0.0.1", port, "web.port (CTI_WEB__PORT)")
    try:
        assert [s.getsockname() for s in socks] == [("127.0.0.1", port)]
    finally:
        for s in socks:
            s.close()
    with pytest.raises(ConfigError) as caught:
        listening_sockets("no-such-host.invalid", port, "web.port (CTI_WEB__PORT)")
    assert caught.value.message.startswith(f"web.port (CTI_WEB__PORT): cannot listen on no-such-host.invalid:{port}")


def test_check_free_names_the_first_taken_port_and_lets_free_ones_go() -> None:
    free = free_port()
    check_free([("127.0.0.1", free, "web.port (CTI_WEB__PORT)"), ("127.0.0.1", 0, "metrics.port")])
    check_free([("127.0.0.1", free, "web.port (CTI_WEB__PORT)")])  # let go: free again
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    try:
        with pytest.raises(ConfigError) as caught:
            check_free([("127.0.0.1", free, "web.port (CTI_WEB__PORT)"),
                        ("127.0.0.1", taken, "agi.port (CTI_AGI__PORT)")])
        assert caught.value.message.startswith(f"agi.port (CTI_AGI__PORT): 127.0.0.1:{taken} is in use")
    finally:
        holder.close()
