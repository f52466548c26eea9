#!/usr/bin/env node
/**
 * Runs the DuckDB recipes of the README ("Flows in a query engine": each ```sql block that
 * starts with a `-- name` line) on Parquet files written by `flowdemux flows --format parquet`,
 * with DuckDB's npm package (@duckdb/node-api, a development dependency), and prints each
 * answer as a table. The README's sample output is this script's.
 *
 *   node scripts/query/recipes.mjs 'flows/*.parquet' [NAME..]
 *
 * test/docs/duckdb-recipes.test.ts runs the same blocks and checks their answers against the
 * flows' JSON.
 */
import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const README = new URL('../../README.md', import.meta.url);

/** The recipes as [{name, sql}], in README order: the view first, then the questions. */
export function readmeRecipes(text = readFileSync(README, 'utf8')) {
  const start = text.indexOf('\n## Flows in a query engine');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end === -1 ? undefined : end);
  const out = [];
  for (const m of section.matchAll(/```sql\n(-- ([^\n:]+)[^\n]*\n[\s\S]*?)```/g)) out.push({ name: m[2].trim(), sql: m[1] });
  return out;
}

/** Opens DuckDB in memory with the `flows` view over `glob`; returns a runner of the recipes. */
export async function openRecipes(glob) {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const recipes = readmeRecipes();
  const view = recipes.find((r) => r.name === 'the flows of every capture');
  if (!view) throw new Error('README: no "-- the flows of every capture" block');
  await con.run(view.sql.replaceAll("'flows/*.parquet'", `'${glob.replace(/'/g, "''")}'`));
  return {
    recipes: recipes.filter((r) => r !== view),
    /** The rows of one recipe, as JSON-safe objects (64-bit integers as text). */
    async run(name) {
      const r = recipes.find((x) => x.name === name);
      if (!r) throw new Error(`README: no recipe '${name}'`);
      return (await con.runAndReadAll(r.sql)).getRowObjectsJson();
    },
    close() {
      con.closeSync();
      db.closeSync();
    },
  };
}

function table(rows) {
  if (rows.length === 0) return '(no rows)\n';
  const cols = Object.keys(rows[0]);
  const cells = [cols, ...rows.map((r) => cols.map((c) => (r[c] === null ? 'NULL' : String(r[c]))))];
  const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [glob, ...names] = process.argv.slice(2);
  if (!glob) {
    process.stderr.write("usage: recipes.mjs 'flows/*.parquet' [NAME..]\n");
    process.exit(2);
  }
  const q = await openRecipes(glob);
  for (const r of q.recipes) {
    if (names.length > 0 && !names.includes(r.name)) continue;
    process.stdout.write(`-- ${r.name}\n${table(await q.run(r.name))}\n`);
  }
  q.close();
}
