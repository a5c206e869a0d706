"""The scheduled jobs (cronjobs/: the CronJobs and the single host's crontab, times in
Asia/Seoul) and whether a job missed its schedule. Pure: the caller gives the time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from quartz_cli.domain.krx import KST

#: Job name (the CronJob's name, QUARTZ_JOB) → its cron schedule in KST. A test holds this
#: equal to cronjobs/*.yaml and cronjobs/crontab.
JOB_SCHEDULES: dict[str, str] = {
    "auth-refresh": "30 8 * * *",
    "macro": "0 7,19 * * *",
    "select": "0 0,12 * * *",
    "decide": "0,30 9-15 * * 1-5",
    "rebalance": "*/5 9-15 * * 1-5",
    "data-pull": "0 17 * * 1-5",
}
#: A run may start this late (a CronJob's startingDeadlineSeconds, plus slack) and still
#: count as the scheduled one.
START_GRACE = timedelta(minutes=10)
#: Hosts' clocks may differ by this much: a run that started this early counts too.
CLOCK_SKEW = timedelta(minutes=1)
#: How far back to look for a schedule's last firing (every schedule fires within a week).
LOOKBACK_DAYS = 8


def _field(spec: str, low: int, high: int) -> frozenset[int]:
    out: set[int] = set()
    for part in spec.split(","):
        body, _, step = part.partition("/")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, b = body.split("-")
            first, last = int(a), int(b)
        else:
            first = last = int(body)
        out.update(range(first, last + 1, int(step) if step else 1))
    return frozenset(out)


@dataclass(frozen=True)
class Schedule:
    """A 5-field cron schedule (minute hour day-of-month month day-of-week) in KST."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 is read as 0)
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Read `text`; ValueError if it is not five cron fields."""
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"not a 5-field cron schedule: {text!r}")
        minute, hour, dom, month, dow = fields
        return cls(_field(minute, 0, 59), _field(hour, 0, 23), _field(dom, 1, 31),
                   _field(month, 1, 12), frozenset(d % 7 for d in _field(dow, 0, 7)),
                   dom == "*", dow == "*")

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        on_dom = day.day in self.days
        on_dow = day.isoweekday() % 7 in self.weekdays
        # Cron's rule: with both restricted, either one matching is enough.
        if not self.any_day and not self.any_weekday:
            return on_dom or on_dow
        return on_dom and on_dow

    def last_fire(self, now: datetime) -> datetime | None:
        """The latest time at or before `now` (aware) that the schedule fires, in KST."""
        local = now.astimezone(KST).replace(second=0, microsecond=0)
        for back in range(LOOKBACK_DAYS + 1):
            day = local - timedelta(days=back)
            if not self._day_matches(day):
                continue
            times = sorted(((h, m) for h in self.hours for m in self.minutes), reverse=True)
            for hour, minute in times:
                fire = day.replace(hour=hour, minute=minute)
                if fire <= local:
                    return fire
        return None


def job_state(schedule: str, now: datetime, started_at: datetime | None,
              exit_code: int | None) -> tuple[str, datetime | None]:
    """(state, the schedule's last firing) of a job whose last run started at `started_at`
    and ended with `exit_code` (None: running, or died without an end). The state is
    `never run`, `missed` (it fired more than START_GRACE ago and no run started since it),
    `running`, `failed` (last exit non-zero) or `ok`."""
    fired = Schedule.parse(schedule).last_fire(now)
    if started_at is None:
        return "never run", fired
    if fired is not None and now - fired > START_GRACE and started_at < fired - CLOCK_SKEW:
        return "missed", fired
    if exit_code is None:
        return "running", fired
    return ("ok" if exit_code == 0 else "failed"), fired
