/**
 * Time-bound policies and temporary tags (Ranger's RangerValidityScheduleEvaluator).
 * A schedule applies from startTime to endTime, both inclusive ("yyyy/MM/dd
 * HH:mm:ss" in the schedule's timeZone, or the engine's default zone) and,
 * when it has recurrences, only within `interval` (inclusive) after the start
 * of the closest past recurrence.
 *
 * The closest past recurrence is found as Ranger finds it, field by field
 * with borrows rather than by searching every past minute: the closest past
 * minute, then hour (one less if the minute wrapped), then the closest past
 * day by dayOfMonth and, separately, by dayOfWeek (each then moved to the
 * closest past month and year), and the later of those two. A dayOfMonth
 * and a dayOfWeek both given are therefore "either" (as cron), `*` in either
 * means every day, and the day number is kept when only the month moves.
 * As Ranger, recurrence fields are read on the wall clock of the default
 * zone (Ranger: the JVM's zone), not of the schedule's timeZone.
 */
import { JsonReader, readValiditySchedule, type ValidityRecurrence, type ValiditySchedule } from './model.ts';

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

/** Epoch ms of a wall-clock time in `zone` (fields may overflow: lenient, as Java's Calendar). */
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

const zoneKnown = new Map<string, boolean>();

/** Is `zone` a time zone id this runtime knows? */
export function isKnownZone(zone: string): boolean {
  let ok = zoneKnown.get(zone);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      ok = true;
    } catch {
      ok = false;
    }
    if (zoneKnown.size < 1000) zoneKnown.set(zone, ok);
  }
  return ok;
}

/** The zone of a schedule: its own timeZone, or `defaultZone` when blank; an unknown id is GMT (Java's TimeZone.getTimeZone). */
export function scheduleZone(timeZone: string, defaultZone: string): string {
  const tz = timeZone.trim();
  if (!tz) return defaultZone;
  return isKnownZone(tz) ? tz : 'UTC';
}

/** Parses Ranger's "yyyy/MM/dd HH:mm:ss" in `zone`; undefined if malformed. */
export function parseScheduleTime(s: string, zone: string): number | undefined {
  const m = /^(\d{4})\/(\d{1,2})\/(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})$/.exec(s.trim());
  if (!m) return undefined;
  return zonedTime(+m[1], +m[2], +m[3], +m[4], +m[5], +m[6], zone);
}

/** A schedule field: its Calendar range (month 0-11, as Java's Calendar). */
interface FieldSpec { readonly min: number; readonly max: number }
const MINUTE: FieldSpec = { min: 0, max: 59 };
const HOUR: FieldSpec = { min: 0, max: 23 };
const DAY_OF_MONTH: FieldSpec = { min: 1, max: 31 };
const DAY_OF_WEEK: FieldSpec = { min: 1, max: 7 };
const MONTH: FieldSpec = { min: 0, max: 11 };
const YEAR: FieldSpec = { min: 2017, max: 2100 };

/** Values a field accepts: undefined = blank field (no matcher), `true` = `*`, else [lo, hi] ranges. */
type FieldMatcher = undefined | true | readonly (readonly [number, number])[];

function compileField(spec: string, isMonth: boolean): FieldMatcher {
  const s = spec.replace(/\s+/g, '');
  if (!s) return undefined;
  const out: [number, number][] = [];
  for (const part of s.split(',')) {
    if (!part) continue;
    const range = part.split('-');
    if (range.includes('*')) return true;
    const nums = range.map((x) => (/^\d+$/.test(x) ? +x - (isMonth ? 1 : 0) : NaN));
    if (nums.length === 1 && !Number.isNaN(nums[0])) out.push([nums[0], nums[0]]);
    else if (nums.length === 2 && !Number.isNaN(nums[0]) && !Number.isNaN(nums[1])) out.push([nums[0], nums[1]]);
  }
  return out;
}

function matches(m: true | readonly (readonly [number, number])[], v: number): boolean {
  return m === true || m.some(([lo, hi]) => v >= lo && v <= hi);
}

interface Borrowed { readonly value: number; readonly borrow: boolean }

/** Ranger's getPastFieldValueWithBorrow: the closest value at or before `value` (less one when borrowing), wrapping once to `max`. */
function pastValue(spec: FieldSpec, m: FieldMatcher, value: number, borrowIn: boolean, max = spec.max): Borrowed | undefined {
  let v = value - (borrowIn ? 1 : 0);
  if (m === undefined) {
    return { value: v < spec.min ? max : v, borrow: false };
  }
  let borrow = false;
  for (let i = 0; i < spec.max - spec.min + 1; i++, v--) {
    if (v < spec.min) {
      v = max;
      borrow = true;
    }
    if (matches(m, v)) return { value: v, borrow };
  }
  return undefined;
}

/** A lenient wall-clock calendar (Java's GregorianCalendar fields, month 0-11, whole seconds), kept as a UTC "wall" timestamp. */
class Wall {
  readonly t: number;
  constructor(t: number) {
    this.t = t;
  }
  static of(y: number, m: number, d: number, h = 0, mi = 0, s = 0): Wall {
    return new Wall(Date.UTC(y, m, d, h, mi, s));
  }
  get year(): number { return new Date(this.t).getUTCFullYear(); }
  get month(): number { return new Date(this.t).getUTCMonth(); }
  get day(): number { return new Date(this.t).getUTCDate(); }
  get hour(): number { return new Date(this.t).getUTCHours(); }
  get minute(): number { return new Date(this.t).getUTCMinutes(); }
  get second(): number { return new Date(this.t).getUTCSeconds(); }
  get weekday(): number { return new Date(this.t).getUTCDay() + 1; }
  with(f: { year?: number; month?: number; day?: number; hour?: number; minute?: number; second?: number }): Wall {
    return Wall.of(f.year ?? this.year, f.month ?? this.month, f.day ?? this.day, f.hour ?? this.hour, f.minute ?? this.minute, f.second ?? this.second);
  }
  addDays(n: number): Wall {
    return this.with({ day: this.day + n });
  }
  /** Calendar.add(MONTH, n): the day is clamped to the new month's length. */
  addMonths(n: number): Wall {
    const first = Date.UTC(this.year, this.month + n, 1);
    const y = new Date(first).getUTCFullYear(), m = new Date(first).getUTCMonth();
    return this.with({ year: y, month: m, day: Math.min(this.day, daysIn(y, m)) });
  }
}

function daysIn(y: number, m: number): number {
  return new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
}

/** Days in the month before `w`'s month (getMaximumValForPreviousMonth). */
function daysInPreviousMonth(w: Wall): number {
  const p = w.addMonths(-1);
  return daysIn(p.year, p.month);
}

/** One recurrence, compiled (RangerRecurrenceEvaluator). */
class RecurrenceEvaluator {
  readonly #interval: ValidityRecurrence['interval'];
  readonly #intervalMinutes: number;
  readonly #minute: FieldMatcher;
  readonly #hour: FieldMatcher;
  readonly #dayOfMonth: FieldMatcher;
  readonly #dayOfWeek: FieldMatcher;
  readonly #month: FieldMatcher;
  readonly #year: FieldMatcher;

  constructor(r: ValidityRecurrence) {
    this.#interval = r.interval;
    this.#intervalMinutes = r.interval.days * 1440 + r.interval.hours * 60 + r.interval.minutes;
    const s = r.schedule;
    this.#minute = compileField(s.minute, false);
    this.#hour = compileField(s.hour, false);
    this.#dayOfMonth = compileField(s.dayOfMonth, false);
    this.#dayOfWeek = compileField(s.dayOfWeek, false);
    this.#month = compileField(s.month, true);
    this.#year = compileField(s.year, false);
  }

  isApplicable(ms: number, zone: string): boolean {
    if (this.#intervalMinutes <= 0) return true;
    const f = zonedFields(ms, zone);
    const now = Wall.of(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
    const start = this.#closestPastEpoch(now);
    if (!start) return false;
    const startMs = zonedTime(start.year, start.month + 1, start.day, start.hour, start.minute, 0, zone);
    const end = start.addDays(this.#interval.days);
    const endMs = zonedTime(end.year, end.month + 1, end.day, end.hour, end.minute, 0, zone) + this.#interval.hours * 3_600_000 + this.#interval.minutes * 60_000;
    return startMs <= ms && ms <= endMs;
  }

  #closestPastEpoch(now: Wall): Wall | undefined {
    const minute = pastValue(MINUTE, this.#minute, now.minute, false);
    if (!minute) return undefined;
    const hour = pastValue(HOUR, this.#hour, now.hour, minute.borrow);
    if (!hour) return undefined;
    const byMonthDay = this.#dayOfMonth === undefined ? undefined : this.#closestDayOfMonth(now, minute.value, hour);
    const byWeekDay = this.#dayOfWeek === undefined ? undefined : this.#closestDayOfWeek(now, minute.value, hour);
    const a = byMonthDay && this.#fillOut(byMonthDay);
    const b = byWeekDay && this.#fillOut(byWeekDay);
    if (a === null || b === null) return undefined; // no month or year matches
    if (a && b) return a.t > b.t ? a : b;
    return a ?? b;
  }

  #closestDayOfMonth(now: Wall, minute: number, hour: Borrowed): Wall | undefined {
    let day = now.day, month = now.month, year = now.year;
    let maxPrev = daysInPreviousMonth(now);
    if (hour.borrow) {
      const prev = now.addDays(-1);
      if (now.day - 1 < prev.day) {
        day = prev.day;
        month = prev.month;
        year = prev.year;
        maxPrev = daysInPreviousMonth(prev);
      }
      // on the same day number Ranger keeps the day as it is
    }
    let found: Borrowed | undefined;
    for (let guard = 0; guard < 2400 && !found; guard++) {
      found = pastValue(DAY_OF_MONTH, this.#dayOfMonth, day, false, maxPrev);
      if (!found) {
        const c = Wall.of(year, month, day, now.hour, now.minute, now.second).addMonths(-1);
        month = c.month;
        year = c.year;
        day = c.day;
        maxPrev = daysInPreviousMonth(c);
      }
    }
    if (!found) return undefined;
    return Wall.of(year, found.borrow ? month - 1 : month, found.value, hour.value, minute, 0);
  }

  #closestDayOfWeek(now: Wall, minute: number, hour: Borrowed): Wall | undefined {
    const dow = pastValue(DAY_OF_WEEK, this.#dayOfWeek, now.weekday, hour.borrow);
    if (!dow) return undefined;
    let back = hour.borrow ? 1 : 0;
    if (dow.borrow) {
      if (now.weekday - dow.value !== back) back = 7 + now.weekday - dow.value;
    } else {
      back = now.weekday - dow.value;
    }
    return now.with({ minute, hour: hour.value, second: 0 }).addDays(-back);
  }

  /** Moves a day to the closest past month and year of the schedule (fillOutCalendar); null when none matches. */
  #fillOut(w: Wall): Wall | null {
    const month = pastValue(MONTH, this.#month, w.month, false);
    if (!month) return null;
    const year = pastValue(YEAR, this.#year, w.year, month.borrow);
    if (!year) return null;
    return w.with({ year: year.value, month: month.value, second: 0 });
  }
}

/** A compiled validity schedule. */
export class ValidityScheduleEvaluator {
  readonly #schedule: ValiditySchedule;
  readonly #recurrences: readonly RecurrenceEvaluator[];
  readonly #bounds = new Map<string, { start: number | undefined; end: number | undefined }>();

  constructor(schedule: ValiditySchedule) {
    this.#schedule = schedule;
    this.#recurrences = schedule.recurrences.map((r) => new RecurrenceEvaluator(r));
  }

  /** Does the schedule apply at `ms`? `defaultZone`: the zone of times without a timeZone, and of recurrence fields. */
  isApplicable(ms: number, defaultZone: string): boolean {
    let b = this.#bounds.get(defaultZone);
    if (!b) {
      const zone = scheduleZone(this.#schedule.timeZone, defaultZone);
      b = {
        start: this.#schedule.startTime ? parseScheduleTime(this.#schedule.startTime, zone) : undefined,
        end: this.#schedule.endTime ? parseScheduleTime(this.#schedule.endTime, zone) : undefined,
      };
      this.#bounds.set(defaultZone, b);
    }
    if (b.start !== undefined && ms < b.start) return false;
    if (b.end !== undefined && ms > b.end) return false;
    if (this.#recurrences.length === 0) return true;
    return this.#recurrences.some((r) => r.isApplicable(ms, defaultZone));
  }
}

const compiled = new WeakMap<ValiditySchedule, ValidityScheduleEvaluator>();

/** Whether a policy (or tag) with `schedule` applies at `ms`. */
export function isScheduleApplicable(schedule: ValiditySchedule, ms: number, defaultZone: string): boolean {
  let e = compiled.get(schedule);
  if (!e) compiled.set(schedule, (e = new ValidityScheduleEvaluator(schedule)));
  return e.isApplicable(ms, defaultZone);
}

const tagPeriods = new WeakMap<readonly unknown[], readonly ValidityScheduleEvaluator[]>();

/**
 * Is a tag with these validity periods (RangerTag.validityPeriods, RangerValiditySchedule JSON)
 * applicable at `ms`? As Ranger's RangerTagForEval.isApplicable: no periods means always; else
 * any period that applies. Periods that cannot be read are ignored, as Ranger ignores them.
 */
export function isTagApplicable(periods: readonly unknown[] | undefined, ms: number, defaultZone: string): boolean {
  if (!periods || periods.length === 0) return true;
  let evs = tagPeriods.get(periods);
  if (!evs) {
    const r = new JsonReader();
    evs = periods.flatMap((p, i) => {
      const s = readValiditySchedule(r, p, `validityPeriods[${i}]`);
      return s ? [new ValidityScheduleEvaluator(s)] : [];
    });
    tagPeriods.set(periods, evs);
  }
  return evs.length === 0 || evs.some((e) => e.isApplicable(ms, defaultZone));
}
