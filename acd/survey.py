"""The caller's satisfaction survey (``survey:`` of a queue in config/queues.yaml).

``SurveyInvites`` marks a queued caller's channel (CTI_SURVEY=1, CTI_SURVEY_QUEUE) when its queue
asks for a survey; ``cti-agent-connect`` then bridges with ``F(cti-survey^s^1)`` so the agent
hanging up their phone sends the caller on to the survey, and the console's hang-up redirects the
caller there (``CallActions.survey_queues``). The ``survey`` FastAGI route asks the questions (keys
1-5, two tries each) and publishes ``SurveyAnswered``, which the CRM folds into the interaction.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from acd.recording import SurveyPolicy
from cti.agi.protocol import AgiCommandError
from cti.agi.session import AgiSession
from cti.ami.control import CallControl
from cti.bus import EventBus, observe
from cti.errors import AgiHangup, CtiError
from cti.journey import QueueEntered, SurveyAnswered
from cti.tasks import TaskSet

log = logging.getLogger(__name__)

_TRIES = 2
BEEP = "beep"  # Asterisk's stock tone after each question, then the key (``cti config check`` looks for it)
_STOP_MARKS_S = 2.0  # two Setvar actions, each answered in milliseconds when AMI is up


class SurveyInvites:
    """Marks callers of surveyed queues as they enter the queue."""

    def __init__(self, bus: EventBus, control: Callable[[], CallControl], surveys: Mapping[str, SurveyPolicy]) -> None:
        self.bus, self.control, self.surveys = bus, control, surveys
        self._marks = TaskSet(log, "survey: %s failed")
        self._stopped = False  # AMI closes next: a mark would fail

    def subscribe(self) -> None:
        if self.surveys:
            # A bus observer: most queues ask for no survey, and a worker task woken for every
            # queue entry would cost more than the look-up; a surveyed caller's marks (two AMI
            # actions) are written by a task of their own.
            observe(self.bus, QueueEntered, self._on_queue_entered, name="survey.queue_entered")

    async def stop(self) -> None:
        """Let the marks under way finish (bounded: AMI may be gone), before AMI closes."""
        self._stopped = True
        await self._marks.stop(_STOP_MARKS_S)

    def _on_queue_entered(self, ev: QueueEntered) -> None:
        if ev.queue not in self.surveys or not ev.channel:
            return
        if self._stopped:
            log.info("survey: caller %s entered %s as the engine stops: not marked", ev.channel, ev.queue)
            return
        self._marks.spawn(self._mark(ev.channel, ev.queue), f"survey.mark:{ev.linkedid}")

    async def _mark(self, channel: str, queue: str) -> None:
        try:
            await self.control().set_var(channel, "CTI_SURVEY", "1")
            await self.control().set_var(channel, "CTI_SURVEY_QUEUE", queue)
        except CtiError as err:
            log.warning("survey: could not mark caller %s: %s", channel, err.message)


def score(digit: str) -> int | None:
    return int(digit) if len(digit) == 1 and digit in "12345" else None


def make_survey_route(bus: EventBus, surveys: Mapping[str, SurveyPolicy], clock: Callable[[], float], *,
                      on_start: Callable[[str], Awaitable[None]] | None = None,
                      ) -> Callable[[AgiSession], Awaitable[None]]:
    """``on_start(linkedid)``: the agent's part is over (the engine releases the agent to wrap-up
    when the agent hung up their phone, which the ACD does not otherwise see while the caller stays)."""

    async def survey_route(session: AgiSession) -> None:
        queue = await session.get_variable("CTI_SURVEY_QUEUE") or ""
        linkedid = await session.get_variable("CTI_SURVEY_LINKEDID") or session.env.get("uniqueid", "")
        if on_start is not None:
            try:
                await on_start(linkedid)
            except CtiError as err:
                log.warning("survey: releasing the agent of %s failed: %s", linkedid, err.message)
        policy = surveys.get(queue)
        if policy is None:
            log.warning("survey: caller %s reached the survey for queue %r, which has none", linkedid, queue)
            return
        scores: list[int | None] = []
        try:
            for question in policy.questions:
                answer: int | None = None
                for _ in range(_TRIES):
                    digit = await play_prompt(session, question, "12345")
                    if not digit:
                        got = await session.get_data(BEEP, policy.timeout_ms, 1)
                        digit = got.digits
                    answer = score(digit)
                    if answer is not None:
                        break
                scores.append(answer)
        except AgiHangup:
            pass  # hung up half-way: what was answered still counts
        if any(s is not None for s in scores):
            await bus.publish(SurveyAnswered(ts=clock(), linkedid=linkedid, queue=queue, scores=tuple(scores)))
        with contextlib.suppress(AgiHangup):
            await play_prompt(session, policy.thanks)

    return survey_route


async def play_prompt(session: AgiSession, sound: str, escape_digits: str = "") -> str:
    """Play a prompt; a missing sound file is skipped (logged), not the end of the conversation."""
    try:
        return await session.stream_file(sound, escape_digits)
    except AgiCommandError as err:
        log.warning("could not play %r: %s", sound, err)
        return ""
