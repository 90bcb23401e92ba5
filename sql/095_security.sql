-- Tenancy: a workspace is a role. Every workspace role is a member of memory_user, which holds exactly the
-- rights the SECURITY INVOKER routines need; row-level security on every table with a workspace column
-- keeps each workspace to its own rows, whatever SQL it sends. The schema owner (admin, workers) is not
-- subject to it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'memory_user') THEN
    CREATE ROLE memory_user NOLOGIN;
  END IF;
END
$$;
COMMENT ON ROLE memory_user IS 'MemorySql: the rights every workspace role gets (schema usage, routines, table privileges under row-level security).';

COMMENT ON FUNCTION memory.uuid_v7() IS 'A time-ordered UUID (version 7): 48 bits of Unix milliseconds, then random bits. Default of every id.';

REVOKE ALL ON SCHEMA memory FROM PUBLIC;
GRANT USAGE ON SCHEMA memory TO memory_user;

REVOKE ALL ON ALL TABLES IN SCHEMA memory FROM PUBLIC, memory_user;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA memory FROM PUBLIC, memory_user;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA memory FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA memory FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA memory TO memory_user;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA memory TO memory_user;
-- Administration stays with the owner.
REVOKE EXECUTE ON FUNCTION memory.register_model(text, integer, boolean), memory.unregister_model(text),
  memory.create_workspace(text, text), memory.ensure_workspace_schema(name), memory.grant_workspace(name, name), memory.drop_workspace(text, boolean),
  memory.rebuild_lexical(name), memory.lexical_count(name, tsvector, integer, tsvector, integer),
  memory.memories_postings(), memory.memories_statistics(), memory.lexical_flush()
  FROM memory_user;

GRANT SELECT, INSERT, UPDATE, DELETE ON memory.memories, memory.embeddings, memory.associations,
  memory.sessions, memory.session_items TO memory_user;
GRANT SELECT, INSERT, DELETE ON memory.embedding_queue, memory.resources, memory.extraction_queue TO memory_user;
GRANT SELECT, INSERT ON memory.query_embeddings TO memory_user;
GRANT UPDATE (last_used_at) ON memory.query_embeddings TO memory_user;
-- recall appends its access hits; memory.fold_access (a workspace may call it) folds and deletes its own.
GRANT SELECT, INSERT, UPDATE, DELETE ON memory.access_log TO memory_user;
-- The audit log is append-only for workspaces: no UPDATE, DELETE or TRUNCATE.
GRANT SELECT, INSERT ON memory.events TO memory_user;
GRANT SELECT ON memory.policies, memory.models, memory.workspaces, memory.lexical_postings, memory.lexical_terms,
  memory.lexical_stats TO memory_user;
GRANT SELECT ON memory.memories_current, memory.contradictions, memory.stats, memory.embedding_status,
  memory.extraction_status TO memory_user;

-- Row-level security. The workspace is computed once per statement (InitPlans), not once per row: the current role
-- itself when it is a registered workspace (an index probe of memory.workspaces inside the statement: the common
-- case, a workspace role connected as itself), else memory.current_workspace() (members, the owner, superusers,
-- NULL for any other role). Both give the same name as memory.current_workspace() alone; the probe spares each
-- statement a PL/pgSQL call and its own query (recall touches these tables in some 20 places per call).
CREATE OR REPLACE PROCEDURE memory.isolate_workspace_rows(tbl name)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE memory.%I ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('CREATE POLICY workspace_isolation ON memory.%I USING (%s) WITH CHECK (%s)', tbl,
                 $p$workspace = coalesce((SELECT w.name FROM memory.workspaces w WHERE w.name = current_user), (SELECT memory.current_workspace()))$p$, $p$workspace = coalesce((SELECT w.name FROM memory.workspaces w WHERE w.name = current_user), (SELECT memory.current_workspace()))$p$);
END
$$;
COMMENT ON PROCEDURE memory.isolate_workspace_rows(name) IS
  'Internal (schema set-up): row-level security on a per-workspace table of the memory schema, the one rule every such table has: rows of the current role''s workspace only.';

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['memories', 'embeddings', 'embedding_queue', 'query_embeddings', 'resources', 'extraction_queue',
                           'associations', 'sessions', 'session_items', 'events', 'lexical_postings', 'lexical_terms',
                           'lexical_stats', 'access_log'] LOOP
    CALL memory.isolate_workspace_rows(t);
  END LOOP;
END
$$;
ALTER TABLE memory.policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_and_defaults ON memory.policies FOR SELECT
  USING (workspace = '*' OR workspace = coalesce((SELECT w.name FROM memory.workspaces w WHERE w.name = current_user), (SELECT memory.current_workspace())));
ALTER TABLE memory.workspaces ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_workspaces ON memory.workspaces FOR SELECT
  USING (name = current_user OR pg_catalog.pg_has_role(current_user, name, 'MEMBER'));
