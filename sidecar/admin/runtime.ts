/**
 * Admin `/runtime` ({"layers":[...],"entries":{key:{"final_value","layer_values"}}},
 * values as strings, the last non-empty layer value winning) and
 * `/runtime_modify` (POST; `?k=v` or a form body; an empty value removes an
 * admin override), as Envoy's RuntimeHandler.
 */

import { AdminQuery, jsonResponse, textResponse } from './admin-request.ts';
import type { AdminContext, AdminRequest, AdminResponse } from './admin-request.ts';
import type { RuntimeLayerView } from './server-view.ts';

/** Nested runtime structs flattened to dotted keys, scalars as their raw strings. */
function flatten(values: Readonly<Record<string, unknown>>, prefix: string, out: Map<string, string>): void {
  for (const [k, v] of Object.entries(values)) {
    const key = prefix + k;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) flatten(v as Record<string, unknown>, `${key}.`, out);
    else out.set(key, typeof v === 'string' ? v : JSON.stringify(v));
  }
}

/** Handles GET /runtime. */
export function handleRuntime(_req: AdminRequest, ctx: AdminContext): AdminResponse {
  const layers: readonly RuntimeLayerView[] = ctx.view.runtimeLayers?.() ?? [
    { name: 'static_layer_0', values: ctx.view.runtime() },
  ];
  const flat = layers.map((l) => {
    const m = new Map<string, string>();
    flatten(l.values, '', m);
    return m;
  });
  const keys = [...new Set(flat.flatMap((m) => [...m.keys()]))].sort();
  const entries: Record<string, { final_value: string; layer_values: string[] }> = {};
  for (const key of keys) {
    const layerValues = flat.map((m) => m.get(key) ?? '');
    let finalValue = '';
    for (const v of layerValues) if (v !== '') finalValue = v;
    entries[key] = { final_value: finalValue, layer_values: layerValues };
  }
  return jsonResponse({ layers: layers.map((l) => l.name), entries });
}

/** Handles POST /runtime_modify. */
export function handleRuntimeModify(req: AdminRequest, ctx: AdminContext): AdminResponse {
  let params = req.query.map();
  if (params.size === 0 && req.contentType.split(';')[0]!.trim() === 'application/x-www-form-urlencoded') {
    params = new AdminQuery(req.body.replace(/\+/g, ' ')).map();
  }
  if (params.size === 0) {
    return textResponse(
      'usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n' +
        '       or send the parameters as form values\n' +
        'use an empty value to remove a previously added override',
      400,
    );
  }
  try {
    ctx.view.setRuntime(Object.fromEntries(params));
  } catch (e) {
    return textResponse(e instanceof Error ? e.message : String(e), 503);
  }
  return textResponse('OK\n');
}
