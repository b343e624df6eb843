/**
 * The test control plane's resource store: per type URL, the resources set
 * from canonical JSON (the shape Envoy's YAML uses), each encoded once to
 * protobuf bytes, packed into google.protobuf.Any and versioned by a hash of
 * those bytes; plus the type's SotW version_info, which moves on every set.
 */
import { createHash } from 'node:crypto';
import { create, fromJson, toBinary, type JsonValue } from '@bufbuild/protobuf';
import { AnySchema, type Any } from '@bufbuild/protobuf/wkt';
import { envoyRegistry, typeNameOfUrl } from '../../xds/proto/registry.ts';

/** One encoded resource. */
export interface StoredResource {
  readonly name: string;
  /** A hash of the encoded bytes: equal bytes, equal version. */
  readonly version: string;
  readonly any: Any;
}

/** All resources of one type URL at one version. */
export interface TypeState {
  readonly typeUrl: string;
  /** The SotW `version_info` and delta `system_version_info`. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, StoredResource>;
}

/** Encodes one resource of `typeUrl` from canonical JSON; throws with the type and name on bad input. */
export function encodeResource(typeUrl: string, name: string, json: unknown): StoredResource {
  const registry = envoyRegistry();
  const typeName = typeNameOfUrl(typeUrl);
  const desc = registry.getMessage(typeName);
  if (!desc) throw new Error(`xds-server: unknown resource type ${typeUrl}`);
  let body = json;
  if (body && typeof body === 'object' && !Array.isArray(body) && '@type' in body) {
    const { '@type': declared, ...rest } = body as Record<string, unknown>;
    if (declared !== typeUrl) throw new Error(`xds-server: resource ${name} says @type ${String(declared)}, set as ${typeUrl}`);
    body = rest;
  }
  let bytes: Uint8Array;
  try {
    bytes = toBinary(desc, fromJson(desc, body as JsonValue, { registry }));
  } catch (e) {
    throw new Error(`xds-server: resource ${name} of ${typeName}: ${(e as Error).message}`);
  }
  const version = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  return { name, version, any: create(AnySchema, { typeUrl, value: bytes }) };
}

/** Resources by type URL; every change is reported to `onChange`. */
export class ResourceStore {
  private readonly types = new Map<string, TypeState>();
  private counter = 0;
  private readonly onChange: (typeUrl: string) => void;

  constructor(onChange: (typeUrl: string) => void) {
    this.onChange = onChange;
  }

  /** Replaces every resource of `typeUrl`; `version` defaults to a fresh counter value. */
  set(typeUrl: string, resources: Record<string, unknown>, version?: string): TypeState {
    const encoded = new Map<string, StoredResource>();
    for (const [name, json] of Object.entries(resources)) encoded.set(name, encodeResource(typeUrl, name, json));
    const state: TypeState = { typeUrl, version: version ?? `v${++this.counter}`, resources: encoded };
    this.types.set(typeUrl, state);
    this.onChange(typeUrl);
    return state;
  }

  /** The current state of a type, or undefined while it was never set (streams wait for it). */
  get(typeUrl: string): TypeState | undefined {
    return this.types.get(typeUrl);
  }
}
