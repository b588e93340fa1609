-- serverConnections: how many connection slots the server (and this role) has left, for the
-- start-up warning of `jobctl work` and `jobctl doctor`. pg_stat_activity lists every session to
-- any role (query texts are hidden, counts are not).
-- Parameters: none. Returns one row: max_conn, reserved (superuser_reserved_connections), used
-- (client backends, this one included), super (this role is a superuser), role_limit (-1 = none),
-- role_used (this role's client backends).
SELECT current_setting('max_connections')::int AS max_conn,
       current_setting('superuser_reserved_connections')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend')::int AS used,
       r.rolsuper AS super,
       r.rolconnlimit AS role_limit,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend' AND a.usename = current_user)::int AS role_used
FROM pg_roles r
WHERE r.rolname = current_user
