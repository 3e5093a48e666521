import pytest

from cti.agi.protocol import AgiCommandError, build_command, parse_env, parse_reply
from cti.agi.session import AgiReply, AgiSession, Digits
from cti.errors import AgiHangup, UnsafeValue
from tests.unit.agi.fake_asterisk import scripted_session


@pytest.mark.parametrize(("line", "reply"), [
    ("200 result=0", AgiReply(200, "0", "")),
    ("200 result=1 (some value)", AgiReply(200, "1", "some value")),
    ("200 result= (timeout)", AgiReply(200, "", "timeout")),
    ("200 result=42 (timeout)", AgiReply(200, "42", "timeout")),
    ("200 result=0 endpos=7360", AgiReply(200, "0", "")),
    ("200 result=1 (f(x) = (y))", AgiReply(200, "1", "f(x) = (y)")),
])
def test_parse_reply(line: str, reply: AgiReply) -> None:
    assert parse_reply(line) == reply


@pytest.mark.parametrize("line", ["HANGUP", "511 Command Not Permitted on a dead channel or intercept routine"])
def test_hangup_replies(line: str) -> None:
    with pytest.raises(AgiHangup):
        parse_reply(line)


@pytest.mark.parametrize("line", ["510 Invalid or unknown command", "garbage", "200 endpos=1"])
def test_refused_or_unreadable_replies(line: str) -> None:
    with pytest.raises(AgiCommandError):
        parse_reply(line)


@pytest.mark.parametrize(("words", "line"), [
    (("ANSWER",), "ANSWER\n"),
    (("STREAM FILE", "beep", ""), 'STREAM FILE beep ""\n'),
    (("SET VARIABLE", "CTI_NOTE", "two words"), 'SET VARIABLE CTI_NOTE "two words"\n'),
    (("SET VARIABLE", "X", "a\\b"), "SET VARIABLE X a\\\\b\n"),
    (("SET VARIABLE", "CHANNEL(language)", "zh"), "SET VARIABLE CHANNEL(language) zh\n"),
    (("SAY NUMBER", 42, ""), 'SAY NUMBER 42 ""\n'),  # a non-str word takes the checked path
    (("STREAM FILE", "x" * 1025, ""), None),  # past MAX_VALUE_LENGTH: refused, not sent
    (("ANSWER\n",), None), (("STREAM FILE\r\nEXEC System",), None), ((7,), None),
])
def test_build_command_quotes_and_escapes(words: tuple[object, ...], line: str | None) -> None:
    if line is None:
        with pytest.raises(UnsafeValue):
            build_command(words)
    else:
        assert build_command(words).decode() == line


def test_env_drops_the_agi_prefix() -> None:
    env = parse_env(["agi_channel: Local/5000@x-1;2", "agi_extension: 5000", "agi_arg_1: a: b", "junk"])
    assert env == {"channel": "Local/5000@x-1;2", "extension": "5000", "arg_1": "a: b"}


async def test_menu_flow_over_scripted_replies() -> None:
    session, asterisk = scripted_session(
        "200 result=0",
        ["100 result=0 Trying...", "200 result=50 endpos=1200"],  # caller pressed '2'
        "200 result=12 (timeout)",
        "200 result=1",
        "200 result=1 (queue)",
        "200 result=0",
    )
    agi: AgiSession = session
    await agi.answer()
    assert await agi.stream_file("welcome", "12") == "2"
    assert await agi.get_data("menu", 3000, 4) == Digits("12", timed_out=True)
    await agi.set_variable("CTI_NEXT", "queue")
    assert await agi.get_variable("CTI_NEXT") == "queue"
    assert await agi.get_variable("UNSET") is None
    assert asterisk.written == [
        "ANSWER\n", 'STREAM FILE welcome 12\n', "GET DATA menu 3000 4\n", "SET VARIABLE CTI_NEXT queue\n",
        "GET VARIABLE CTI_NEXT\n", "GET VARIABLE UNSET\n",
    ]
    assert agi.env["extension"] == "5000"


async def test_get_data_without_timeout_and_without_digits() -> None:
    session, _ = scripted_session("200 result=1234", "200 result= (timeout)", "200 result=")
    assert await session.get_data("menu", 3000, 4) == Digits("1234", timed_out=False)
    assert await session.get_data("menu", 3000, 4) == Digits("", timed_out=True)
    assert await session.get_data("menu", 3000, 4) == Digits("", timed_out=False)  # '#' at once


async def test_hangup_mid_command_then_every_command_refused() -> None:
    session, asterisk = scripted_session(["200 result=-1 endpos=0", "HANGUP"])
    with pytest.raises(AgiHangup):
        await session.stream_file("long-prompt")
    assert session.hung_up
    with pytest.raises(AgiHangup):
        await session.answer()
    assert asterisk.written == ["STREAM FILE long-prompt \"\"\n", "CHANNEL STATUS\n"]


async def test_minus_one_on_a_live_channel_is_a_command_error_not_a_hangup() -> None:
    # STREAM FILE answers -1 for a missing sound file while the channel is fine.
    session, _ = scripted_session("200 result=-1 endpos=0", "200 result=6")
    with pytest.raises(AgiCommandError, match="live channel"):
        await session.stream_file("no-such-prompt")
    assert not session.hung_up


async def test_dead_channel_511_and_eof_are_hangups() -> None:
    session, _ = scripted_session("511 Command Not Permitted on a dead channel or intercept routine")
    with pytest.raises(AgiHangup):
        await session.answer()
    session, _ = scripted_session()  # Asterisk closes the connection
    with pytest.raises(AgiHangup):
        await session.answer()


async def test_usage_error_block_is_consumed() -> None:
    session, _ = scripted_session(
        ["520-Invalid command syntax.  Proper usage follows:", " Usage: GET DATA <file>", "520 End of proper usage."],
        "200 result=0",
    )
    with pytest.raises(AgiCommandError, match="Usage: GET DATA"):
        await session.command("GET DATA")
    await session.answer()  # the stream is still in step


@pytest.mark.parametrize("bad", ["queue\r\nEXEC System rm", "a\nb", 'say "hi"', "x\x00"])
async def test_unsafe_word_refused_before_anything_is_written(bad: str) -> None:
    session, asterisk = scripted_session("200 result=1")
    with pytest.raises(UnsafeValue):
        await session.set_variable("CTI_NEXT", bad)
    with pytest.raises(UnsafeValue):
        await session.command("STREAM FILE", bad, "")
    assert asterisk.written == []


async def test_names_and_exec_arguments_are_checked() -> None:
    session, asterisk = scripted_session("200 result=0")
    with pytest.raises(UnsafeValue):
        await session.set_variable("CTI NEXT", "queue")
    with pytest.raises(UnsafeValue):
        await session.exec("System;", "x")
    with pytest.raises(UnsafeValue):
        await session.exec("Playback", "beep,noanswer")
    with pytest.raises(UnsafeValue):
        await session.command("ANSWER\nHANGUP")
    assert asterisk.written == []
    assert await session.exec("Playback", "beep", "noanswer") == AgiReply(200, "0", "")
    assert asterisk.written == ["EXEC Playback beep,noanswer\n"]


async def test_digits_and_numbers() -> None:
    session, asterisk = scripted_session("200 result=0", "200 result=35", "200 result=0")
    assert await session.wait_for_digit(2000) == ""
    assert await session.say_digits("123", "#") == "#"
    assert await session.say_number(42) == ""
    assert asterisk.written == ["WAIT FOR DIGIT 2000\n", "SAY DIGITS 123 #\n", 'SAY NUMBER 42 ""\n']


async def test_hangup_marks_the_session_dead() -> None:
    session, _ = scripted_session("200 result=1")
    await session.hangup()
    with pytest.raises(AgiHangup):
        await session.answer()


async def test_set_variables_is_one_round_trip_unless_a_value_holds_a_comma() -> None:
    session, asterisk = scripted_session("200 result=0", "200 result=0", "200 result=1", "200 result=1")
    await session.set_variables({"CTI_QUEUE": "support", "CTI_PRIORITY": "5", "CTI_NEXT": "queue"})
    assert asterisk.written == ["EXEC MSet CTI_QUEUE=support,CTI_PRIORITY=5,CTI_NEXT=queue\n"]
    # MSet splits on ',': such a value is set on its own, the rest still in one go.
    await session.set_variables({"CTI_NOTE": "a,b", "CTI_NEXT": "queue", "CTI_QUEUE": "sales"})
    assert asterisk.written[1:] == ["EXEC MSet CTI_NEXT=queue,CTI_QUEUE=sales\n", "SET VARIABLE CTI_NOTE a,b\n"]
    await session.set_variables({"CTI_NEXT": "hangup"})
    assert asterisk.written[3:] == ["SET VARIABLE CTI_NEXT hangup\n"]
    with pytest.raises(UnsafeValue):
        await session.set_variables({"CTI NEXT": "queue", "CTI_QUEUE": "x"})
    with pytest.raises(UnsafeValue):
        await session.set_variables({"CTI_NEXT": "queue\nHANGUP", "CTI_QUEUE": "x"})
    assert len(asterisk.written) == 4


async def test_set_variables_keeps_values_msets_parser_would_change_out_of_the_mset() -> None:
    """MSet's argument parser (Asterisk's app-argument splitter) also keeps a ',' inside parentheses
    (an unbalanced '(' would swallow the next pair, here CTI_NEXT) and strips backslashes: such a
    value (a caller's number inside the ACD's queue entry) is set on its own, as it is."""
    session, asterisk = scripted_session("200 result=0", "200 result=1", "200 result=1", "200 result=1")
    entry = "v2|1.2|support|3.000|0|||(555 123"
    await session.set_variables({"CTI_QUEUE": "support", "CTI_ACD": entry, "CTI_NEXT": "queue"})
    assert asterisk.written == ["EXEC MSet CTI_QUEUE=support,CTI_NEXT=queue\n", f'SET VARIABLE CTI_ACD "{entry}"\n']
    await session.set_variables({"CTI_ACD": "v2|a\\b)", "CTI_QUEUE": "sales", "CTI_NEXT": "queue"})
    assert asterisk.written[2:] == ["EXEC MSet CTI_QUEUE=sales,CTI_NEXT=queue\n", "SET VARIABLE CTI_ACD v2|a\\\\b)\n"]


async def test_the_last_set_variables_ends_the_session_without_waiting_for_the_reply() -> None:
    session, asterisk = scripted_session("200 result=1", "200 result=0")
    await session.set_variables({"CTI_NOTE": "a,b", "CTI_QUEUE": "support", "CTI_NEXT": "queue"}, last=True)
    # Every command but the last is a round trip; the last goes out and the connection closes behind it.
    assert asterisk.written == ["EXEC MSet CTI_QUEUE=support,CTI_NEXT=queue\n", "SET VARIABLE CTI_NOTE a,b\n"]
    assert asterisk.closed and session.commands == 2
    assert not asterisk.replies  # the MSet's reply came (the fake answers at once) ...
    with pytest.raises(AgiCommandError, match="ended"):  # ... but nothing is read or sent any more
        await session.answer()
    assert len(asterisk.written) == 2


async def test_the_last_set_variables_reports_a_hangup_that_came_first() -> None:
    session, asterisk = scripted_session("200 result=0")
    session._stream.data_received(b"HANGUP\n")  # the caller left while the IVR decided
    with pytest.raises(AgiHangup):
        await session.set_variables({"CTI_NEXT": "queue", "CTI_QUEUE": "support"}, last=True)
    assert asterisk.written == ["EXEC MSet CTI_NEXT=queue,CTI_QUEUE=support\n"] and not asterisk.closed


async def test_set_variables_writes_the_channel_s_language_in_the_mset_and_no_other_function() -> None:
    """The IVR's last set may carry the caller's language (ivr/driver.py); a function that writes
    files or AstDB is refused like any name that is not a variable's."""
    session, asterisk = scripted_session("200 result=0", "200 result=1")
    await session.set_variables({"CHANNEL(language)": "zh", "CTI_NEXT": "queue"})
    assert asterisk.written == ["EXEC MSet CHANNEL(language)=zh,CTI_NEXT=queue\n"]
    for name in ("FILE(x)", "DB(cti_away)", "CHANNEL(hangup_handler_push)", "CHANNEL(language)=x"):
        with pytest.raises(UnsafeValue):
            await session.set_variables({name: "1", "CTI_NEXT": "queue"})
    assert len(asterisk.written) == 1
