// Mermaid's own parser, as GitHub's renderer runs it, on one diagram: exit 0 when it parses.
import { JSDOM } from 'jsdom';
import { readFileSync } from 'node:fs';
const { window } = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import('mermaid');
const text = readFileSync(process.argv[2], 'utf8');
try {
  const result = await mermaid.parse(text);
  console.log(JSON.stringify({ ok: true, type: result.diagramType }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e.message || e).slice(0, 500) }));
  process.exitCode = 1;
}
