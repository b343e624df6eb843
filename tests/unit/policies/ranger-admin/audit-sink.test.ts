/**
 * Ranger audit: the AuthzAuditEvent JSON (Ranger's field names), and the
 * sink: batched, bounded (a full queue drops and counts, log() never
 * blocks), written to a real file.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { auditEvent, rangerEventTime, resourceAsString } from '../../../../policies/ranger/audit/audit-event.ts';
import { AuditSink } from '../../../../policies/ranger/audit/audit-sink.ts';
import { StatsStore } from '../../../../sidecar/stats/store.ts';

const ID = { serviceName: 'cm_hbase', repoType: 2, agentId: 'themis-sidecar', agentHost: 'pod-1', clusterName: 'c1' };

describe('AuthzAuditEvent', () => {
  test('has Ranger\'s fields and values', () => {
    const ev = auditEvent(ID, {
      principal: { user: 'alice', groups: ['g'], roles: [], spiffeId: 'spiffe://cluster.local/ns/a/sa/b' },
      resource: { table: 'invoices', 'column-family': 'cf', column: 'c1' },
      accessType: 'read',
      context: { clientIp: '10.1.2.3', time: new Date(Date.UTC(2024, 4, 1, 12, 34, 56, 789)), action: 'GET', protocol: 'http', requestData: '/invoices/cf/c1', sessionId: 's1' },
    }, { allowed: true, determined: true, audited: true, policyId: 4, policyVersion: 7141, reason: 'r' }, 'z1');
    expect(ev).toMatchObject({
      repoType: 2, repo: 'cm_hbase', reqUser: 'alice', evtTime: '2024-05-01 12:34:56.789', access: 'read',
      resource: 'invoices/cf/c1', resType: 'column', action: 'GET', result: 1, agent: 'themis-sidecar', policy: 4, reason: 'r',
      enforcer: 'ranger-acl', sess: 's1', cliType: 'http', cliIP: '10.1.2.3', reqData: '/invoices/cf/c1', agentHost: 'pod-1',
      logType: 'RangerAudit', event_count: 1, event_dur_ms: 0, tags: [], cluster_name: 'c1', zone_name: 'z1', policy_version: 7141,
    });
    expect(JSON.parse(ev.additional_info!)).toEqual({ 'spiffe-id': 'spiffe://cluster.local/ns/a/sa/b' });
    const next = auditEvent(ID, { principal: { user: 'bob', groups: [], roles: [] }, resource: { path: '/x' }, accessType: 'write', context: {} }, { allowed: false, determined: false, audited: true, policyId: -1 });
    expect(next.seq_num).toBe(ev.seq_num + 1);
    expect(next.id).not.toBe(ev.id);
    expect(next).toMatchObject({ result: 0, policy: -1, resource: '/x', resType: 'path', action: 'write' });
    expect(next.zone_name).toBeUndefined();
  });

  test('helpers', () => {
    expect(rangerEventTime(new Date(0))).toBe('1970-01-01 00:00:00.000');
    expect(resourceAsString({ database: 'db', table: ['t1', 't2'] })).toEqual({ resource: 'db/t1,t2', resType: 'table' });
  });
});

describe('AuditSink', () => {
  test('batches events into JSON lines in a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ranger-audit-'));
    const path = join(dir, 'audit.log');
    const stats = new StatsStore();
    const sink = new AuditSink({ path, stats: stats.scope('a') });
    for (let i = 0; i < 50; i++) sink.log({ seq_num: i });
    expect(sink.pending).toBe(50); // nothing written synchronously
    await new Promise((r) => setImmediate(r));
    expect(sink.pending).toBe(0);
    await sink.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq_num: number });
    expect(lines.map((l) => l.seq_num)).toEqual([...Array(50).keys()]);
    expect(stats.counter('a.written').value()).toBe(50);
    expect(stats.counter('a.dropped').value()).toBe(0);
  });

  test('a stalled output fills the queue; then events are dropped and counted, never blocking', async () => {
    // An output that never finishes a write: the bytes stay buffered.
    const stalled = new Writable({ highWaterMark: 16, write: () => undefined });
    const stats = new StatsStore();
    const sink = new AuditSink({ path: 'unused', out: stalled, maxQueue: 100, maxBatch: 10, maxBufferedBytes: 64, stats: stats.scope('a') });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10_000; i++) sink.log({ seq_num: i, pad: 'x'.repeat(20) });
    expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeLessThan(1000);
    expect(sink.pending).toBe(100);
    expect(stats.counter('a.dropped').value()).toBe(9900);
    await new Promise((r) => setImmediate(r));
    // One batch went to the output, which is now behind: the rest waits.
    expect(stats.counter('a.written').value()).toBe(10);
    expect(sink.pending).toBe(90);
    for (let i = 0; i < 20; i++) sink.log({ more: i });
    expect(sink.pending).toBe(100);
    expect(stats.counter('a.dropped').value()).toBe(9910);
  });

  test('writes resume when the output drains', async () => {
    const out = new PassThrough({ highWaterMark: 16 });
    const stats = new StatsStore();
    const sink = new AuditSink({ path: 'unused', out, maxQueue: 1000, maxBatch: 5, maxBufferedBytes: 32, stats: stats.scope('a') });
    for (let i = 0; i < 40; i++) sink.log({ i });
    await new Promise((r) => setImmediate(r));
    expect(sink.pending).toBeGreaterThan(0);
    const got: string[] = [];
    out.on('data', (c: Buffer) => got.push(c.toString()));
    await new Promise<void>((resolve) => {
      const check = (): void => (sink.pending === 0 ? resolve() : void setTimeout(check, 5));
      check();
    });
    await new Promise((r) => setImmediate(r));
    expect(got.join('').trim().split('\n')).toHaveLength(40);
    expect(stats.counter('a.dropped').value()).toBe(0);
  });
});
