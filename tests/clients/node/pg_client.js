#!/usr/bin/env node
// node-postgres (pg) against MemorySql: parameterised remember/recall ($1), named prepared statements,
// several statements in one simple query, transactions, pool reuse, and an error followed by more work.
//
// Usage: node pg_client.js SCENARIO
// The connection comes from MEMORYSQL_HOST, _PORT, _USER, _PASSWORD, _DATABASE (and _DIRECT_PORT for the
// control that bypasses the proxy). Prints one JSON report on the last line of standard output; any error
// exits with status 1 and its stack, so the calling test fails with it.
'use strict';

const pg = require('pg');

const RECALL = 'SELECT content, similarity, signals FROM recall($1, k => $2)';

const FACTS = [
  'Dana prefers window seats on long flights',
  'The quarterly report is due on the first Monday of April',
  'Backups of the billing database run every night at two',
  'The office cat is called Pixel and sleeps on the printer',
  'Lisbon is the city Dana usually flies from',
  'Standup meetings start at nine thirty sharp',
];

function config(direct = false) {
  const env = process.env;
  return {
    host: env.MEMORYSQL_HOST,
    port: Number(direct ? env.MEMORYSQL_DIRECT_PORT : env.MEMORYSQL_PORT),
    user: env.MEMORYSQL_USER,
    password: env.MEMORYSQL_PASSWORD,
    database: env.MEMORYSQL_DATABASE,
    application_name: 'node-postgres-client',
    connectionTimeoutMillis: 10000,
  };
}

async function connect(direct = false) {
  const client = new pg.Client(config(direct));
  await client.connect();
  return client;
}

const rows = (result) => result.rows.map((r) => ({ content: r.content, similarity: r.similarity, signals: r.signals }));

async function rememberAll(client, texts) {
  const ids = [];
  for (const text of texts) ids.push((await client.query('CALL remember($1, kind => $2)', [text, 'fact'])).rows[0].id);
  return ids;
}

const scenarios = {
  // $1 parameters: node-postgres sends Parse/Bind/Describe/Execute/Sync with the unnamed statement.
  async parameters() {
    const client = await connect();
    try {
      const ids = await rememberAll(client, FACTS.slice(0, 3));
      const tagged = await client.query('CALL remember($1, tags => $2, importance => $3::real)',
        ['Dana confirmed the window seat by email', ['travel', 'seat'], 0.8]);
      const recall = rows(await client.query(RECALL, ['a window seat on the flight', 3]));
      return { written: [...FACTS.slice(0, 3), 'Dana confirmed the window seat by email'], ids: [...ids, tagged.rows[0].id], recall };
    } finally {
      await client.end();
    }
  },

  // A named statement is parsed once per connection and then only bound: every text must get its own vector.
  async named_prepared() {
    const client = await connect();
    try {
      await rememberAll(client, FACTS);
      const runs = [];
      for (const text of [...FACTS, ...FACTS.slice(0, 2)]) {
        const result = await client.query({ name: 'recall_top', text: 'SELECT content, similarity, signals FROM recall($1, k => 1)', values: [text] });
        runs.push({ query: text, recall: rows(result) });
      }
      const prepared = (await client.query("SELECT name, statement FROM pg_prepared_statements WHERE NOT from_sql")).rows;
      return { written: FACTS, runs, prepared_statements: prepared.map((p) => p.statement), prepared_names: prepared.map((p) => p.name) };
    } finally {
      await client.end();
    }
  },

  // No parameters: the simple protocol, three statements in one Query message.
  async multi_statement() {
    const client = await connect();
    try {
      const results = await client.query(
        "CALL remember('Dana prefers window seats on long flights'); " +
        "CALL remember('Lisbon is the city Dana usually flies from'); " +
        "SELECT content, similarity, signals FROM recall('which city does Dana fly from', k => 2)");
      return {
        written: [FACTS[0], FACTS[4]],
        result_count: results.length,
        commands: results.map((r) => r.command),
        recall: rows(results[2]),
      };
    } finally {
      await client.end();
    }
  },

  async transaction() {
    const client = await connect();
    const undone = 'This memory is rolled back and must not exist';
    try {
      await client.query('BEGIN');
      await client.query('CALL remember($1)', [undone]);
      const inside = rows(await client.query(RECALL, ['rolled back memory', 5]));
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await client.query('CALL remember($1)', [FACTS[1]]);
      await client.query('CALL remember($1)', [FACTS[2]]);
      await client.query('COMMIT');
      const after = rows(await client.query(RECALL, ['rolled back memory', 5]));
      return { written: [FACTS[1], FACTS[2]], rolled_back: undone, recall_inside: inside, recall_after: after };
    } finally {
      await client.end();
    }
  },

  // A pool of two connections serves many concurrent queries; named statements are prepared per connection.
  async pool() {
    const pool = new pg.Pool({ ...config(), max: 2 });
    const pids = new Set();
    pool.on('connect', (client) => pids.add(client.processID));
    try {
      await Promise.all(FACTS.map((t) => pool.query('CALL remember($1)', [t])));
      const runs = await Promise.all([...FACTS, ...FACTS].map(async (text) => {
        const result = await pool.query({ name: 'pooled_recall', text: 'SELECT content, similarity, signals FROM recall($1, k => 1)', values: [text] });
        return { query: text, recall: rows(result) };
      }));
      return { written: FACTS, runs, connections_opened: pids.size, total_count: pool.totalCount };
    } finally {
      await pool.end();
    }
  },

  // Errors (bad argument to a rewritten call, bad SQL, a failing named statement) leave the connection usable.
  async error_then_continue() {
    const client = await connect();
    const errors = [];
    const capture = async (query, values) => {
      try {
        await client.query(query, values);
        errors.push({ code: null });
      } catch (e) {
        errors.push({ code: e.code, message: e.message });
      }
    };
    try {
      await rememberAll(client, FACTS.slice(0, 2));
      await capture(RECALL, ['anything', 0]); // k => 0: 22023
      await capture('SELEC content FROM recall($1)', ['anything']); // syntax error: 42601
      // The named statement's first execution fails at run time; the same statement then runs (Bind only).
      const named = { name: 'recall_k', text: 'SELECT content, similarity, signals FROM recall($1, k => $2)' };
      await capture({ ...named, values: ['anything', 0] });
      const namedAfterError = rows(await client.query({ ...named, values: [FACTS[0], 1] }));
      // An error in the middle of a multi-statement simple query: the whole implicit transaction is undone.
      const lost = ['Remembered before the error in one simple query', 'Remembered after the error in one simple query'];
      await capture(`CALL remember('${lost[0]}'); SELECT 1/0; CALL remember('${lost[1]}')`);
      await client.query('CALL remember($1)', [FACTS[3]]);
      const recall = rows(await client.query(RECALL, ['the office cat', 1]));
      return { written: [...FACTS.slice(0, 2), FACTS[3]], errors, named_after_error: namedAfterError, recall, lost };
    } finally {
      await client.end();
    }
  },

  // The same recall through the proxy and directly to PostgreSQL: only the proxy supplies the vector.
  async direct_control() {
    const proxied = await connect();
    let through;
    try {
      await rememberAll(proxied, FACTS.slice(0, 3));
      through = rows(await proxied.query(RECALL, ['window seats on flights', 3]));
    } finally {
      await proxied.end();
    }
    const direct = await connect(true);
    try {
      return { written: FACTS.slice(0, 3), recall: through, direct: rows(await direct.query(RECALL, ['window seats on flights', 3])) };
    } finally {
      await direct.end();
    }
  },
};

async function main() {
  const name = process.argv[2];
  if (!Object.prototype.hasOwnProperty.call(scenarios, name)) {
    console.error('usage: node pg_client.js ' + Object.keys(scenarios).join('|'));
    process.exit(2);
  }
  const report = await scenarios[name]();
  report.pg = require('pg/package.json').version;
  console.log(JSON.stringify(report));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  if (e && e.code) console.error('SQLSTATE ' + e.code);
  process.exit(1);
});
