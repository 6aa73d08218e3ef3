// The load harness's JS SDK (genkit 1.42.0) peer: the benchmarked flows of
// genkit-runtime's fixture (echo, greet, steps, count), plus
// FIXTURE_SYNTHETIC_ACTIONS trivial flows and a dynamic action provider of
// FIXTURE_SYNTHETIC_DAP_ACTIONS tools for the listing scenario.
const { genkit, z } = require('genkit');

const ai = genkit({});

ai.defineFlow({ name: 'echo', inputSchema: z.any(), outputSchema: z.any() }, async (input) => input);

ai.defineFlow(
  {
    name: 'greet',
    inputSchema: z.object({ name: z.string().min(1), count: z.number().int().min(1).max(10).optional() }),
    outputSchema: z.string(),
  },
  async ({ name, count }) => Array(Math.max(count || 1, 1)).fill(`Hello, ${name}!`).join(' ')
);

ai.defineFlow(
  { name: 'steps', inputSchema: z.object({ steps: z.number().int().min(1).max(20) }), outputSchema: z.array(z.string()) },
  async ({ steps }) => {
    const out = [];
    for (let i = 1; i <= steps; i++) {
      const name = `step-${i}`;
      out.push(await ai.run(name, async () => name));
    }
    return out;
  }
);

ai.defineFlow(
  {
    name: 'count',
    inputSchema: z.object({ count: z.number().int().min(0).max(100000), delayMs: z.number().optional() }),
    outputSchema: z.object({ count: z.number() }),
    streamSchema: z.object({ index: z.number() }),
  },
  async ({ count }, { sendChunk }) => {
    for (let i = 0; i < count; i++) sendChunk({ index: i });
    return { count };
  }
);

const n = parseInt(process.env.FIXTURE_SYNTHETIC_ACTIONS || '0', 10);
for (let i = 0; i < n; i++) {
  ai.defineFlow({ name: `synthetic/flow${String(i).padStart(5, '0')}`, inputSchema: z.any() }, async (x) => x);
}
const d = parseInt(process.env.FIXTURE_SYNTHETIC_DAP_ACTIONS || '0', 10);
if (d > 0) {
  const tools = [];
  for (let i = 0; i < d; i++) {
    tools.push(ai.dynamicTool({ name: `tool-${String(i).padStart(5, '0')}`, description: 'Returns its input.', inputSchema: z.any() }, async (x) => x));
  }
  ai.defineDynamicActionProvider({ name: 'synthetic' }, async () => ({ tool: tools }));
}
