// Builds the Envoy v3 API descriptor set (xds/proto/generated/envoy-api.binpb)
// from the .proto files shipped in @grpc/grpc-js-xds's deps/ folder, using buf.
//
// Two repairs happen in a staging copy (the package itself is never edited):
//  - its protoc-gen-validate validate.proto predates `ignore_empty`, which
//    Envoy's v3 protos use on StringRules; the field is added (number 26, as
//    in protoc-gen-validate upstream) so the option values resolve;
//  - v2/v2alpha/v1 API trees and a few files whose imports the package does not
//    ship (opencensus, OpenTelemetry logs, Prometheus metrics service) are left
//    out. Those types are then unknown: a bootstrap that names one is refused
//    with the type URL.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const outDir = join(root, 'xds/proto/generated');
const out = join(outDir, 'envoy-api.binpb');
const stamp = join(outDir, 'stamp.json');
const buf = join(root, 'node_modules/.bin/buf');

const version = JSON.parse(readFileSync(join(deps, '..', 'package.json'), 'utf8')).version;
const script = statSync(fileURLToPath(import.meta.url)).mtimeMs;
if (existsSync(out) && existsSync(stamp)) {
  const s = JSON.parse(readFileSync(stamp, 'utf8'));
  if (s.version === version && s.script === script) process.exit(0);
}

const stage = join(outDir, 'stage');
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

const skipDir = /^(v1|v2|v2alpha\d*)$/;
const skipFile = new Set([
  'envoy/config/trace/v3/opencensus.proto',
  'envoy/config/trace/v3/trace.proto', // only re-exports the tracers, opencensus among them
  'envoy/extensions/access_loggers/open_telemetry/v3/logs_service.proto',
  'envoy/service/trace/v3/trace_service.proto',
  'envoy/service/metrics/v3/metrics_service.proto',
]);
function copyTree(src, dst, rel = '', keepVersions = false) {
  for (const name of readdirSync(src)) {
    const s = join(src, name);
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(s).isDirectory()) {
      if (!keepVersions && skipDir.test(name)) continue;
      copyTree(s, join(dst, name), r, keepVersions);
    } else if (name.endsWith('.proto') && !skipFile.has(r)) {
      mkdirSync(dst, { recursive: true });
      cpSync(s, join(dst, name));
    }
  }
}
copyTree(join(deps, 'envoy-api'), join(stage, 'envoy-api'));
copyTree(join(deps, 'xds'), join(stage, 'xds'), '', true);
// Only what Envoy's protos import from googleapis (CEL expressions, rpc.Status).
copyTree(join(deps, 'googleapis/google/api/expr'), join(stage, 'googleapis/google/api/expr'), 'expr', true);
copyTree(join(deps, 'googleapis/google/rpc'), join(stage, 'googleapis/google/rpc'), 'rpc', true);
for (const name of ['annotations.proto', 'http.proto']) {
  cpSync(join(deps, 'googleapis/google/api', name), join(stage, 'googleapis/google/api', name));
}
const validate = readFileSync(join(deps, 'protoc-gen-validate/validate/validate.proto'), 'utf8');
const patched = validate.includes('ignore_empty')
  ? validate
  : validate.replace(/message StringRules \{/, 'message StringRules {\n    optional bool ignore_empty = 26;');
mkdirSync(join(stage, 'pgv/validate'), { recursive: true });
writeFileSync(join(stage, 'pgv/validate/validate.proto'), patched);

writeFileSync(
  join(stage, 'buf.yaml'),
  ['version: v2', 'modules:', '  - path: envoy-api', '  - path: xds', '  - path: googleapis', '  - path: pgv', ''].join('\n'),
);
execFileSync(buf, ['build', '-o', relative(stage, out)], { cwd: stage, stdio: 'inherit' });
rmSync(stage, { recursive: true, force: true });
writeFileSync(stamp, JSON.stringify({ version, script }));
console.error(`gen-protos: wrote ${relative(root, out)} (${statSync(out).size} bytes)`);
