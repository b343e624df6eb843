/**
 * SDS bookkeeping without sockets: sds_config parsing (ads, GRPC/DELTA_GRPC
 * api_config_source, refusals), the reference checks that become NACKs,
 * per-secret updates (parser errors and sink refusals rejected and counted
 * per secret while good secrets in the same response apply, an unchanged
 * secret not re-applied, removals ignored as Envoy does), settling and the
 * initial fetch timeout, and the material checks (key/certificate mismatch,
 * expiry, unreadable CA).
 */
import { createDevCa, issueDevWorkload } from '../../../protocols/tls/dev-pki.ts';
import { setup as setupTls } from '../../../protocols/tls/tls-transport.ts';
import { ExtensionRegistry } from '../../../sidecar/contracts/extension.ts';
import type { SecretMaterial } from '../../../sidecar/contracts/transport-socket.ts';
import { checkSecretMaterial } from '../../../sidecar/secrets/secret-check.ts';
import { StatsStore } from '../../../sidecar/stats/store.ts';
import type { TypeUpdate, XdsResource } from '../../../xds/ads/ads-client.ts';
import { SECRET } from '../../../xds/ads/discovery-messages.ts';
import { SdsManager } from '../../../xds/subscription/sds-manager.ts';
import { parseSdsSource, type SdsRef } from '../../../xds/subscription/sds-refs.ts';

const ca = createDevCa({ trustDomain: 'cluster.local' });
const good = issueDevWorkload(ca, { dnsNames: ['a.example.com'], keyLabel: 'unit-a' });
const other = issueDevWorkload(ca, { dnsNames: ['b.example.com'], keyLabel: 'unit-b' });
const expired = issueDevWorkload(ca, { dnsNames: ['a.example.com'], keyLabel: 'unit-a', expired: true });
const pem = (s: string): Record<string, string> => ({ inline_string: s });
const certSecret = (name: string, chain: string, key: string): Record<string, unknown> => ({ name, tls_certificate: { certificate_chain: pem(chain), private_key: pem(key) } });

const grpcSource = { api_config_source: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }], set_node_on_first_message_only: true }, initial_fetch_timeout: '0s' };

describe('parseSdsSource', () => {
  test('kinds', () => {
    expect(parseSdsSource(undefined)).toEqual({ kind: 'static' });
    expect(parseSdsSource({ ads: {} })).toEqual({ kind: 'ads', key: 'ads', initialFetchTimeoutMs: 15_000 });
    expect(parseSdsSource(grpcSource)).toMatchObject({ kind: 'grpc', clusterName: 'sds-grpc', mode: 'sotw', setNodeOnFirstMessageOnly: true, initialFetchTimeoutMs: 0 });
    const delta = parseSdsSource({ ...grpcSource, api_config_source: { ...grpcSource.api_config_source, api_type: 'DELTA_GRPC' } });
    expect(delta).toMatchObject({ kind: 'grpc', mode: 'delta' });
    expect((delta as { key: string }).key).not.toBe((parseSdsSource(grpcSource) as { key: string }).key);
  });
  test('refusals name what is unsupported', () => {
    expect(() => parseSdsSource({ path_config_source: { path: '/x' } })).toThrow(/path_config_source is not/);
    expect(() => parseSdsSource({ api_config_source: { api_type: 'REST', grpc_services: [] } })).toThrow(/api_type REST/);
    expect(() => parseSdsSource({ api_config_source: { api_type: 'GRPC', grpc_services: [{ google_grpc: { target_uri: 'x' } }] } })).toThrow(/only envoy_grpc/);
    expect(() => parseSdsSource({ ads: {}, initial_fetch_timeout: 'soon' })).toThrow(/invalid duration/);
  });
});

function manager(opts: { ads?: boolean; staticSecrets?: string[]; refuse?: (m: SecretMaterial) => string | undefined } = {}) {
  const registry = new ExtensionRegistry();
  setupTls(registry);
  const stored = new Map<string, SecretMaterial>();
  const removed: string[] = [];
  const stats = new StatsStore();
  const m = new SdsManager({
    staticClusters: [],
    staticSecretNames: new Set(opts.staticSecrets ?? []),
    node: { id: 'n', cluster: 'c', zone: '', metadata: {} },
    version: 'test',
    parser: registry.secretParser,
    adsAvailable: opts.ads ?? true,
    stats,
    log: { info: () => undefined, warn: () => undefined },
    sink: {
      apply: (x) => {
        const r = opts.refuse?.(x) ?? checkSecretMaterial(x);
        if (!r) stored.set(x.name, x);
        return r;
      },
      remove: (n) => { removed.push(n); stored.delete(n); },
    },
  });
  const subscribed: string[][] = [];
  if (opts.ads ?? true) m.attachAds((names) => subscribed.push([...names]));
  const counter = (name: string): number => stats.findCounter(name)?.value() ?? 0;
  return { m, stored, removed, subscribed, counter };
}

function update(resources: Record<string, unknown>, version: string, removed: string[] = []): TypeUpdate {
  const map = new Map<string, XdsResource>(Object.entries(resources).map(([name, value]) => [name, { name, version, value: value as XdsResource['value'] }]));
  return { typeUrl: SECRET, resources: map, changed: [...map.keys()], removed, received: [...map.keys()], versionInfo: version };
}

const ref = (name: string, source: SdsRef['source'], owner = "listener 'l'"): SdsRef => ({ name, source, owner });
const ads = { kind: 'ads', key: 'ads', initialFetchTimeoutMs: 0 } as const;

describe('SdsManager', () => {
  test('check: missing static secret, ADS without ads_config, unknown SDS cluster, a name from two sources', () => {
    const { m } = manager({ ads: false, staticSecrets: ['s'] });
    const errs = m.check(['lds'], [
      ref('s', { kind: 'static' }),
      ref('missing', { kind: 'static' }),
      ref('a', ads),
      ref('g', parseSdsSource(grpcSource)),
    ]);
    expect(errs).toEqual([
      "listener 'l': secret 'missing': no static secret of that name (static_resources.secrets), and no sds_config",
      "listener 'l': secret 'a': sds_config { ads: {} } needs dynamic_resources.ads_config",
      "listener 'l': secret 'g': no static cluster named 'sds-grpc'",
    ]);
    const { m: m2 } = manager();
    m2.setRefs('cds', [ref('x', ads, "cluster 'c'")]);
    expect(m2.check(['lds'], [ref('x', parseSdsSource(grpcSource))])).toContainEqual(expect.stringMatching(/cluster 'c' names it with a different sds_config/));
  });

  test('subscriptions follow the references; a secret nothing needs is unsubscribed and forgotten', () => {
    const { m, subscribed, removed } = manager();
    m.setRefs('lds', [ref('a', ads), ref('b', ads)]);
    expect(subscribed.at(-1)).toEqual(['a', 'b']);
    expect(m.onUpdate(update({ a: certSecret('a', good.chainPem, good.keyPem) }, 'v1'), 'ads')).toEqual([]);
    m.setRefs('lds', [ref('b', ads)]);
    expect(subscribed.at(-1)).toEqual(['b']);
    expect(removed).toEqual(['a']);
    const before = subscribed.length;
    m.setRefs('lds', [ref('b', ads)]);
    expect(subscribed.length).toBe(before); // unchanged set: nothing sent
  });

  test('each secret stands alone: a bad one is rejected and counted, a good one in the same response applies', () => {
    const { m, stored, counter } = manager();
    m.setRefs('lds', [ref('a', ads), ref('b', ads)]);
    expect(m.settled(['a', 'b'])).toBe(false);
    const errs = m.onUpdate(update({ a: certSecret('a', good.chainPem, good.keyPem), b: certSecret('b', other.chainPem, good.keyPem) }, 'v1'), 'ads');
    expect(errs).toEqual([expect.stringMatching(/^secret 'b': private_key does not match certificate/)]);
    expect(stored.get('a')?.version).toBe('v1');
    expect(stored.has('b')).toBe(false);
    expect(counter('sds.a.update_success')).toBe(1);
    expect(counter('sds.b.update_rejected')).toBe(1);
    expect(counter('sds.b.update_attempt')).toBe(1);
    // A rejected first update settles the secret (Envoy's init target is ready): listeners stop warming.
    expect(m.settled(['a', 'b'])).toBe(true);
    expect(m.dump().active.map((s) => s.name)).toEqual(['a']);
    expect(m.dump().warming.map((s) => [s.name, s.versionInfo])).toEqual([['b', 'uninitialized']]);
  });

  test('expired material and parser errors keep the last good secret; an unchanged secret is not re-applied; removals are ignored', () => {
    const applied: string[] = [];
    const { m, stored } = manager({ refuse: (x) => { applied.push(x.version); return checkSecretMaterial(x); } });
    m.setRefs('lds', [ref('a', ads)]);
    m.onUpdate(update({ a: certSecret('a', good.chainPem, good.keyPem) }, 'v1'), 'ads');
    expect(m.onUpdate(update({ a: certSecret('a', expired.chainPem, expired.keyPem) }, 'v2'), 'ads')[0]).toMatch(/^secret 'a': certificate .*expired on/);
    expect(m.onUpdate(update({ a: { name: 'a', tls_certificate: { certificate_chain: pem('x'), private_key: pem('y') } } }, 'v3'), 'ads')[0]).toMatch(/^secret 'a': .*not a PEM certificate chain/);
    expect(m.onUpdate(update({ a: certSecret('other-name', good.chainPem, good.keyPem) }, 'v4'), 'ads')[0]).toMatch(/unexpected SDS secret \(expecting a\): other-name/);
    expect(stored.get('a')?.version).toBe('v1');
    expect(m.onUpdate(update({ a: certSecret('a', good.chainPem, good.keyPem) }, 'v5'), 'ads')).toEqual([]);
    expect(applied).toEqual(['v1', 'v2']); // v3/v4 fail in parsing; v5 is the same secret
    expect(m.dump().active[0]!.versionInfo).toBe('v5');
    expect(m.onUpdate(update({}, 'v6', ['a']), 'ads')).toEqual([]);
    expect(stored.has('a')).toBe(true);
  });

  test('a secret from another stream is ignored', () => {
    const { m, stored } = manager();
    m.setRefs('lds', [ref('a', ads)]);
    expect(m.onUpdate(update({ a: certSecret('a', good.chainPem, good.keyPem) }, 'v1'), 'sotw|sds-grpc|1')).toEqual([]);
    expect(stored.has('a')).toBe(false);
  });

  test('initial_fetch_timeout settles a secret that never arrives (init_fetch_timeout counted)', async () => {
    const { m, counter } = manager();
    m.setRefs('lds', [ref('slow', { kind: 'ads', key: 'ads', initialFetchTimeoutMs: 30 })]);
    const t0 = Date.now();
    await m.whenSettled(['slow']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(counter('sds.slow.init_fetch_timeout')).toBe(1);
    m.close();
  });
});

describe('checkSecretMaterial', () => {
  const material = (o: Partial<SecretMaterial>): SecretMaterial => ({ name: 'x', version: 'v', ...o });
  test('accepts a matching, valid pair and a CA bundle', () => {
    expect(checkSecretMaterial(material({ certificateChain: Buffer.from(good.chainPem), privateKey: Buffer.from(good.keyPem) }))).toBeUndefined();
    expect(checkSecretMaterial(material({ trustedCa: Buffer.from(ca.caPem + ca.caPem) }))).toBeUndefined();
  });
  test('refuses with the reason', () => {
    expect(checkSecretMaterial(material({ certificateChain: Buffer.from(other.chainPem), privateKey: Buffer.from(good.keyPem) }))).toMatch(/private_key does not match certificate .*serial/);
    expect(checkSecretMaterial(material({ certificateChain: Buffer.from(expired.chainPem), privateKey: Buffer.from(expired.keyPem) }))).toMatch(/expired on/);
    expect(checkSecretMaterial(material({ certificateChain: Buffer.from(good.chainPem), privateKey: Buffer.from('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n') }))).toMatch(/private_key cannot be read/);
    expect(checkSecretMaterial(material({ trustedCa: Buffer.from('not a certificate') }))).toBe('trusted_ca holds no PEM certificate');
    const notYet = issueDevWorkload(ca, { dnsNames: ['a.example.com'], keyLabel: 'unit-a', notYetValid: true });
    expect(checkSecretMaterial(material({ certificateChain: Buffer.from(notYet.chainPem), privateKey: Buffer.from(notYet.keyPem) }))).toMatch(/not valid before/);
  });
});
