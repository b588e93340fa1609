/**
 * The server warnings `jobctl work` prints at start and `jobctl doctor` lists (PgBackend.warnings):
 * the connection-slot check reads pg_stat_activity and pg_roles; a server that hides them from the
 * role (a hardened or managed setup) must still get the durability check. Uses a throwaway
 * PostgreSQL: both the REVOKE and fsync=off would change the shared server for every test.
 */
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { open } from '../../../src/backends/postgres/index.js';
import { destroyAllServers, startServer } from '../../reliability/servers.js';

afterAll(() => destroyAllServers());

it('warnings(): the durability check survives a role that cannot read pg_stat_activity', async () => {
  const srv = await startServer('pg');
  const admin = new pg.Client({ connectionString: srv.url });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE hardened LOGIN PASSWORD 'h-secret-4'`);
    await admin.query('REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC');
    await admin.query('ALTER SYSTEM SET fsync = off');
    await admin.query('SELECT pg_reload_conf()');
    // the reload is asynchronous: wait until a new session sees it
    for (let i = 0; ; i++) {
      const probe = new pg.Client({ connectionString: srv.url });
      await probe.connect();
      const { rows } = await probe.query<{ fsync: string }>(`SELECT current_setting('fsync') AS fsync`);
      await probe.end();
      if (rows[0]!.fsync === 'off') break;
      if (i > 50) throw new Error('fsync=off not applied after reload');
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = srv.url.replace('postgres://postgres@', 'postgres://hardened:h-secret-4@');
    const b = await open({ url, namespace: 'hardened' });
    try {
      const denied = await admin.query('SELECT has_table_privilege($1, $2, $3) AS ok', [
        'hardened',
        'pg_catalog.pg_stat_activity',
        'SELECT',
      ]);
      expect(denied.rows[0].ok).toBe(false);
      expect(await b.warnings()).toEqual(['postgres runs with fsync=off: committed jobs can be lost when the server crashes']);
    } finally {
      await b.close();
    }
  } finally {
    await admin.end();
  }
}, 60_000);
