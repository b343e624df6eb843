/**
 * The Envoy v3 API type registry: every message of the protos shipped in
 * @grpc/grpc-js-xds (deps/), built into a descriptor set by
 * scripts/gen-protos.mjs, plus Istio's extension configs (istio-api.ts).
 * Loaded once, at start-up.
 */
import { readFileSync } from 'node:fs';
import { createFileRegistry, fromBinary, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { fromRepo } from '../../sidecar/paths.ts';
import { istioFileDescriptors } from './istio-api.ts';

let registry: FileRegistry | undefined;

/** The registry of Envoy API types (loaded on first use). */
export function envoyRegistry(): FileRegistry {
  if (!registry) {
    const bytes = readFileSync(fromRepo('xds/proto/generated/envoy-api.binpb'));
    const set = fromBinary(FileDescriptorSetSchema, bytes);
    // Istio's extension configs travel in the same Anys (istio-api.ts).
    set.file.push(...istioFileDescriptors());
    registry = createFileRegistry(set);
  }
  return registry;
}

/**
 * Drops the registry (about 40 MB of descriptor objects) once the bootstrap is
 * translated; the next decode loads it again. The running data path never
 * needs it: it works on translated, frozen config.
 */
export function releaseEnvoyRegistry(): void {
  registry = undefined;
}

/** The message descriptor of a fully-qualified type name, or undefined. */
export function messageType(typeName: string): DescMessage | undefined {
  return envoyRegistry().getMessage(typeName);
}

/** `type.googleapis.com/a.b.C` -> `a.b.C`. */
export function typeNameOfUrl(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf('/');
  return slash >= 0 ? typeUrl.slice(slash + 1) : typeUrl;
}
