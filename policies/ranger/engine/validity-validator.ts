/**
 * Validation of validity schedules, as Ranger's RangerValidityScheduleValidator
 * counts failures (one message per failure Ranger would report):
 * - no startTime, endTime or recurrences: one failure;
 * - an unparsable startTime or endTime ("yyyy/MM/dd HH:mm:ss"); endTime not after startTime;
 *   an unknown timeZone;
 * - per recurrence: a missing schedule or interval; an interval with days < 0, hours outside
 *   0-23 or minutes outside 0-59; dayOfMonth and dayOfWeek both blank;
 * - and, only while nothing above failed, per field: a blank minute, hour, month or year;
 *   characters other than digits, blanks and `*,-` (minute: `,` only); values outside minute
 *   0-59, hour 0-23, dayOfMonth 1-31, dayOfWeek 1-7, month 1-12, year 2017-2100; malformed,
 *   empty (`9-8`) or duplicate ranges; and, as Ranger's check is written, every later range
 *   of a field that ends after an earlier one ("overlapping range value").
 * A schedule is valid when none of its checks failed and no earlier schedule of the same
 * list reported a failure (Ranger shares one failure list).
 */
import type { ValidityRecurrence, ValiditySchedule } from './model.ts';
import { isKnownZone, parseScheduleTime, scheduleZone } from './validity-schedule.ts';

type Field = keyof ValidityRecurrence['schedule'];

const FIELDS: readonly { name: Field; min: number; max: number; special: string }[] = [
  { name: 'minute', min: 0, max: 59, special: ',' },
  { name: 'hour', min: 0, max: 23, special: '*,-' },
  { name: 'dayOfMonth', min: 1, max: 31, special: '*,-' },
  { name: 'dayOfWeek', min: 1, max: 7, special: '*,-' },
  { name: 'month', min: 1, max: 12, special: '*,-' },
  { name: 'year', min: 2017, max: 2100, special: '*,-' },
];

/** Java's three-letter zone ids that Ranger refuses. */
const REFUSED_ZONES = new Set(['JST', 'IST', 'BET', 'ACT', 'AET', 'AGT', 'VST', 'SystemV/AST4', 'CNT', 'NET', 'SystemV/MST7', 'PLT', 'CST', 'SST',
  'SystemV/CST6', 'CTT', 'PNT', 'BST', 'SystemV/YST9', 'MIT', 'ART', 'AST', 'PRT', 'SystemV/HST10', 'PST', 'SystemV/EST5', 'IET', 'SystemV/PST8',
  'SystemV/CST6CDT', 'NST', 'EAT', 'ECT', 'SystemV/MST7MDT', 'SystemV/YST9YDT', 'CAT', 'SystemV/PST8PDT', 'SystemV/AST4ADT', 'SystemV/EST5EDT']);

/** StringUtils.split: tokens between separators, empty tokens dropped. */
function split(s: string, sep: string): string[] {
  return s.split(sep).filter((x) => x !== '');
}

function intValue(s: string): number {
  return /^[+-]?\d+$/.test(s) ? Number.parseInt(s, 10) : Number.NaN;
}

/** RangerValidityScheduleValidator.validateRanges: failures of one field's list of values and ranges. */
function rangeFailures(name: Field, spec: string, min: number, max: number, out: string[]): boolean {
  let ok = true;
  const ranges: [number, number][] = [];
  for (const part of split(spec.replace(/\s+/g, ''), ',')) {
    if (part.startsWith('-') || part.endsWith('-')) {
      out.push(`schedule ${name} '${part}': incorrect range spec`);
      ok = false;
      continue;
    }
    const bounds = split(part, '-');
    if (bounds.length > 2) {
      out.push(`schedule ${name} '${part}': incorrect range spec`);
      ok = false;
    } else if (bounds.length === 2) {
      let lo = min, hi = max;
      if (bounds[0] !== '*') {
        lo = intValue(bounds[0]);
        if (!(lo >= min && lo <= max)) {
          out.push(`schedule ${name} '${part}': incorrect lower range value`);
          ok = false;
        }
      }
      if (bounds[1] !== '*') {
        hi = intValue(bounds[1]);
        if (!(lo >= min && hi <= max)) {
          out.push(`schedule ${name} '${part}': incorrect upper range value`);
          ok = false;
        }
      }
      if (ok) {
        if (lo >= hi) {
          out.push(`schedule ${name} '${part}': incorrect range`);
          ok = false;
        } else if (ranges.some(([a, b]) => a === lo || b === hi)) {
          out.push(`schedule ${name} '${part}': duplicate range`);
          ok = false;
        } else {
          ranges.push([lo, hi]);
        }
      }
    } else if (bounds.length === 1 && bounds[0] !== '*') {
      const v = intValue(bounds[0]);
      if (!(v >= min && v <= max)) {
        out.push(`schedule ${name} '${part}': incorrect value`);
        ok = false;
      }
    } else if (bounds.length === 0) {
      ok = false;
    }
  }
  ranges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      if (ranges[i][1] < ranges[j][1]) {
        out.push(`schedule ${name}: overlapping range value`);
        ok = false;
      }
    }
  }
  return ok;
}

/** RangerValidityScheduleValidator.validateFieldSpec. */
function fieldFailures(r: ValidityRecurrence, f: (typeof FIELDS)[number], out: string[]): boolean {
  const value = r.schedule[f.name];
  if (!value.trim() && f.name !== 'dayOfMonth' && f.name !== 'dayOfWeek') out.push(`schedule ${f.name}: no value provided`);
  for (const c of value) {
    if (!/[0-9\s]/.test(c) && !f.special.includes(c)) {
      out.push(`schedule ${f.name} '${value}': invalid character(s)`);
      return false;
    }
  }
  return rangeFailures(f.name, value, f.min, f.max, out);
}

function isBlank(r: ValidityRecurrence): { schedule: boolean; interval: boolean } {
  const { days, hours, minutes } = r.interval;
  return { schedule: Object.values(r.schedule).every((v) => !v.trim()), interval: days === 0 && hours === 0 && minutes === 0 };
}

/**
 * Validates one schedule, appending its failures to `failures` (the list shared by the
 * schedules validated together); true when the schedule is valid.
 */
export function validateScheduleInto(s: ValiditySchedule, zone: string, failures: string[]): boolean {
  if (!s.startTime && !s.endTime && s.recurrences.length === 0) {
    failures.push('empty validity schedule');
    return false;
  }
  const tz = scheduleZone(s.timeZone, zone);
  let start: number | undefined = Date.now(), end: number | undefined = Number.MAX_SAFE_INTEGER;
  if (s.startTime) {
    start = parseScheduleTime(s.startTime, tz);
    if (start === undefined) failures.push(`startTime '${s.startTime}' is not yyyy/MM/dd HH:mm:ss`);
  }
  if (s.endTime) {
    end = parseScheduleTime(s.endTime, tz);
    if (end === undefined) failures.push(`endTime '${s.endTime}' is not yyyy/MM/dd HH:mm:ss`);
  }
  if (start === undefined || end === undefined) return false;
  let ok = true;
  if (start >= end) {
    failures.push('endTime is not later than startTime');
    ok = false;
  }
  if (s.timeZone.trim() && (REFUSED_ZONES.has(s.timeZone) || !isKnownZone(s.timeZone))) {
    failures.push(`timeZone '${s.timeZone}' is invalid`);
    ok = false;
  }
  for (const r of s.recurrences) {
    const blank = isBlank(r);
    if (blank.schedule || blank.interval) {
      failures.push('empty schedule/interval in recurrence');
      ok = false;
    } else {
      const { days, hours, minutes } = r.interval;
      if (days < 0 || hours < 0 || hours > 23 || minutes < 0 || minutes > 59) {
        failures.push('recurrence interval is invalid');
        ok = false;
      }
      if (!r.schedule.dayOfMonth.trim() && !r.schedule.dayOfWeek.trim()) {
        failures.push('dayOfMonth and dayOfWeek are both blank');
        ok = false;
      }
    }
    if (ok) {
      for (const f of FIELDS) ok = fieldFailures(r, f, failures) && ok;
      // validateIntervalDuration: only warns, but fails once anything (of any schedule) failed
      ok = ok && failures.length === 0;
    }
  }
  return ok;
}

/** The validation failures of one schedule (empty when valid). */
export function validateSchedule(s: ValiditySchedule, zone: string): string[] {
  const out: string[] = [];
  validateScheduleInto(s, zone, out);
  return out;
}
