/**
 * Validation of validity schedules (Ranger's RangerValidityScheduleValidator):
 * times must parse and end after start; a schedule needs a start, an end or
 * recurrences; each recurrence needs a schedule and a positive interval
 * (hours < 24, minutes < 60); schedule fields are `*`, numbers, lists and
 * ranges within minute 0-59, hour 0-23, dayOfMonth 1-31, dayOfWeek 1-7,
 * month 1-12, year 2017-2100, and dayOfMonth and dayOfWeek are not both blank.
 * Returns one message per failure.
 */
import type { ValiditySchedule } from './model.ts';
import { parseScheduleTime } from './validity-schedule.ts';

const BOUNDS: Record<string, [number, number]> = { minute: [0, 59], hour: [0, 23], dayOfMonth: [1, 31], dayOfWeek: [1, 7], month: [1, 12], year: [2017, 2100] };

function fieldValid(spec: string, [lo, hi]: [number, number]): boolean {
  const s = spec.trim();
  if (s === '*' || s === '') return true;
  const ranges: [number, number][] = [];
  for (const part of s.split(',')) {
    const p = part.trim();
    if (p === '*') continue;
    const m = /^(-?\d+)(?:\s*-\s*(-?\d+))?$/.exec(p);
    if (!m) return false;
    const a = +m[1], b = m[2] === undefined ? a : +m[2];
    if (a < lo || b > hi || a > b) return false;
    ranges.push([a, b]);
  }
  ranges.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < ranges.length; i++) if (ranges[i][0] <= ranges[i - 1][1]) return false;
  return true;
}

/** The validation failures of one schedule (empty when valid). */
export function validateSchedule(s: ValiditySchedule, zone: string): string[] {
  const out: string[] = [];
  if (!s.startTime && !s.endTime && s.recurrences.length === 0) return ['empty validity schedule'];
  const start = s.startTime ? parseScheduleTime(s.startTime, s.timeZone || zone) : undefined;
  const end = s.endTime ? parseScheduleTime(s.endTime, s.timeZone || zone) : undefined;
  if (s.startTime && start === undefined) out.push(`startTime '${s.startTime}' is not yyyy/MM/dd HH:mm:ss`);
  if (s.endTime && end === undefined) out.push(`endTime '${s.endTime}' is not yyyy/MM/dd HH:mm:ss`);
  if (start !== undefined && end !== undefined && end <= start) {
    out.push('endTime is not after startTime');
    return out;
  }
  for (const r of s.recurrences) {
    const sch = r.schedule;
    const blank = Object.values(sch).every((v) => !v.trim());
    const { days, hours, minutes } = r.interval;
    const noInterval = days === 0 && hours === 0 && minutes === 0;
    if (blank) {
      out.push('recurrence has no schedule');
      continue;
    }
    if (noInterval) {
      out.push('recurrence has no interval');
      continue;
    }
    if (days < 0 || hours < 0 || minutes < 0 || hours > 23 || minutes > 59) out.push('recurrence interval is invalid');
    for (const [f, b] of Object.entries(BOUNDS)) {
      if (!fieldValid(sch[f as keyof typeof sch], b)) out.push(`schedule ${f} '${sch[f as keyof typeof sch]}' is invalid`);
    }
    if (!sch.dayOfMonth.trim() && !sch.dayOfWeek.trim()) out.push('dayOfMonth and dayOfWeek are both blank');
  }
  return out;
}
