// Reading the JSON cases shared with the Rust client's tests (src-tauri/core/tests/vectors/*.json;
// docs/architecture.md, "One set of rules").

/** The vectors' "<<c*N>>" strings as the character c N times, anywhere in `v`. */
export function expand(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(/^<<(.+)\*(\d+)>>$/u, (_, c: string, n: string) => c.repeat(Number(n)));
  if (Array.isArray(v)) return v.map(expand);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(x)]));
  return v;
}

/** A case's text: its `raw` string as is, or its `text` value as compact JSON. */
export const caseText = (c: { raw?: string; text?: unknown }): string => c.raw ?? JSON.stringify(expand(c.text));
