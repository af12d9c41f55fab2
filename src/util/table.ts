/**
 * Columns as `docker ps` prints them: each padded to its widest cell, the last one not (so a long
 * detail never pushes trailing blanks), lines trimmed. Rows are cells; the first is the header.
 */
export function formatTable(rows: readonly (readonly string[])[], gap = '  '): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]!))).join(gap).trimEnd()).join('\n') + '\n';
}
