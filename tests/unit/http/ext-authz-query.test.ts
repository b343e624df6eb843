/** ext_authz query_parameters_to_set / _to_remove (mutateQuery): untouched parameters keep their bytes. */
import { mutateQuery } from '../../../protocols/http/filters/ext-authz/ext-authz.ts';

test('parameters neither set nor removed are kept byte for byte (a signed URL survives)', () => {
  expect(mutateQuery('/p?sig=a%2Bb~c&x=%20&flag&semi=1;2', [], ['absent'])).toBe('/p?sig=a%2Bb~c&x=%20&flag&semi=1;2');
  expect(mutateQuery('/p?sig=a%2Bb~c&token=s&x=%20', [], ['token'])).toBe('/p?sig=a%2Bb~c&x=%20');
});

test('a set parameter replaces every value of its key where the first stood, or is appended, encoded', () => {
  expect(mutateQuery('/p?a=1&t=old&b=2&t=older', [['t', 'n w']], [])).toBe('/p?a=1&t=n%20w&b=2');
  expect(mutateQuery('/p', [['t', 'x&y']], [])).toBe('/p?t=x%26y');
  expect(mutateQuery('/p?', [['t', '1']], [])).toBe('/p?t=1');
});

test('keys compare decoded; removing the last parameter drops the ?', () => {
  expect(mutateQuery('/p?my%20key=1&b=2', [], ['my key'])).toBe('/p?b=2');
  expect(mutateQuery('/p?my+key=1', [], ['my key'])).toBe('/p');
  expect(mutateQuery('/p?bad=%E0%A4%A', [], ['bad'])).toBe('/p');
});
