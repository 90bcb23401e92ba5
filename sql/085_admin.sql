-- Administration (schema owner / superuser only; not granted to workspaces): embedding models, workspaces.

CREATE OR REPLACE FUNCTION memory.register_model(name text, dimension integer, make_default boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  existing memory.models;
  index_name text := 'embeddings_hnsw_' || substr(md5(name), 1, 16);
  queued bigint := 0;
BEGIN
  IF name IS NULL OR name !~ '^[A-Za-z0-9._:/-]{1,100}$' THEN
    PERFORM memory.invalid('name', format('%L is not a model name', name), 'Use 1–100 letters, digits and . _ : / -, e.g. builtin-v1 or text-embedding-3-small.');
  END IF;
  IF dimension IS NULL OR dimension < 1 OR dimension > 2000 THEN
    PERFORM memory.invalid('dimension', format('%s is outside 1..2000 (the HNSW limit of pgvector)', coalesce(dimension::text, 'NULL')));
  END IF;
  SELECT * INTO existing FROM memory.models m WHERE m.name = register_model.name;
  IF FOUND AND existing.dimension <> dimension THEN
    PERFORM memory.invalid('dimension', format('model %s is registered with %s dimensions, not %s', name, existing.dimension, dimension),
      'A model''s dimension never changes: register the new model under a new name.');
  END IF;
  IF NOT FOUND THEN
    INSERT INTO memory.models (name, dimension) VALUES (name, dimension);
  END IF;
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON memory.embeddings USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE model = %L',
                 index_name, dimension, name);
  INSERT INTO memory.embedding_queue (memory_id, model, workspace)
  SELECT m.id, register_model.name, m.workspace FROM memory.memories m
   WHERE m.status = 'active'
     AND NOT EXISTS (SELECT 1 FROM memory.embeddings e WHERE e.memory_id = m.id AND e.model = register_model.name)
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS queued = ROW_COUNT;
  IF make_default OR NOT EXISTS (SELECT 1 FROM memory.models m WHERE m.is_default) THEN
    UPDATE memory.models m SET is_default = false WHERE m.is_default AND m.name <> register_model.name;
    UPDATE memory.models m SET is_default = true WHERE m.name = register_model.name;
  END IF;
  PERFORM pg_notify('memory_embed', name);
  RETURN jsonb_build_object('model', name, 'dimension', dimension, 'index', index_name, 'queued', queued,
                            'default', (SELECT m.is_default FROM memory.models m WHERE m.name = register_model.name));
END
$$;
COMMENT ON FUNCTION memory.register_model(text, integer, boolean) IS
  'Admin: registers an embedding model (idempotent), creates its partial HNSW index on memory.embeddings and queues every active memory for it; make_default (or being the first) makes recall use it by default. Returns {model, dimension, index, queued, default}.';

CREATE OR REPLACE FUNCTION memory.unregister_model(name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  EXECUTE format('DROP INDEX IF EXISTS memory.%I', 'embeddings_hnsw_' || substr(md5(name), 1, 16));
  DELETE FROM memory.models m WHERE m.name = unregister_model.name;  -- cascades to embeddings and queues
  RETURN FOUND;
END
$$;
COMMENT ON FUNCTION memory.unregister_model(text) IS 'Admin: removes a model, its index, its embeddings and its queue rows. Returns whether it existed.';

CREATE OR REPLACE FUNCTION memory.check_workspace_role(role name, argument text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  r pg_catalog.pg_roles;
BEGIN
  SELECT * INTO r FROM pg_catalog.pg_roles x WHERE x.rolname = role;
  IF FOUND AND (r.rolsuper OR r.rolbypassrls) THEN
    PERFORM memory.invalid(argument, format('role %s is a superuser or bypasses row-level security', role),
      'A workspace role must be an ordinary role: row-level security is what keeps workspaces apart.');
  END IF;
END
$$;
COMMENT ON FUNCTION memory.check_workspace_role(name, text) IS 'Refuses superuser and BYPASSRLS roles as workspace roles or members (22023).';

-- PostgreSQL's per-user schema pattern: with the default search_path ("$user", public) a role's unqualified
-- CREATE TABLE lands in the schema named after it, so a workspace's own tables sit next to its memories
-- (and join with recall()) without CREATE on public, which PostgreSQL 15 no longer grants to everyone.
CREATE OR REPLACE FUNCTION memory.ensure_workspace_schema(workspace name) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM memory.workspaces w WHERE w.name = ensure_workspace_schema.workspace) THEN
    PERFORM memory.invalid('workspace', format('no workspace %s', workspace), 'Create it with SELECT memory.create_workspace(name).');
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = workspace) THEN
    RETURN false;
  END IF;
  BEGIN
    EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', workspace, workspace);
  EXCEPTION WHEN insufficient_privilege THEN
    -- A schema for another role needs the right to SET ROLE to it (a superuser has it; PostgreSQL 16 gives a
    -- CREATEROLE creator only ADMIN): a caller that may create schemas makes it its own and lets the workspace in.
    BEGIN
      EXECUTE format('CREATE SCHEMA %I', workspace);
      EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', workspace, workspace);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'MemorySql: workspace % has no schema of its own: role % may not create schemas in database % (%)', workspace, current_user, current_database(), SQLERRM
        USING HINT = format('As a superuser or the database owner: CREATE SCHEMA %I AUTHORIZATION %I', workspace, workspace);
      RETURN false;
    END;
  END;
  INSERT INTO memory.events (workspace, action, detail)
  VALUES (workspace, 'create_schema', jsonb_build_object('schema', workspace,
          'owner', (SELECT pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n WHERE n.nspname = workspace)));
  RETURN true;
END
$$;
COMMENT ON FUNCTION memory.ensure_workspace_schema(name) IS
  'Admin: gives a workspace a schema of its own, named after its role and owned by it (or, when the caller may not create a schema for that role, owned by the caller with USAGE and CREATE granted to it), where its unqualified CREATE TABLE lands (search_path "$user", public). Returns true when it created the schema, false when one of that name exists or the caller may not create schemas (a NOTICE says how).';

CREATE OR REPLACE FUNCTION memory.create_workspace(name text, password text DEFAULT NULL) RETURNS name
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  created boolean := false;
BEGIN
  IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]{0,62}$' OR name IN ('memory_user', 'public', 'none') OR left(name, 3) = 'pg_' THEN
    PERFORM memory.invalid('name', format('%L cannot name a workspace', name),
      'Use a lower-case role name (letters, digits, _; not memory_user, public or pg_*), e.g. acme_support.');
  END IF;
  IF EXISTS (SELECT 1 FROM memory.workspaces w WHERE w.name = create_workspace.name) THEN
    RAISE EXCEPTION 'MemorySql: workspace % already exists', name USING ERRCODE = '42710';
  END IF;
  PERFORM memory.check_workspace_role(name, 'name');
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = create_workspace.name) THEN
    created := true;
    IF password IS NULL THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', name);
    ELSE
      EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', name, password);
    END IF;
  ELSIF password IS NOT NULL THEN
    EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', name, password);
  END IF;
  INSERT INTO memory.workspaces (name) VALUES (name);
  EXECUTE format('GRANT memory_user TO %I', name);
  INSERT INTO memory.events (workspace, action, detail) VALUES (name, 'create_workspace', jsonb_build_object('login', password IS NOT NULL, 'new_role', created));
  -- Only a role made here gets a schema: for an adopted role a new schema first on its search_path would
  -- change where its existing code creates tables.
  IF created THEN
    PERFORM memory.ensure_workspace_schema(name);
  END IF;
  RETURN name;
END
$$;
COMMENT ON FUNCTION memory.create_workspace(text, text) IS
  'Admin: creates a workspace: a role (LOGIN with the password, or a NOLOGIN group role when password is NULL; an existing ordinary role is adopted), registered in memory.workspaces and made a member of memory_user, which holds exactly the rights a workspace needs; a role created here also gets a schema of its own (memory.ensure_workspace_schema).';

CREATE OR REPLACE FUNCTION memory.grant_workspace(workspace name, member name) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM memory.workspaces w WHERE w.name = grant_workspace.workspace) THEN
    PERFORM memory.invalid('workspace', format('no workspace %s', workspace), 'Create it with SELECT memory.create_workspace(name).');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = member) THEN
    PERFORM memory.invalid('member', format('no role %s', member), 'Create the login role first: CREATE ROLE … LOGIN PASSWORD …');
  END IF;
  PERFORM memory.check_workspace_role(member, 'member');
  EXECUTE format('GRANT %I TO %I', workspace, member);
END
$$;
COMMENT ON FUNCTION memory.grant_workspace(name, name) IS
  'Admin: lets a login role work in a (group) workspace by making it a member. A role that belongs to several workspaces must SET ROLE to one.';

CREATE OR REPLACE FUNCTION memory.drop_workspace(name text, drop_role boolean DEFAULT true) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n_memories bigint;
  role_oid oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = drop_workspace.name);
  -- The schema ensure_workspace_schema made for it: owned by the role, or by the admin that made it.
  own_schema oid := (SELECT n.oid FROM pg_catalog.pg_namespace n
                      WHERE n.nspname = drop_workspace.name
                        AND (n.nspowner = role_oid
                             OR EXISTS (SELECT 1 FROM memory.events e
                                         WHERE e.workspace = drop_workspace.name AND e.action = 'create_schema')));
  owned bigint;
  example text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM memory.workspaces w WHERE w.name = drop_workspace.name) THEN
    PERFORM memory.invalid('name', format('no workspace %s', name));
  END IF;
  IF drop_role AND role_oid IS NOT NULL THEN
    -- The role's own data is not a workspace's memory: refuse before deleting anything rather than drop it.
    SELECT count(*), min(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)) INTO owned, example
      FROM pg_catalog.pg_shdepend d
     WHERE d.refclassid = 'pg_catalog.pg_authid'::regclass AND d.refobjid = role_oid AND d.deptype = 'o'
       AND d.dbid = (SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname = current_database())
       AND (d.classid <> 'pg_catalog.pg_namespace'::regclass OR d.objid IS DISTINCT FROM own_schema);
    IF owned > 0 THEN
      RAISE EXCEPTION 'MemorySql: workspace %''s role owns % object(s) in this database, e.g. %', name, owned, example
        USING ERRCODE = '2BP01',
              HINT = format('Drop them or give them to another role (REASSIGN OWNED BY %I TO …), or keep the role and its objects: SELECT memory.drop_workspace(%L, drop_role => false).', name, name);
    END IF;
  END IF;
  DELETE FROM memory.associations a WHERE a.workspace = drop_workspace.name;
  DELETE FROM memory.memories m WHERE m.workspace = drop_workspace.name;
  GET DIAGNOSTICS n_memories = ROW_COUNT;
  DELETE FROM memory.resources r WHERE r.workspace = drop_workspace.name;
  DELETE FROM memory.sessions s WHERE s.workspace = drop_workspace.name;
  DELETE FROM memory.query_embeddings q WHERE q.workspace = drop_workspace.name;
  DELETE FROM memory.access_log a WHERE a.workspace = drop_workspace.name;
  DELETE FROM memory.events e WHERE e.workspace = drop_workspace.name;
  DELETE FROM memory.lexical_postings p WHERE p.workspace = drop_workspace.name;
  -- Deleting the memories queued their statistics out for this transaction's flush at commit: drop that queue
  -- too, or the flush would write the workspace's stats rows again, negative, and a workspace created later
  -- under the same name would start from them (BM25's N below zero fails recall with 2201E).
  DELETE FROM memory.lexical_pending q WHERE q.workspace = drop_workspace.name;
  DELETE FROM memory.lexical_terms t WHERE t.workspace = drop_workspace.name;
  DELETE FROM memory.lexical_stats s WHERE s.workspace = drop_workspace.name;
  DELETE FROM memory.policies p WHERE p.workspace = drop_workspace.name;
  DELETE FROM memory.llm_usage u WHERE u.workspace = drop_workspace.name;
  DELETE FROM memory.reflection_queue q WHERE q.workspace = drop_workspace.name;
  DELETE FROM memory.reflection_groups g WHERE g.workspace = drop_workspace.name;
  DELETE FROM memory.workspaces w WHERE w.name = drop_workspace.name;
  IF drop_role THEN
    IF own_schema IS NOT NULL THEN
      EXECUTE format('DROP SCHEMA %I', name);  -- empty of the role's objects (checked above); RESTRICT refuses others'
    END IF;
    EXECUTE format('DROP ROLE IF EXISTS %I', name);
  ELSE
    EXECUTE format('REVOKE memory_user FROM %I', name);
  END IF;
  RETURN jsonb_build_object('workspace', name, 'memories', n_memories, 'role_dropped', drop_role);
END
$$;
COMMENT ON FUNCTION memory.drop_workspace(text, boolean) IS 'Admin: deletes every row of a workspace and unregisters it; drops its role and its own (empty) schema unless drop_role => false. Refuses (2BP01, nothing deleted) while the role owns other objects in the database.';
