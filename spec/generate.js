#!/usr/bin/env node
// Generates spec/schemas/*.json, the JSON Schemas of the Reflection API's
// messages, from the zod schemas of the Genkit CLI pinned in e2e/node
// (@genkit-ai/tools-common), converted with the zod-to-json-schema the CLI
// depends on.
//
//   node spec/generate.js           write the schemas
//   node spec/generate.js --check   fail (exit 1) if a committed schema differs
//
// Two kinds of schema are written (see spec/README.md):
//   - schemas/<Name>.json: one zod schema of the CLI, converted as it is.
//   - schemas/rules/<Name>.json: what the client needs that its zod cannot
//     say (a Status whose details is an object, the JSON-RPC envelopes, the
//     final object of a run, hex trace ids, ...), written as schema here,
//     each embedding the generated schema it narrows.
// Every file is self-contained (no $ref between files), draft 2020-12.
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const root = path.resolve(__dirname, '..');
const pinned = createRequire(path.join(root, 'e2e', 'node', 'package.json'));
const tools = pinned('@genkit-ai/tools-common');
const toolsVersion = JSON.parse(fs.readFileSync(
  path.join(root, 'e2e', 'node', 'node_modules', '@genkit-ai', 'tools-common', 'package.json'), 'utf8')).version;
const { z } = pinned('zod');
const { zodToJsonSchema } = pinned('zod-to-json-schema');

const DIALECT = 'https://json-schema.org/draft/2020-12/schema';
const outDir = path.join(__dirname, 'schemas');
const source = `@genkit-ai/tools-common@${toolsVersion}`;

// convert turns a zod schema into a self-contained JSON Schema. Objects of
// zod's default (strip) mode accept unknown members, as the CLI does, so
// they are left open; only .strict() objects are closed.
function convert(zodSchema) {
  const s = zodToJsonSchema(zodSchema, {
    $refStrategy: 'none',
    removeAdditionalStrategy: 'strict',
    allowedAdditionalProperties: undefined,
  });
  delete s.$schema;
  return s;
}

// The generated schemas: file name, the zod schema, its source file in
// tools-common, and where the CLI (or a runtime) uses it.
const generated = [
  ['Status', tools.StatusSchema, 'src/types/status.ts', 'The error Status of a run: {code, message, details}.'],
  ['Action', tools.ActionSchema, 'src/types/action.ts', 'An action descriptor of GET /api/actions (v1); the CLI does not validate the v1 listing.'],
  ['ActionMetadata', tools.ActionMetadataSchema, 'src/types/action.ts', 'An action descriptor of the v2 listActions result, validated by the CLI.'],
  ['RunActionRequest', tools.RunActionRequestSchema, 'src/types/apis.ts', 'The body of POST /api/runAction.'],
  ['RunActionResponse', tools.RunActionResponseSchema, 'src/types/action.ts', 'The result of a run, validated by the CLI (v1 final object, v2 runAction result).'],
  ['CancelActionRequest', tools.CancelActionRequestSchema, 'src/types/apis.ts', 'The body of POST /api/cancelAction.'],
  ['TraceData', tools.TraceDataSchema, 'src/types/trace.ts', 'A trace as posted to the telemetry server (POST /api/traces).'],
  ['SpanData', tools.SpanDataSchema, 'src/types/trace.ts', 'A span of a TraceData.'],
  ['ReflectionRegisterParams', tools.ReflectionRegisterParamsSchema, 'src/types/reflection.ts', 'v2 register request params (runtime to CLI).'],
  ['ReflectionStreamChunkParams', tools.ReflectionStreamChunkParamsSchema, 'src/types/reflection.ts', 'v2 streamChunk notification params (runtime to CLI).'],
  ['ReflectionRunActionStateParams', tools.ReflectionRunActionStateParamsSchema, 'src/types/reflection.ts', 'v2 runActionState notification params (runtime to CLI).'],
  ['ReflectionConfigureParams', tools.ReflectionConfigureParamsSchema, 'src/types/reflection.ts', 'v2 configure notification params (CLI to runtime).'],
  ['ReflectionListValuesParams', tools.ReflectionListValuesParamsSchema, 'src/types/reflection.ts', 'v2 listValues request params (CLI to runtime).'],
  ['ReflectionRunActionParams', tools.ReflectionRunActionParamsSchema, 'src/types/reflection.ts', 'v2 runAction request params (CLI to runtime).'],
  ['ReflectionCancelActionParams', tools.ReflectionCancelActionParamsSchema, 'src/types/reflection.ts', 'v2 cancelAction request params (CLI to runtime).'],
  ['ReflectionSendInputStreamChunkParams', tools.ReflectionSendInputStreamChunkParamsSchema, 'src/types/reflection.ts', 'v2 sendInputStreamChunk notification params (CLI to runtime).'],
  ['ReflectionEndInputStreamParams', tools.ReflectionEndInputStreamParamsSchema, 'src/types/reflection.ts', 'v2 endInputStream notification params (CLI to runtime).'],
  ['ReflectionListActionsResponse', tools.ReflectionListActionsResponseSchema, 'src/types/reflection.ts', 'v2 listActions result, validated by the CLI.'],
  ['ReflectionListValuesResponse', tools.ReflectionListValuesResponseSchema, 'src/types/reflection.ts', 'v2 listValues result, validated by the CLI.'],
  ['ReflectionCancelActionResponse', tools.ReflectionCancelActionResponseSchema, 'src/types/reflection.ts', 'v2 cancelAction result, validated by the CLI.'],
];

// RuntimeInfo has no zod schema in the CLI: it is the TypeScript interface
// RuntimeInfo (src/manager/types.ts), of which isValidRuntimeInfo
// (src/manager/manager.ts) checks id, pid, reflectionServerUrl, timestamp
// (Date.parse must accept it, which no schema can say) and name. This zod
// schema states those checks and the interface's types of the other
// members a runtime writes, so that it converts like the rest. projectName
// is left out: the CLI sets it from the project folder.
const RuntimeInfoSchema = z.object({
  id: z.string().describe('Runtime id; the CLI health-checks /api/__health?id=<id>.'),
  pid: z.number().describe('Process id of the runtime.'),
  reflectionServerUrl: z.string().describe('Base URL of the v1 reflection server.'),
  timestamp: z.string().describe("Start time; Date.parse must accept it after '_' is replaced by ':'."),
  name: z.string().optional().describe('Display name; the id when absent.'),
  genkitVersion: z.string().optional().describe('Runtime library version, e.g. nodejs/1.42.0 or go/1.4.0.'),
  reflectionApiSpecVersion: z.number().optional().describe('Reflection API spec version; the CLI exits when it is above its own (1).'),
});
generated.push(['RuntimeInfo', RuntimeInfoSchema, 'src/manager/types.ts + isValidRuntimeInfo in src/manager/manager.ts',
  'A runtime file, .genkit/runtimes/*.json.']);

const built = {};
for (const [name, schema] of generated) {
  if (!schema) {
    throw new Error(`${source} exports no schema for ${name}`);
  }
  built[name] = convert(schema);
}

// Rules: what the client relies on beyond its zod schemas. Each embeds the
// generated schema it narrows, so each file stands alone.
const traceId = { type: 'string', pattern: '^[0-9a-f]{32}$' };
const spanId = { type: 'string', pattern: '^[0-9a-f]{16}$' };
const errorStatus = {
  allOf: [
    built.Status,
    {
      type: 'object',
      properties: {
        code: { type: 'integer', minimum: 0, maximum: 16 },
        details: { type: 'object' },
      },
      required: ['details'],
    },
  ],
};
const runSuccess = {
  allOf: [
    built.RunActionResponse,
    {
      type: 'object',
      properties: {
        telemetry: { type: 'object', properties: { traceId }, required: ['traceId'] },
      },
      required: ['telemetry'],
      not: { required: ['error'] },
    },
  ],
};
const jsonrpcId = { type: ['string', 'integer'] };
const jsonrpcError = {
  type: 'object',
  properties: {
    code: { type: 'integer' },
    message: { type: 'string' },
    data: {},
  },
  required: ['code', 'message'],
};

const rules = [
  ['ErrorStatus', errorStatus,
    "An error Status as a runtime sends it: a canonical code 0..16 and details an object (the CLI reads details.stack; protocol.md §8.3, §8.6)."],
  ['RunActionSuccess', runSuccess,
    'A successful run: RunActionResponse with telemetry.traceId, 32 lower-case hex digits (protocol.md §1.3).'],
  ['RunActionFinal', {
    oneOf: [
      runSuccess,
      { type: 'object', properties: { error: errorStatus }, required: ['error'] },
    ],
  }, 'The v1 runAction body (non-stream) or its last NDJSON line (stream): a success or {error: ErrorStatus} (protocol.md §1.3).'],
  ['TraceDataStrict', {
    allOf: [
      built.TraceData,
      {
        type: 'object',
        properties: {
          traceId,
          spans: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              properties: {
                spanId, traceId, parentSpanId: spanId,
                status: { type: 'object', properties: { code: { enum: [0, 1, 2] } } },
              },
            },
          },
        },
      },
    ],
  }, 'TraceData with hex ids and an OTel status code 0 (unset), 1 (ok) or 2 (error) (protocol.md §6.1, §6.2).'],
  ['RuntimeInfoStrict', {
    allOf: [
      built.RuntimeInfo,
      {
        type: 'object',
        properties: {
          timestamp: {
            type: 'string',
            pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$',
          },
          reflectionApiSpecVersion: { const: 1 },
        },
        required: ['reflectionApiSpecVersion'],
      },
    ],
  }, 'A runtime file as it should be written: an ISO-8601 timestamp with colons (getMostRecentRuntime compares new Date(timestamp)) and spec version 1 (protocol.md §7.1).'],
  ['NotifyRequest', {
    type: 'object',
    properties: {
      telemetryServerUrl: { type: ['string', 'null'] },
      reflectionApiSpecVersion: { type: ['number', 'null'] },
    },
  }, 'The body of POST /api/notify, as manager.ts::notifyRuntime sends it (no zod schema); null stands for absent, as the JS runtime uses only a string URL and a numeric version.'],
  ['RunActionRequestAccepted', (() => {
    const r = JSON.parse(JSON.stringify(built.RunActionRequest));
    r.properties.runtimeId = { description: 'Added by the CLI to address a runtime; the runtime ignores it, whatever its value.' };
    r.properties.context = { type: ['object', 'null'],
      description: 'The run context (auth and the like), recorded on the root span; genkit-runtime refuses one that is not an object with 400.' };
    r.properties.telemetryLabels = { anyOf: [r.properties.telemetryLabels, { type: 'null' }],
      description: 'Labels put on the root span; null stands for absent (the JS runtime spreads it).' };
    return r;
  })(), 'The body of POST /api/runAction as runtimes accept it: the RunActionRequest the CLI sends, with runtimeId ignored, context an object and a null telemetryLabels taken as absent (protocol.md §1.3).'],
  ['CancelActionRequestStrict', {
    allOf: [
      built.CancelActionRequest,
      { type: 'object', properties: { traceId: { type: 'string', minLength: 1 } } },
    ],
  }, 'The body of POST /api/cancelAction as runtimes accept it: the JS runtime refuses an empty traceId with 400 (`if (!traceId ...)`, protocol.md §1.4).'],
  ['ValuesResponse', {
    type: 'object',
    additionalProperties: {},
  }, 'The body of GET /api/values: a record of values by name (protocol.md §1.6).'],
  ['RegisterResult', {
    type: 'object',
    properties: { telemetryServerUrl: { type: 'string' } },
  }, 'The result the CLI answers a v2 register with (manager-v2.ts::handleRegister; no zod schema): where its telemetry server is, absent when it has none.'],
  ['JsonRpcRequest', {
    type: 'object',
    properties: {
      jsonrpc: { const: '2.0' },
      method: { type: 'string' },
      params: {},
      id: jsonrpcId,
    },
    required: ['jsonrpc', 'method', 'id'],
  }, 'A v2 JSON-RPC request. The CLI sends string ids and answers a runtime request only when its id is truthy (protocol.md §5.3).'],
  ['JsonRpcNotification', {
    type: 'object',
    properties: {
      jsonrpc: { const: '2.0' },
      method: { type: 'string' },
      params: {},
    },
    required: ['jsonrpc', 'method'],
    not: { required: ['id'] },
  }, 'A v2 JSON-RPC notification: no id.'],
  ['JsonRpcResponse', {
    type: 'object',
    properties: {
      jsonrpc: { const: '2.0' },
      id: jsonrpcId,
      result: {},
      error: jsonrpcError,
    },
    required: ['jsonrpc', 'id'],
    oneOf: [
      { required: ['result'], not: { required: ['error'] } },
      { required: ['error'], not: { required: ['result'] } },
    ],
  }, 'A v2 JSON-RPC response: the request id echoed, and exactly one of result and error.'],
  ['JsonRpcRunError', {
    allOf: [
      jsonrpcError,
      { type: 'object', properties: { code: { const: -32000 }, data: errorStatus }, required: ['data'] },
    ],
  }, 'The error of a v2 runAction whose action failed: -32000 with the ErrorStatus as data (protocol.md §5.4).'],
];

// The output, keyed by path under spec/schemas.
function stable(v) {
  if (Array.isArray(v)) return v.map(stable);
  if (v && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = stable(v[k]);
    return out;
  }
  return v;
}
const files = {};
for (const [name, , file, desc] of generated) {
  files[`${name}.json`] = {
    $schema: DIALECT,
    title: name,
    description: `${desc} Generated from ${source} ${file}.`,
    ...built[name],
  };
}
for (const [name, schema, desc] of rules) {
  files[`rules/${name}.json`] = {
    $schema: DIALECT,
    title: name,
    description: `${desc} A rule of genkit-runtime's spec/generate.js over ${source}.`,
    ...schema,
  };
}


// The OpenRPC document of reflection v2, built from the method catalogue
// below and the params schemas' members, so that it follows the schemas.
// OpenRPC has no direction: x-direction says who sends each method, and a
// method without result is a notification.
const v2Methods = [
  ['register', 'runtime-to-cli', 'ReflectionRegisterParams', { name: 'RegisterResult', $ref: './schemas/rules/RegisterResult.json' },
  'Sent by the runtime on every (re)connect. The CLI keys the runtime by id and answers only a request with a truthy id (send "1", not 0). Unless GENKIT_TELEMETRY_SERVER is set, the runtime points its trace export at the telemetryServerUrl of the result.', []],
  ['listActions', 'cli-to-runtime', null, { name: 'ListActionsResult', $ref: './schemas/ReflectionListActionsResponse.json' },
    'The runtime\'s actions, keyed by key. Validated by the CLI: a null description or a null top-level metadata value rejects the whole listing.', []],
  ['listValues', 'cli-to-runtime', 'ReflectionListValuesParams', { name: 'ListValuesResult', $ref: './schemas/ReflectionListValuesResponse.json' },
    'Registered values of one type (defaultModel, middleware); values is present even when empty.',
    [{ code: -32602, message: "'type' <t> is not supported. Only 'defaultModel' and 'middleware' are supported" }]],
  ['runAction', 'cli-to-runtime', 'ReflectionRunActionParams', { name: 'RunActionResult', $ref: './schemas/rules/RunActionSuccess.json' },
    'Runs an action. The runtime first sends one runActionState notification with the trace id (when the root span starts), then streamChunk notifications when stream is true, then the response. An action error is -32000 with the Status as data (schemas/rules/JsonRpcRunError.json). With streamInput, the CLI sends sendInputStreamChunk and endInputStream notifications carrying the request id.',
    [{ code: -32000, message: 'the action failed; data is the ErrorStatus' }, { code: -32602, message: 'action <key> not found, or invalid params' }]],
  ['cancelAction', 'cli-to-runtime', 'ReflectionCancelActionParams', { name: 'CancelActionResult', $ref: './schemas/ReflectionCancelActionResponse.json' },
    'Cancels the active run with that trace id; the run then ends with -32000 and a Status of code 1 (CANCELLED).',
    [{ code: -32602, message: 'Action not found or already completed' }]],
  ['runActionState', 'runtime-to-cli', 'ReflectionRunActionStateParams', null,
    'Notification, sent once per run when its root span starts; requestId is the runAction request id as a string.', []],
  ['streamChunk', 'runtime-to-cli', 'ReflectionStreamChunkParams', null,
    'Notification, one per chunk of a run with stream true, before its response.', []],
  ['configure', 'cli-to-runtime', 'ReflectionConfigureParams', null,
    'Notification re-pointing trace export (handled by the runtimes; the CLI 1.43 never sends it).', []],
  ['sendInputStreamChunk', 'cli-to-runtime', 'ReflectionSendInputStreamChunkParams', null,
    'Notification: one input chunk of a bidirectional run (requestId: the runAction id).', []],
  ['endInputStream', 'cli-to-runtime', 'ReflectionEndInputStreamParams', null,
    'Notification: the end of a bidirectional run\'s input.', []],
];
const openrpc = {
  openrpc: '1.3.2',
  info: {
    title: 'Genkit Reflection API v2',
    version: '1',
    description: 'Reflection API v2: JSON-RPC 2.0 over one WebSocket that the runtime dials (GENKIT_REFLECTION_V2_SERVER, ws://localhost:<port>), one message per text frame, no batches. ' +
      'Both sides send requests and notifications; x-direction names the sender. Ids: the CLI sends strings ("1", "2", ...); a runtime echoes the id exactly and copies it as a string into requestId. ' +
      'Every frame is a JsonRpcRequest, JsonRpcNotification or JsonRpcResponse of schemas/rules. ' +
      `Params and results are the schemas generated from ${source}. Unknown methods with an id are -32601; unknown notifications are ignored.`,
    license: { name: 'Apache-2.0' },
  },
  methods: v2Methods.map(([name, direction, params, result, description, errors]) => {
    const m = { name, description, 'x-direction': direction, paramStructure: 'by-name', params: [] };
    if (params) {
      const sch = built[params];
      const req = new Set(sch.required || []);
      m['x-params-schema'] = { $ref: `./schemas/${params}.json` };
      for (const member of Object.keys(sch.properties).sort()) {
        m.params.push({ name: member, required: req.has(member), schema: { $ref: `./schemas/${params}.json#/properties/${member}` } });
      }
    }
    if (result) {
      const { name: rname, ...schema } = result;
      m.result = { name: rname, schema };
    }
    if (errors.length) m.errors = errors;
    return m;
  }),
};

const check = process.argv.includes('--check');
const problems = [];
const want = new Set();
const documents = { [path.join(__dirname, 'reflection-v2.openrpc.json')]: JSON.stringify(openrpc, null, 2) + '\n' };
for (const [p, text] of Object.entries(documents)) {
  if (check) {
    let have = null;
    try {
      have = fs.readFileSync(p, 'utf8');
    } catch {
      // reported below
    }
    if (have !== text) problems.push(`${path.relative(root, p)} differs from what spec/generate.js writes`);
  } else {
    fs.writeFileSync(p, text);
  }
}
for (const [rel, schema] of Object.entries(files)) {
  const p = path.join(outDir, rel);
  want.add(path.normalize(p));
  const text = JSON.stringify(stable(schema), null, 2) + '\n';
  if (check) {
    let have = null;
    try {
      have = fs.readFileSync(p, 'utf8');
    } catch {
      // reported below
    }
    if (have !== text) problems.push(`${path.relative(root, p)} differs from what ${source} generates`);
  } else {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
  }
}
// No stale schema may stay behind.
function walk(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]);
}
for (const p of walk(outDir)) {
  if (p.endsWith('.json') && !want.has(path.normalize(p))) {
    if (check) problems.push(`${path.relative(root, p)} is not generated by spec/generate.js`);
    else fs.unlinkSync(p);
  }
}
if (problems.length) {
  console.error(problems.join('\n'));
  console.error('run: node spec/generate.js');
  process.exit(1);
}
console.log(`${check ? 'checked' : 'wrote'} ${Object.keys(files).length} schemas from ${source}`);
