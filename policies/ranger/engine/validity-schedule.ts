/**
 * Time-bound policies (Ranger's RangerValidityScheduleEvaluator): a policy
 * applies between startTime and endTime ("yyyy/MM/dd HH:mm:ss" in the
 * schedule's timeZone, or the engine's default zone) and, when recurrences
 * are given, only within `interval` after a minute that matches the
 * recurrence's cron-like schedule (minute hour dayOfMonth dayOfWeek month
 * year; `*`, lists, ranges).
 */
import type { ValiditySchedule } from './model.ts';

interface Fields { year: number; month: number; day: number; hour: number; minute: number; second: number; weekday: number }

const fmtCache = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock fields of `ms` in `zone` (month 1-12, weekday 1=Sunday as Java's Calendar). */
export function zonedFields(ms: number, zone: string): Fields {
  let fmt = fmtCache.get(zone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short' });
    fmtCache.set(zone, fmt);
  }
  const parts: Record<string, string> = {};
  for (const p of fmt.formatToParts(new Date(ms))) parts[p.type] = p.value;
  const wd = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday) + 1;
  return { year: +parts.year, month: +parts.month, day: +parts.day, hour: +parts.hour, minute: +parts.minute, second: +parts.second, weekday: wd };
}

/** Epoch ms of a wall-clock time in `zone`. */
export function zonedTime(y: number, mo: number, d: number, h: number, mi: number, s: number, zone: string): number {
  const guess = Date.UTC(y, mo - 1, d, h, mi, s);
  let t = guess;
  for (let i = 0; i < 3; i++) {
    const f = zonedFields(t, zone);
    const asUtc = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
    t += guess - asUtc;
  }
  return t;
}

/** Parses Ranger's "yyyy/MM/dd HH:mm:ss" in `zone`; undefined if malformed. */
export function parseScheduleTime(s: string, zone: string): number | undefined {
  const m = /^(\d{4})\/(\d{1,2})\/(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})$/.exec(s.trim());
  if (!m) return undefined;
  return zonedTime(+m[1], +m[2], +m[3], +m[4], +m[5], +m[6], zone);
}

/** True when `value` is allowed by a cron-like field spec (`*`, `a,b`, `a-b`). */
export function fieldMatches(spec: string, value: number): boolean {
  const s = spec.trim();
  if (s === '' || s === '*') return true;
  return s.split(',').some((part) => {
    const p = part.trim();
    if (p === '*') return true;
    const r = /^(\d+)\s*-\s*(\d+)$/.exec(p);
    if (r) return value >= +r[1] && value <= +r[2];
    return /^\d+$/.test(p) && +p === value;
  });
}

/** Whether a policy with `schedule` applies at `ms`. */
export function isScheduleApplicable(schedule: ValiditySchedule, ms: number, defaultZone: string): boolean {
  const zone = schedule.timeZone || defaultZone;
  const start = schedule.startTime ? parseScheduleTime(schedule.startTime, zone) : undefined;
  const end = schedule.endTime ? parseScheduleTime(schedule.endTime, zone) : undefined;
  if (start !== undefined && ms < start) return false;
  if (end !== undefined && ms >= end) return false;
  if (schedule.recurrences.length === 0) return true;
  return schedule.recurrences.some((r) => {
    const minutes = r.interval.days * 1440 + r.interval.hours * 60 + r.interval.minutes;
    const s = r.schedule;
    const minuteStart = ms - (ms % 60000);
    for (let i = 0; i < Math.max(1, minutes); i++) {
      const t = minuteStart - i * 60000;
      if (start !== undefined && t < start - 60000) break;
      const f = zonedFields(t, zone);
      if (fieldMatches(s.minute, f.minute) && fieldMatches(s.hour, f.hour) && fieldMatches(s.dayOfMonth, f.day) && fieldMatches(s.dayOfWeek, f.weekday) && fieldMatches(s.month, f.month) && fieldMatches(s.year, f.year)) {
        return ms < t + minutes * 60000 || minutes === 0;
      }
    }
    return false;
  });
}
