/**
 * Envoy's tag extraction: turns `cluster.foo.upstream_rq_200` into the
 * tag-extracted name `cluster.upstream_rq` with tags
 * `envoy.response_code=200, envoy.cluster_name=foo` (what /stats/prometheus
 * prints). Mirrors source/common/stats/tag_producer_impl.cc and
 * tag_extractor_impl.cc:
 *  - every rule sees the original name; the parts they cut are unioned;
 *  - rules without a literal first token run first, then those whose first
 *    token equals the name's first token, each group in insertion order
 *    (defaults: regex rules, then token rules, then `stats_tags`), which is
 *    the order of the labels Envoy prints;
 *  - when several rules share a tag name, the first that matches wins.
 * The store calls `produceTags` once per stat and keeps the result.
 */

import { ConfigError } from '../contracts/errors.ts';
import { DEFAULT_REGEX_TAGS, DEFAULT_TOKEN_TAGS } from './tag-names.ts';

/** One extracted tag: Envoy's tag name (`envoy.cluster_name`) and its value. */
export interface StatTag {
  readonly name: string;
  readonly value: string;
}

/** A stat name with its tags taken out. */
export interface TaggedName {
  /** The name with every captured part removed, e.g. `cluster.upstream_rq`. */
  readonly extractedName: string;
  /** Tags in extraction order. */
  readonly tags: readonly StatTag[];
}

/** One `stats_config.stats_tags` entry (envoy.config.metrics.v3.TagSpecifier). */
export interface TagSpecifier {
  /** `tag_name`; with neither `regex` nor `fixedValue`, picks Envoy's default rule(s) of that name. */
  readonly tagName: string;
  /** `regex`: group 1 is removed from the name, group 2 (else group 1) is the value. RE2 syntax accepted where JS agrees. */
  readonly regex?: string;
  /** `fixed_value`: added to every stat. */
  readonly fixedValue?: string;
}

/** The tag-related part of `stats_config` (envoy.config.metrics.v3.StatsConfig). */
export interface TagProducerOptions {
  /** `use_all_default_tags`; default true. */
  readonly useAllDefaultTags?: boolean;
  /** `stats_tags`, applied after the defaults. */
  readonly statsTags?: readonly TagSpecifier[];
}

/** The parts removed so far, as [start, end) pairs. */
type Cuts = number[];

interface TagExtractor {
  readonly name: string;
  /** First literal token the name must start with ('' = any name). */
  readonly prefix: string;
  otherWithSameName: boolean;
  extract(name: string, tokens: TokenCache, tags: StatTag[], cuts: Cuts): boolean;
}

/** The name split on '.', computed once per name and only if a token rule runs. */
class TokenCache {
  private readonly name: string;
  private split: string[] | undefined = undefined;
  constructor(name: string) {
    this.name = name;
  }
  get tokens(): string[] {
    return (this.split ??= this.name.split('.'));
  }
}

/** Envoy's `extractRegexPrefix`: `^word\.` or `^word(?=\.)` or `^word$` gives `word`. */
function regexPrefix(regex: string): string {
  if (!regex.startsWith('^')) return '';
  for (let i = 1; i < regex.length; i++) {
    const c = regex.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
    if (alnum) continue;
    if (i > 1) {
      const rest = regex.slice(i);
      const last = i === regex.length - 1;
      if ((!last && (rest.startsWith('\\.') || rest.startsWith('(?=\\.)'))) || (last && rest === '$')) {
        return regex.slice(1, i);
      }
    }
    return '';
  }
  return '';
}

class RegexTagExtractor implements TagExtractor {
  readonly name: string;
  readonly prefix: string;
  otherWithSameName = false;
  private readonly re: RegExp;
  private readonly substr: string;
  private readonly negativeMatch: string;

  constructor(name: string, source: string, substr: string, negativeMatch: string, re: RegExp) {
    this.name = name;
    this.prefix = regexPrefix(source);
    this.re = re;
    this.substr = substr;
    this.negativeMatch = negativeMatch;
  }

  extract(name: string, _tokens: TokenCache, tags: StatTag[], cuts: Cuts): boolean {
    if (this.substr !== '' && !name.includes(this.substr)) return false;
    const m = this.re.exec(name);
    if (m === null || m.indices === undefined) return false;
    const remove = m[1];
    const span = m.indices[1];
    if (remove === undefined || remove === '' || span === undefined) return false;
    const value = m[2] !== undefined && m[2] !== '' ? m[2] : remove;
    if (this.negativeMatch !== '' && value === this.negativeMatch) return false;
    tags.push({ name: this.name, value });
    cuts.push(span[0], span[1]);
    return true;
  }
}

class TokensTagExtractor implements TagExtractor {
  readonly name: string;
  readonly prefix: string;
  otherWithSameName = false;
  private readonly pattern: readonly string[];
  private readonly matchIndex: number;

  constructor(name: string, pattern: string) {
    this.name = name;
    this.pattern = pattern.split('.');
    this.matchIndex = this.pattern.indexOf('$');
    const first = this.pattern[0]!;
    this.prefix = first === '$' || first === '*' || first === '**' ? '' : first;
  }

  extract(_name: string, cache: TokenCache, tags: StatTag[], cuts: Cuts): boolean {
    const input = cache.tokens;
    const found = { start: 0, index: -1 };
    if (!this.search(input, 0, 0, 0, found) || found.index < 0) return false;
    const value = input[found.index]!;
    let start = found.start;
    let end = start + value.length;
    // Cut "v." when a token follows, else ".v" (Envoy's three cases).
    if (found.index < input.length - 1) end++;
    else if (start > 0) start--;
    tags.push({ name: this.name, value });
    cuts.push(start, end);
    return true;
  }

  /** Envoy's `searchTags`: a trailing `**` needs at least one token, an inner one matches zero or more. */
  private search(
    input: readonly string[],
    inputIndex: number,
    patternIndex: number,
    charIndex: number,
    found: { start: number; index: number },
  ): boolean {
    const pattern = this.pattern;
    for (; inputIndex < input.length && patternIndex < pattern.length; inputIndex++, patternIndex++) {
      const token = input[inputIndex]!;
      if (patternIndex === this.matchIndex) {
        found.start = charIndex;
        found.index = inputIndex;
      } else {
        const expected = pattern[patternIndex]!;
        if (expected === '**') {
          if (patternIndex === pattern.length - 1) return true;
          for (; inputIndex < input.length; inputIndex++) {
            if (this.search(input, inputIndex, patternIndex + 1, charIndex, found)) return true;
            charIndex += input[inputIndex]!.length + 1;
          }
          return false;
        }
        if (expected !== '*' && expected !== token) return false;
      }
      charIndex += token.length + 1;
    }
    return patternIndex === pattern.length && inputIndex === input.length;
  }
}

class FixedTagExtractor implements TagExtractor {
  readonly name: string;
  readonly prefix = '';
  otherWithSameName = false;
  private readonly value: string;
  constructor(name: string, value: string) {
    this.name = name;
    this.value = value;
  }
  extract(_name: string, _tokens: TokenCache, tags: StatTag[]): boolean {
    tags.push({ name: this.name, value: this.value });
    return true;
  }
}

/** Compiles a regex rule with group indices; RE2's `(?P<n>` becomes JS's `(?<n>`. */
function compile(source: string, path: string): RegExp {
  try {
    return new RegExp(source.replaceAll('(?P<', '(?<'), 'd');
  } catch (e) {
    throw new ConfigError(path, `invalid regex '${source}': ${(e as Error).message}`);
  }
}

/** Removes the [start, end) ranges in `cuts` (which may overlap) from `name`. */
function removeCuts(name: string, cuts: Cuts): string {
  if (cuts.length === 0) return name;
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < cuts.length; i += 2) ranges.push([cuts[i]!, cuts[i + 1]!]);
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let pos = 0;
  for (const [s, e] of ranges) {
    if (s > pos) out += name.slice(pos, s);
    if (e > pos) pos = e;
  }
  return out + name.slice(pos);
}

/**
 * Envoy's TagProducerImpl: the default rules plus `stats_config.stats_tags`.
 * Throws ConfigError (path under `stats_tags[i]`) for an empty tag name, a bad
 * regex, or a name-only specifier with no default rule of that name.
 */
export class TagProducer {
  private readonly withoutPrefix: TagExtractor[] = [];
  private readonly byPrefix = new Map<string, TagExtractor[]>();
  private readonly byName = new Map<string, TagExtractor>();

  constructor(options: TagProducerOptions = {}) {
    if (options.useAllDefaultTags !== false) {
      for (const d of DEFAULT_REGEX_TAGS) this.add(this.defaultRegex(d.name, d.regex, d.substr, d.negativeMatch));
      for (const d of DEFAULT_TOKEN_TAGS) this.add(new TokensTagExtractor(d.name, d.pattern));
    }
    (options.statsTags ?? []).forEach((spec, i) => {
      const path = `stats_tags[${i}]`;
      if (!spec.tagName) throw new ConfigError(`${path}.tag_name`, 'tag_name cannot be empty');
      if (spec.fixedValue !== undefined) {
        this.add(new FixedTagExtractor(spec.tagName, spec.fixedValue));
      } else if (spec.regex) {
        this.add(new RegexTagExtractor(spec.tagName, spec.regex, '', '', compile(spec.regex, `${path}.regex`)));
      } else if (this.addDefaultsNamed(spec.tagName) === 0) {
        throw new ConfigError(
          path,
          `No regex specified for tag specifier and no default regex for name: '${spec.tagName}'`,
        );
      }
    });
  }

  /** Extracts the tags of one full stat name. Cost is a few regex runs: call once per stat. */
  produceTags(name: string): TaggedName {
    const tags: StatTag[] = [];
    const cuts: Cuts = [];
    const tokens = new TokenCache(name);
    let done: Set<string> | undefined;
    const run = (ex: TagExtractor): void => {
      if (ex.otherWithSameName && done?.has(ex.name)) return;
      if (ex.extract(name, tokens, tags, cuts) && ex.otherWithSameName) (done ??= new Set()).add(ex.name);
    };
    for (const ex of this.withoutPrefix) run(ex);
    const dot = name.indexOf('.');
    if (dot >= 0) {
      const list = this.byPrefix.get(name.slice(0, dot));
      if (list !== undefined) for (const ex of list) run(ex);
    }
    return { extractedName: removeCuts(name, cuts), tags };
  }

  private defaultRegex(name: string, regex: string, substr: string, negativeMatch: string): RegexTagExtractor {
    return new RegexTagExtractor(name, regex, substr, negativeMatch, compile(regex, ''));
  }

  private addDefaultsNamed(name: string): number {
    let n = 0;
    for (const d of DEFAULT_REGEX_TAGS) {
      if (d.name !== name) continue;
      this.add(this.defaultRegex(d.name, d.regex, d.substr, d.negativeMatch));
      n++;
    }
    for (const d of DEFAULT_TOKEN_TAGS) {
      if (d.name !== name) continue;
      this.add(new TokensTagExtractor(d.name, d.pattern));
      n++;
    }
    return n;
  }

  private add(ex: TagExtractor): void {
    const other = this.byName.get(ex.name);
    if (other !== undefined) {
      other.otherWithSameName = true;
      ex.otherWithSameName = true;
    } else {
      this.byName.set(ex.name, ex);
    }
    if (ex.prefix === '') {
      this.withoutPrefix.push(ex);
    } else {
      let list = this.byPrefix.get(ex.prefix);
      if (list === undefined) this.byPrefix.set(ex.prefix, (list = []));
      list.push(ex);
    }
  }
}

let defaultProducer: TagProducer | undefined;

/** The producer with Envoy's default rules only, built on first use and shared. */
export function defaultTagProducer(): TagProducer {
  return (defaultProducer ??= new TagProducer());
}
