"""cti.ami.queue_members: the fallback queues' members as AMI actions, Asterisk's "no error for us"
answers, QueueStatus parsing; over the real AmiClient, values are checked before anything is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from cti.ami.manager import AmiClient, AmiReply
from cti.ami.queue_members import AmiFallbackQueues
from cti.errors import AmiActionFailed, UnsafeValue
from cti.settings import AmiSettings
from tests.unit.cti.fake_ami import FakeAmi, default_handler, list_answer


class Sender:
    """Records actions; answers ``fail[action]`` as Asterisk's Response: Error message."""

    def __init__(self, fail: dict[str, str] | None = None, items: tuple[dict[str, str], ...] = ()) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail, self.items = fail or {}, items

    async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], **kw: Any) -> AmiReply:
        self.sent.append((action, {**headers, **kw}))
        if action in self.fail:
            raise AmiActionFailed(f"{action}: {self.fail[action]}")
        return AmiReply({"Response": "Success"}, self.items)


async def test_add_pause_remove_are_app_queue_actions_on_the_fallback_queue() -> None:
    send = Sender()
    queues = AmiFallbackQueues(send)
    assert await queues.add("support", "PJSIP/1001", name="1001", state_interface="PJSIP/1001", paused=True)
    await queues.pause("support", "PJSIP/1001", False)
    await queues.add("support", "Local/2002@cti-sim-phone/n", name="1002", state_interface="Local/2002@cti-sim-phone",
                     paused=False)
    await queues.remove("support", "PJSIP/1001")
    assert send.sent == [
        ("QueueAdd", {"Queue": "cti-fallback-support", "Interface": "PJSIP/1001", "MemberName": "1001",
                      "StateInterface": "PJSIP/1001", "Paused": "true"}),
        ("QueuePause", {"Queue": "cti-fallback-support", "Interface": "PJSIP/1001", "Paused": "false"}),
        ("QueueAdd", {"Queue": "cti-fallback-support", "Interface": "Local/2002@cti-sim-phone/n",
                      "MemberName": "1002", "StateInterface": "Local/2002@cti-sim-phone", "Paused": "false"}),
        ("QueueRemove", {"Queue": "cti-fallback-support", "Interface": "PJSIP/1001"}),
    ]


async def test_asterisk_answers_that_are_no_error() -> None:
    send = Sender(fail={"QueueAdd": "Unable to add interface: Already there",
                        "QueueRemove": "Unable to remove interface: Not there",
                        "QueuePause": "Interface not found"})
    queues = AmiFallbackQueues(send)
    assert await queues.add("support", "PJSIP/1001", name="1001", state_interface="PJSIP/1001", paused=False) is False
    await queues.remove("support", "PJSIP/1001")
    await queues.pause("support", "PJSIP/1001", True)
    assert [a for a, _ in send.sent] == ["QueueAdd", "QueueRemove", "QueuePause"]


@pytest.mark.parametrize("action", ["QueueAdd", "QueueRemove", "QueuePause", "QueueStatus"])
async def test_other_refusals_are_raised(action: str) -> None:
    queues = AmiFallbackQueues(Sender(fail={action: "Permission denied"}))
    call: Callable[[], Awaitable[object]] = {
        "QueueAdd": lambda: queues.add("support", "PJSIP/1", name="1", state_interface="PJSIP/1", paused=False),
        "QueueRemove": lambda: queues.remove("support", "PJSIP/1"),
        "QueuePause": lambda: queues.pause("support", "PJSIP/1", True),
        "QueueStatus": lambda: queues.members("support")}[action]
    with pytest.raises(AmiActionFailed, match="Permission denied"):
        await call()


async def test_members_are_the_queue_member_items() -> None:
    send = Sender(items=({"Event": "QueueParams", "Queue": "cti-fallback-support"},
                         {"Event": "QueueMember", "Location": "PJSIP/1001"},
                         {"Event": "QueueMember", "Interface": "Local/2002@cti-sim-phone/n"},
                         {"Event": "QueueMember"}))
    assert await AmiFallbackQueues(send).members("support") == ["PJSIP/1001", "Local/2002@cti-sim-phone/n"]
    assert send.sent == [("QueueStatus", {"Queue": "cti-fallback-support", "expect": "list"})]


async def test_over_the_real_client_values_are_checked_before_anything_is_sent() -> None:
    def handler(action: dict[str, str]) -> list[str]:
        if action.get("Action") != "QueueStatus":
            return default_handler(action)
        queue = action["Queue"]
        return list_answer(action["ActionID"], "QueueStatusComplete", f"Event: QueueParams\r\nQueue: {queue}",
                           f"Event: QueueMember\r\nQueue: {queue}\r\nLocation: PJSIP/1009")
    server = FakeAmi(handler)
    await server.start()
    client = AmiClient(AmiSettings(port=server.port, secret="s3cret", connect_timeout_s=1.0), lambda _: None)
    try:
        await client.start()
        await client.wait_connected(5)
        queues = AmiFallbackQueues(client)
        assert await queues.members("support") == ["PJSIP/1009"]
        with pytest.raises(UnsafeValue, match="Interface"):
            await queues.add("support", "PJSIP/1001\r\nAction: Logoff", name="1001", state_interface="PJSIP/1001",
                             paused=False)
        with pytest.raises(UnsafeValue, match="Queue"):
            await queues.remove("support\r\n", "PJSIP/1001")
        assert [a["Action"] for a in server.received if a["Action"].startswith("Queue")] == ["QueueStatus"]
    finally:
        await client.stop()
        await server.stop()
