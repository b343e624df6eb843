/**
 * Validity schedules as Ranger's RangerValidityScheduleEvaluator computes them
 * (closest past recurrence found field by field; inclusive ends; dayOfMonth
 * or dayOfWeek) and validation failures as RangerValidityScheduleValidator
 * counts them.
 */
import type { ValiditySchedule } from '../../../../policies/ranger/engine/model.ts';
import { isScheduleApplicable, isTagApplicable, zonedTime } from '../../../../policies/ranger/engine/validity-schedule.ts';
import { validateSchedule, validateScheduleInto } from '../../../../policies/ranger/engine/validity-validator.ts';

const PST = 'America/Los_Angeles';
type Sched = ValiditySchedule['recurrences'][number]['schedule'];
const sched = (s: Partial<Sched>): Sched => ({ minute: '', hour: '', dayOfMonth: '', dayOfWeek: '', month: '', year: '', ...s });
const schedule = (s: Partial<Sched>, interval: { days?: number; hours?: number; minutes?: number }, extra: Partial<ValiditySchedule> = {}): ValiditySchedule => ({
  startTime: '2018/01/01 00:00:00', endTime: '2030/01/01 00:00:00', timeZone: '',
  recurrences: [{ schedule: sched(s), interval: { days: 0, hours: 0, minutes: 0, ...interval } }],
  ...extra,
});
const at = (y: number, mo: number, d: number, h: number, mi: number, s = 0): number => zonedTime(y, mo, d, h, mi, s, PST);

describe('recurrence windows', () => {
  test('the end of the interval is inclusive', () => {
    const s = schedule({ minute: '0,10,20,30,40,50', hour: '*', dayOfMonth: '*', dayOfWeek: '*', month: '*', year: '2018' }, { minutes: 5 });
    expect(isScheduleApplicable(s, at(2018, 1, 27, 10, 5, 0), PST)).toBe(true);
    expect(isScheduleApplicable(s, at(2018, 1, 27, 10, 5, 1), PST)).toBe(false);
    expect(isScheduleApplicable(s, at(2018, 1, 27, 10, 0, 0), PST)).toBe(true);
  });

  test('dayOfMonth `*` with a dayOfWeek means every day (the later of the two candidate days wins)', () => {
    // 2018-01-12 is a Friday; dayOfWeek 5,7 is Thursday and Saturday
    const s = schedule({ minute: '0, 10, 20, 30, 40, 50', hour: '*', dayOfMonth: '*', dayOfWeek: '5, 7', month: '*', year: '2018' }, { minutes: 9 });
    expect(isScheduleApplicable(s, at(2018, 1, 12, 14, 32, 27), PST)).toBe(true);
    expect(isScheduleApplicable(s, at(2018, 1, 12, 14, 39, 27), PST)).toBe(false);
  });

  test('dayOfMonth or dayOfWeek: a window that began on the 1st still applies days later', () => {
    const s = schedule({ minute: '10', hour: '12', dayOfMonth: '1', dayOfWeek: '4, 7', month: '*', year: '2018' }, { days: 2, hours: 10 });
    // Saturday 2018-01-13 12:10 + 2 days 10 hours covers Monday 19:32
    expect(isScheduleApplicable(s, at(2018, 1, 15, 19, 32, 27), PST)).toBe(true);
    expect(isScheduleApplicable(s, at(2018, 1, 15, 23, 0, 0), PST)).toBe(false);
  });

  test('the 31st of a shorter month is looked for in an earlier month', () => {
    const s = schedule({ minute: '0', hour: '12', dayOfMonth: '31', dayOfWeek: '*', month: '*', year: '2017-2018' }, { days: 1 });
    expect(isScheduleApplicable(s, at(2018, 3, 1, 0, 0), PST)).toBe(true);
  });

  test('an interval longer than the schedule period keeps the window open across the hour borrow', () => {
    const s = schedule({ minute: '0', hour: '12', dayOfMonth: '1', dayOfWeek: '2, 3', month: '*', year: '*' }, { days: 1, hours: 23, minutes: 59 });
    expect(isScheduleApplicable(s, at(2018, 3, 3, 10, 40), PST)).toBe(true);
    expect(isScheduleApplicable(s, at(2018, 3, 4, 14, 40), PST)).toBe(false);
  });

  test('startTime and endTime are inclusive', () => {
    const s: ValiditySchedule = { startTime: '2018/01/01 00:00:00', endTime: '2018/01/02 00:00:00', timeZone: '', recurrences: [] };
    expect(isScheduleApplicable(s, at(2018, 1, 2, 0, 0), PST)).toBe(true);
    expect(isScheduleApplicable(s, at(2018, 1, 2, 0, 0) + 1, PST)).toBe(false);
    expect(isScheduleApplicable(s, at(2017, 12, 31, 23, 59, 59), PST)).toBe(false);
  });
});

describe('temporary tags (RangerTagForEval.isApplicable)', () => {
  const periods = [{ startTime: '2018/01/12 14:32:00', endTime: '2020/02/13 12:16:00', recurrences: [{ schedule: { minute: '0,10,20,30,40,50', hour: '*', dayOfMonth: '*', dayOfWeek: '5,7', month: '*', year: '2018' }, interval: { minutes: 4 } }] }];

  test('a tag applies only inside one of its validity periods', () => {
    expect(isTagApplicable(periods, at(2018, 1, 27, 10, 3), PST)).toBe(true);
    expect(isTagApplicable(periods, at(2018, 1, 27, 10, 6), PST)).toBe(false);
  });

  test('no periods, or periods that cannot be read: always', () => {
    expect(isTagApplicable(undefined, 0, PST)).toBe(true);
    expect(isTagApplicable([], 0, PST)).toBe(true);
    expect(isTagApplicable(['not a schedule'], 0, PST)).toBe(true);
  });
});

describe('validation failure counts', () => {
  const valid = schedule({ minute: '0', hour: '1', dayOfMonth: '1', dayOfWeek: '1', month: '1', year: '2018' }, { minutes: 10 });

  test('a valid schedule has none', () => {
    expect(validateSchedule(valid, PST)).toEqual([]);
  });

  test('`*` is not allowed in minute; every field with a bad character counts', () => {
    const s = schedule({ minute: '*', hour: '@', dayOfMonth: '!', dayOfWeek: '#', month: '%', year: '^&()' }, { minutes: 10 });
    expect(validateSchedule(s, PST)).toHaveLength(6);
  });

  test('endTime before startTime, and a recurrence without an interval: two failures', () => {
    const s = schedule({ minute: '45, 30', hour: '*', dayOfMonth: '1-14', dayOfWeek: '4', month: '1', year: '2018' }, {}, { startTime: '2018/01/12 14:32:00', endTime: '2018/01/02 22:30:00' });
    expect(validateSchedule(s, PST)).toHaveLength(2);
  });

  test('an empty range and overlapping ranges count separately, a bad value too', () => {
    const s = schedule({ minute: '1,10,5', hour: '0-3, 1-4, 9-8,20, 21', dayOfMonth: '1-14, 15,31', dayOfWeek: '0,4, 6', month: '12, 1-2', year: '2018' }, { minutes: 10 });
    const f = validateSchedule(s, PST);
    expect(f).toHaveLength(3);
    expect(f.join('\n')).toMatch(/incorrect range[\s\S]*overlapping[\s\S]*incorrect value/);
  });

  test('a refused or unknown timeZone', () => {
    expect(validateSchedule({ ...valid, timeZone: 'PST' }, PST)).toHaveLength(1);
    expect(validateSchedule({ ...valid, timeZone: 'Mars/Olympus' }, PST)).toHaveLength(1);
    expect(validateSchedule({ ...valid, timeZone: 'Asia/Kolkata' }, PST)).toEqual([]);
  });

  test('a schedule validated after a failing one is not valid (one shared failure list)', () => {
    const failures: string[] = [];
    expect(validateScheduleInto({ startTime: '', endTime: '', timeZone: '', recurrences: [] }, PST, failures)).toBe(false);
    expect(validateScheduleInto(valid, PST, failures)).toBe(false);
    expect(failures).toHaveLength(1);
  });
});
