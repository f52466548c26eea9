/** A TSV conn.log (ours or a golden file's) read back: its #fields names and its rows keyed by them. */
export function connLogRows(text: string): { fields: string[]; rows: Record<string, string>[] } {
  let fields: string[] = [];
  const rows: Record<string, string>[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#fields\t')) fields = line.split('\t').slice(1);
    if (line === '' || line.startsWith('#')) continue;
    const cells = line.split('\t');
    rows.push(Object.fromEntries(fields.map((c, i) => [c, cells[i]!])));
  }
  return { fields, rows };
}
