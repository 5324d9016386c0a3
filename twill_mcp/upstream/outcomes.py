"""What Twill's answer (or the lack of one) means: the one policy for retries and for what an agent is told.

Whether a request may be repeated depends on two things only: what the answer
proves about whether Twill acted, and whether the operation is safe to repeat.
The transport asks `repeatable` before retrying; the response readers ask the same
function for the `retryable` flag an agent sees, so the two can never disagree.
No status number or retry rule lives anywhere else.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from twill_mcp.core.config import TWILL_RATE_LIMIT
from twill_mcp.core.errors import OutcomeUnknown, ToolCallError, UpstreamTimeout, UpstreamUnreachable

RATE_LIMITED = 429
UNAUTHORIZED = 401
# Answers that prove nothing was done: any operation may be sent again.
NOTHING_DONE = frozenset({RATE_LIMITED})
# Answers after which Twill may have acted half-way: only a repeat-safe operation is sent again.
MAYBE_DONE = frozenset({408, 500, 502, 503, 504})

# A retry, or a wait for the rate budget, is only worth starting if this much of the deadline is left for it.
MIN_ATTEMPT_SECONDS = 1.0
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 3600.0
_DELTA_SECONDS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class Effect:
    """What repeating or losing a request means for the operation that sent it."""

    read_only: bool
    idempotent: bool
    action: str
    """The action in words, for messages: 'cancel the task'."""

    @property
    def repeat_safe(self) -> bool:
        return self.read_only or self.idempotent


def repeatable(status: int, effect: Effect) -> bool:
    """Whether an answer with this status may be repeated: now by the transport, later by the agent."""
    return status in NOTHING_DONE or (status in MAYBE_DONE and effect.repeat_safe)


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter, so that parallel callers do not retry in lockstep."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**attempt)
    jitter = (rng or random).uniform(0.5, 1.0)
    return ceiling * jitter


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds from now: either delta-seconds or an HTTP date; anything else is None.

    Capped at an hour (Twill's longest window): an absurd value, even one that overflows
    to infinity, must not hold every call back for years. Only ASCII is read: `str.isdigit`,
    `float` and the date parser's `int` all take other scripts' digits, and some (`²`) they
    disagree on.
    """
    if not value:
        return None
    value = value.strip()
    if not value.isascii():
        return None
    if _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, round(seconds, 1)))


# A 401 for a key that came from an OAuth grant (`--auth oauth`): the host must sign in again, and claude.ai
# often does not offer that by itself, so the model is told to ask.
GRANT_ENDED_HINT = (
    "Twill no longer accepts the API key this connection was set up with (revoked or expired). Ask the user to "
    "reconnect the Twill connector (or sign in again) with a current key. Retrying will not help."
)


def status_hint(status: int, effect: Effect, retry_after: float | None) -> str:
    """What an agent should do after an error answer with this status."""
    if status == UNAUTHORIZED:
        return (
            "The API key was rejected. Ask the user to check TWILL_API_KEY (a key of a cloud workspace, "
            "from Twill workspace settings → API Keys). Retrying will not help."
        )
    if status == 403:
        return (
            "This key's workspace is not allowed to do this (some features need a paid plan). Retrying will not help."
        )
    if status == 404:
        return "Nothing exists under that id or slug for this key's workspace. Check the value; retrying will not help."
    if status == 409:
        return "The resource is not in a state that allows this right now. Check its state first."
    if status == RATE_LIMITED:
        wait = f"Wait {retry_after:g} s" if retry_after is not None else "Wait a minute"
        limit = f"{TWILL_RATE_LIMIT} requests per minute"
        return f"Twill's rate limit for this key was hit ({limit}). {wait} before calling again."
    if status in MAYBE_DONE:
        problem = "Twill timed out waiting for the request." if status == 408 else "Twill had a server-side problem."
        if effect.repeat_safe:
            later = f" Wait {retry_after:g} s, then call again." if retry_after is not None else ""
            return f"{problem} Calling again later is safe.{later}"
        return f"{problem} Check whether it did {effect.action} before calling again: a repeat could do it twice."
    if status == 501:
        return "Twill does not support this operation (HTTP 501); the API may have changed. Retrying will not help."
    if 400 <= status < 500:
        return "Twill rejected the request as sent. Fix the arguments using the message, then call again."
    if effect.read_only:
        return f"Twill answered with an unexpected status (HTTP {status}). Retrying is unlikely to help."
    return f"Twill answered with an unexpected status (HTTP {status}). Check whether it did {effect.action}."


def after_success(status: int, effect: Effect, advice: str) -> str:
    """The hint for a success status whose body cannot be used: the action itself most likely happened."""
    if 200 <= status < 300 and not effect.read_only:
        return f"Twill accepted the request, so it most likely did {effect.action}. {advice}"
    return advice


def not_sent(why: str, *, timed_out: bool) -> ToolCallError:
    """Nothing left this process: any operation may be sent again."""
    if timed_out:
        return UpstreamTimeout(
            f"{why}; nothing was sent.", hint="Twill or the network may be slow or down. Calling again later is safe."
        )
    return UpstreamUnreachable(
        f"{why}; nothing was sent.", hint="Check the network and TWILL_BASE_URL. Calling again later is safe."
    )


def repeat_advice(effect: Effect) -> str:
    """What to do about a request whose answer was lost: the one wording, in results and in logs."""
    if effect.read_only:
        return "This call changes nothing; calling again is safe."
    if effect.idempotent:
        return "Calling it again is safe: repeating it has no further effect."
    return "Check the current state before calling again: a repeat could do it twice."


def unknown_outcome(effect: Effect) -> str | None:
    """What is unknown once a request may have reached Twill unanswered; None for a read, which changes nothing."""
    if effect.read_only:
        return None
    return f"{OutcomeUnknown.code}: whether Twill did {effect.action}"


def lost(effect: Effect, why: str, *, timed_out: bool) -> ToolCallError:
    """The request was (maybe) sent, but its answer was lost: whether Twill acted is unknown."""
    if effect.read_only:
        cls = UpstreamTimeout if timed_out else UpstreamUnreachable
        return cls(f"Twill did not answer: {why}.", hint=repeat_advice(effect))
    return OutcomeUnknown(
        f"The request reached Twill but the answer was lost ({why}): it is unknown whether Twill did {effect.action}.",
        hint=repeat_advice(effect),
        retryable=effect.idempotent,
    )
