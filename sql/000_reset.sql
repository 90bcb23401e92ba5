-- Runs first whenever the definitions are (re)applied, inside the same transaction as every other file in
-- sql/: drops our views, row-level security policies, triggers and every routine nothing else depends on,
-- so that the files after it can change signatures freely instead of leaving stale overloads behind.
-- Routines that tables depend on (column defaults) stay and are replaced in place by CREATE OR REPLACE.
SELECT '[1]'::vector;  -- loads pgvector in this backend so its settings (hnsw.*) are known below

DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'memory'::regnamespace AND c.relkind = 'v' LOOP
    EXECUTE format('DROP VIEW IF EXISTS memory.%I CASCADE', r.relname);
  END LOOP;
  FOR r IN SELECT p.policyname, p.tablename FROM pg_policies p WHERE p.schemaname = 'memory' LOOP
    EXECUTE format('DROP POLICY %I ON memory.%I', r.policyname, r.tablename);
  END LOOP;
  FOR r IN SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = 'memory'::regnamespace AND NOT t.tgisinternal LOOP
    EXECUTE format('DROP TRIGGER %I ON memory.%I', r.tgname, r.relname);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS sig, p.prokind FROM pg_proc p
            WHERE p.pronamespace = 'memory'::regnamespace
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid
                                                          AND d.deptype IN ('n', 'a'))
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                                          AND d.deptype = 'e') LOOP
    EXECUTE format('DROP %s %s', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, r.sig);
  END LOOP;
END
$$;
