-- Shared helpers: workspace identity, scope settings, policies, hashing, validation, audit.

CREATE OR REPLACE FUNCTION memory.current_workspace() RETURNS name
LANGUAGE plpgsql STABLE AS $$
DECLARE
  found name[];
BEGIN
  IF EXISTS (SELECT 1 FROM memory.workspaces w WHERE w.name = current_user) THEN
    RETURN current_user;
  END IF;
  -- The schema owner and superusers (admin, workers) act in a workspace of their own name. A superuser is
  -- a member of every role, so membership must not be asked of it.
  IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
     OR (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = 'memory') = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
    RETURN current_user;
  END IF;
  SELECT array_agg(w.name ORDER BY w.name) INTO found
    FROM memory.workspaces w WHERE pg_catalog.pg_has_role(current_user, w.name, 'MEMBER');
  IF cardinality(found) = 1 THEN
    RETURN found[1];
  ELSIF cardinality(found) > 1 THEN
    RAISE EXCEPTION 'MemorySql: role % belongs to several workspaces (%)', current_user, array_to_string(found, ', ')
      USING ERRCODE = 'P0001', HINT = 'SET ROLE to the workspace role to work in, e.g. SET ROLE ' || quote_ident(found[1]);
  END IF;
  -- Not a workspace (e.g. after SET ROLE memory_user): no rows are visible and nothing can be written.
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION memory.current_workspace() IS
  'The workspace of the current role: the role itself when registered in memory.workspaces (or when it is the schema owner or a superuser), else the one registered workspace role it is a member of; NULL for any other role, which then sees and writes nothing. Row-level security keys on it.';

CREATE OR REPLACE FUNCTION memory.require_workspace() RETURNS name
LANGUAGE plpgsql STABLE AS $$
DECLARE
  ws name := memory.current_workspace();
BEGIN
  IF ws IS NULL THEN
    RAISE EXCEPTION 'MemorySql: role % is not a workspace', current_user USING ERRCODE = '42501',
      HINT = 'Connect as a workspace role (an administrator creates one with SELECT memory.create_workspace(name, password)).';
  END IF;
  RETURN ws;
END
$$;
COMMENT ON FUNCTION memory.require_workspace() IS 'The current workspace; 42501 when the current role is not a workspace.';

CREATE OR REPLACE FUNCTION memory.ensure_search_path() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  current_path text;
  new_path text;
BEGIN
  SELECT substr(c, length('search_path=') + 1) INTO current_path
    FROM pg_catalog.pg_db_role_setting s
    JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase AND d.datname = current_database(),
         unnest(s.setconfig) c
   WHERE s.setrole = 0 AND c LIKE 'search_path=%';
  current_path := coalesce(current_path, '"$user", public');
  IF NOT 'memory' = ANY (SELECT btrim(p, ' "') FROM unnest(string_to_array(current_path, ',')) p) THEN
    new_path := current_path || ', memory';
    EXECUTE format('ALTER DATABASE %I SET search_path = %s', current_database(), new_path);
  ELSE
    new_path := current_path;
  END IF;
  IF NOT 'memory' = ANY (SELECT btrim(p, ' "') FROM unnest(string_to_array(current_setting('search_path'), ',')) p) THEN
    PERFORM set_config('search_path', current_setting('search_path') || ', memory', false);
  END IF;
  RETURN new_path;
END
$$;
COMMENT ON FUNCTION memory.ensure_search_path() IS
  'Appends memory to this database''s search_path (keeping what is there) and to the current session''s, so the short names (remember, recall, …) work. Run by the migration; run it again in a database copied with CREATE DATABASE … TEMPLATE. Returns the database''s search_path.';

-- Scope defaults a client may SET per connection or transaction (memory.entity, memory.process,
-- memory.session). Conveniences, not security: row-level security never looks at them.
CREATE OR REPLACE FUNCTION memory.scope_setting(name text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT nullif(btrim(current_setting('memory.' || name, true)), '')
$$;
COMMENT ON FUNCTION memory.scope_setting(text) IS
  'The value of the connection setting memory.<name> (entity, process, session), NULL when unset or empty.';

CREATE OR REPLACE FUNCTION memory.scope_session() RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v text := memory.scope_setting('session');
BEGIN
  IF v IS NULL THEN RETURN NULL; END IF;
  IF v !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN
    RAISE EXCEPTION 'MemorySql: the setting memory.session is not a session id: %', v
      USING ERRCODE = '22023', HINT = 'SET memory.session to a uuid returned by session_start(), or RESET memory.session.';
  END IF;
  RETURN v::uuid;
END
$$;
COMMENT ON FUNCTION memory.scope_session() IS
  'The session id in the connection setting memory.session (set by session_start), NULL when unset; 22023 when it is not a uuid.';

-- The effective policy of a workspace: its own row over the '*' defaults, settings merged key by key.
-- PL/pgSQL, not SQL: a SQL function of this shape is never inlined, and its plan lives only as long as the
-- calling statement, so every call of every transaction planned it anew (~0.1 ms, three times per recall);
-- PL/pgSQL keeps the plan for the session.
CREATE OR REPLACE FUNCTION memory.policy(workspace name DEFAULT NULL) RETURNS memory.policies
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  result memory.policies;
BEGIN
  WITH w AS (SELECT coalesce(policy.workspace, memory.current_workspace()) AS name)
  SELECT w.name,
         coalesce(p.decay_half_life, d.decay_half_life),
         coalesce(p.decay_floor, d.decay_floor),
         coalesce(p.archive_threshold, d.archive_threshold),
         coalesce(p.archive_min_age, d.archive_min_age),
         coalesce(p.dedup_threshold, d.dedup_threshold),
         coalesce(p.contradiction_threshold, d.contradiction_threshold),
         CASE WHEN p.workspace IS NULL THEN d.retention ELSE p.retention END,
         coalesce(d.settings, '{}') || coalesce(p.settings, '{}'),
         greatest(p.updated_at, d.updated_at)
    INTO result
    FROM w
    LEFT JOIN memory.policies d ON d.workspace = '*'
    LEFT JOIN memory.policies p ON p.workspace = w.name;
  RETURN result;
END
$$;
COMMENT ON FUNCTION memory.policy(name) IS
  'The effective policy of a workspace (default: the current one): its row in memory.policies over the ''*'' defaults; settings are merged key by key.';

CREATE OR REPLACE FUNCTION memory.policy_number(settings jsonb, key text, fallback float8) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(settings -> key) = 'number' THEN (settings ->> key)::float8 ELSE fallback END
$$;
COMMENT ON FUNCTION memory.policy_number(jsonb, text, float8) IS
  'A numeric key of a policy''s settings, or the fallback when absent or not a number.';

-- The text search configuration of a workspace's lexical index (settings key text_search_config).
CREATE OR REPLACE FUNCTION memory.text_search_config(workspace name DEFAULT NULL) RETURNS regconfig
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN memory.text_search_config_named((memory.policy(workspace)).settings ->> 'text_search_config');
END
$$;
COMMENT ON FUNCTION memory.text_search_config(name) IS
  'The text search configuration (regconfig) the lexical index of a workspace uses: policy setting text_search_config, default english.';

-- The configuration a policy's text_search_config value names (recall has the policy at hand already and
-- looks it up without reading the policy again).
CREATE OR REPLACE FUNCTION memory.text_search_config_named(cfg text) RETURNS regconfig
LANGUAGE plpgsql STABLE AS $$
DECLARE
  oid regconfig;
BEGIN
  SELECT c.oid INTO oid FROM pg_catalog.pg_ts_config c WHERE c.cfgname = coalesce(cfg, 'english')
   ORDER BY c.cfgnamespace = 'pg_catalog'::regnamespace DESC LIMIT 1;
  IF oid IS NULL THEN
    RAISE EXCEPTION 'MemorySql: policy setting text_search_config names an unknown text search configuration: %', cfg
      USING ERRCODE = '22023', HINT = 'Use one of SELECT cfgname FROM pg_ts_config, e.g. english or simple.';
  END IF;
  RETURN oid;
END
$$;
COMMENT ON FUNCTION memory.text_search_config_named(text) IS
  'Internal: the text search configuration (regconfig) of a text_search_config policy value (NULL: english), preferring pg_catalog''s; 22023 when no configuration has that name.';

-- Exact-duplicate key of a memory: SHA-256 of the content with surrounding whitespace removed and inner
-- runs of whitespace collapsed to one space. Case and punctuation count.
CREATE OR REPLACE FUNCTION memory.content_hash(content text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT sha256(convert_to(regexp_replace(btrim(content, E' \t\r\n\f\v'), '\s+', ' ', 'g'), 'UTF8'))
$$;
COMMENT ON FUNCTION memory.content_hash(text) IS
  'SHA-256 of a text with surrounding whitespace trimmed and inner whitespace runs collapsed: the exact-duplicate key of memories and the key of cached query embeddings.';

-- Effective importance (docs/lifecycle.md): the stored importance, decayed with the time since the memory
-- was last used (created, recalled or remembered again), never below a floor, lifted by how often it was
-- used; pinned memories do not decay (and count as at least 0.9):
--   pinned:    greatest(importance, 0.9)
--   otherwise: least(1, importance · greatest(floor, 0.5 ^ (age / half_life)) · (1 + access_boost · ln(1 + access_count)))
-- The pure form takes the policy's parameters, so a query computes it for many rows after looking the
-- policy up once; it is a single expression and is inlined into the calling query.
CREATE OR REPLACE FUNCTION memory.effective_importance(
  importance real, pinned boolean, access_count integer, last_used timestamptz,
  half_life interval, floor real, access_boost real, at timestamptz)
RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN pinned THEN greatest(importance, 0.9::real)
         ELSE least(1, importance
                       -- exp() of a large negative number raises an underflow error: clamp (exp(-60) ≈ 1e-26).
                       -- date_part, not extract: extract returns numeric, and its conversion to float8 (through text)
                       -- was a measurable part of recall, which computes this for every candidate.
                       * greatest(floor, exp(greatest(-0.6931471805599453::float8 * greatest(date_part('epoch', at - last_used), 0)
                                                      / greatest(date_part('epoch', half_life), 1), -60)))
                       * (1 + greatest(access_boost, 0) * ln(1 + greatest(access_count, 0)::float8)))::real
         END
$$;
COMMENT ON FUNCTION memory.effective_importance(real, boolean, integer, timestamptz, interval, real, real, timestamptz) IS
  'The decay formula with explicit parameters: pinned → greatest(importance, 0.9); else least(1, importance · greatest(floor, 0.5^(age/half_life)) · (1 + access_boost · ln(1 + access_count))), age = at − last_used (never negative). Inlined into queries; see docs/lifecycle.md.';

-- The decay parameters of a workspace's policy (its row over the '*' defaults).
CREATE OR REPLACE FUNCTION memory.decay_settings(workspace name DEFAULT NULL,
  OUT half_life interval, OUT floor real, OUT access_boost real, OUT archive_threshold real, OUT archive_min_age interval)
LANGUAGE sql STABLE AS $$
  SELECT p.decay_half_life, p.decay_floor, memory.policy_number(p.settings, 'decay.access_boost', 0.2)::real,
         p.archive_threshold, p.archive_min_age
    FROM memory.policy(workspace) p
$$;
COMMENT ON FUNCTION memory.decay_settings(name) IS
  'The decay parameters of a workspace (default: the current one) from its policy: decay_half_life, decay_floor, settings decay.access_boost (default 0.2), archive_threshold, archive_min_age.';

-- The same for one memory row, looking its workspace's policy up: convenient for a few rows; views, recall
-- and the decay pass look the policy up once and use the pure form.
CREATE OR REPLACE FUNCTION memory.effective_importance(m memory.memories, at timestamptz DEFAULT now()) RETURNS real
LANGUAGE sql STABLE AS $$
  SELECT memory.effective_importance(m.importance, m.pinned, m.access_count, greatest(m.created_at, m.last_accessed_at),
                                     d.half_life, d.floor, d.access_boost, at)
    FROM memory.decay_settings(m.workspace) d
$$;
COMMENT ON FUNCTION memory.effective_importance(memory.memories, timestamptz) IS
  'Effective importance of a memory, 0–1, at a time (default now): its importance decayed with the time since it was last used, per its workspace''s policy; pinned memories do not decay. See docs/lifecycle.md.';

CREATE OR REPLACE FUNCTION memory.default_model() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT name FROM memory.models WHERE is_default UNION ALL
  SELECT name FROM (SELECT name FROM memory.models ORDER BY created_at, name LIMIT 1) first
  LIMIT 1
$$;
COMMENT ON FUNCTION memory.default_model() IS
  'The embedding model recall uses when no _model is given: the one marked default, else the first registered; NULL when none.';

-- Resolves a model name, raising 22023 for unknown names and wrong dimensions.
CREATE OR REPLACE FUNCTION memory.check_model(model text, embedding vector DEFAULT NULL) RETURNS memory.models
LANGUAGE plpgsql STABLE AS $$
DECLARE
  m memory.models;
  v_name text := coalesce(check_model.model, memory.default_model());
BEGIN
  IF v_name IS NULL THEN
    RAISE EXCEPTION 'MemorySql: no embedding model is registered, so an embedding cannot be used'
      USING ERRCODE = '22023', HINT = 'An administrator registers one with SELECT memory.register_model(name, dimension, true).';
  END IF;
  SELECT * INTO m FROM memory.models x WHERE x.name = v_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'MemorySql: unknown embedding model "%" (argument _model)', v_name
      USING ERRCODE = '22023',
            HINT = 'Registered models: ' || coalesce((SELECT string_agg(x.name || ' (' || x.dimension || ' dimensions)', ', ' ORDER BY x.name) FROM memory.models x), 'none');
  END IF;
  IF embedding IS NOT NULL AND vector_dims(embedding) <> m.dimension THEN
    RAISE EXCEPTION 'MemorySql: _embedding has % dimensions but model "%" has %', vector_dims(embedding), m.name, m.dimension
      USING ERRCODE = '22023', HINT = 'Pass an embedding made by that model, or name the right model in _model.';
  END IF;
  RETURN m;
END
$$;
COMMENT ON FUNCTION memory.check_model(text, vector) IS
  'The registered model of that name (default: the default model), checking an embedding''s dimension against it; 22023 when unknown or mismatched.';

-- Argument validation. Every message names the argument and the allowed values.
CREATE OR REPLACE FUNCTION memory.invalid(argument text, problem text, hint text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RAISE EXCEPTION 'MemorySql: invalid argument %: %', argument, problem
    USING ERRCODE = '22023', HINT = coalesce(hint, '');
END
$$;
COMMENT ON FUNCTION memory.invalid(text, text, text) IS 'Raises 22023 (invalid_parameter_value) naming the argument, the problem and how to fix it.';

CREATE OR REPLACE FUNCTION memory.check_type(type text, argument text DEFAULT 'type') RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF type IS NULL OR type NOT IN ('episodic', 'semantic', 'procedural', 'working') THEN
    PERFORM memory.invalid(argument, format('unknown memory type %L', type), 'Allowed: episodic, semantic, procedural, working.');
  END IF;
  RETURN type;
END
$$;
COMMENT ON FUNCTION memory.check_type(text, text) IS 'Validates a memory type (episodic, semantic, procedural, working).';

CREATE OR REPLACE FUNCTION memory.check_layer(layer text, argument text DEFAULT 'layer') RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF layer IS NULL OR layer NOT IN ('resource', 'item', 'category') THEN
    PERFORM memory.invalid(argument, format('unknown layer %L', layer), 'Allowed: resource, item, category.');
  END IF;
  RETURN layer;
END
$$;
COMMENT ON FUNCTION memory.check_layer(text, text) IS 'Validates a memory layer (resource, item, category).';

CREATE OR REPLACE FUNCTION memory.check_kind(kind text, argument text DEFAULT 'kind') RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF kind IS NULL OR length(btrim(kind)) = 0 OR length(btrim(kind)) > 64 THEN
    PERFORM memory.invalid(argument, format('kind must be a non-empty text of at most 64 characters, got %L', kind),
      'Use a short free-text label such as fact, preference, event, decision, skill, summary.');
  END IF;
  RETURN btrim(kind);
END
$$;
COMMENT ON FUNCTION memory.check_kind(text, text) IS 'Validates and trims a memory kind (free text, 1–64 characters).';

CREATE OR REPLACE FUNCTION memory.check_importance(importance real, argument text DEFAULT 'importance') RETURNS real
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  -- NaN compares greater than every number in PostgreSQL, so the range test rejects it too.
  IF importance IS NOT NULL AND NOT (importance >= 0 AND importance <= 1) THEN
    PERFORM memory.invalid(argument, format('%s is outside 0..1', importance), 'Pass a number from 0 (trivial) to 1 (essential).');
  END IF;
  RETURN importance;
END
$$;
COMMENT ON FUNCTION memory.check_importance(real, text) IS 'Validates an importance (0–1, not NaN).';

-- Tags are trimmed, de-duplicated and sorted; empty or NULL elements are refused.
CREATE OR REPLACE FUNCTION memory.check_tags(tags text[], argument text DEFAULT 'tags') RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF tags IS NULL THEN RETURN NULL; END IF;
  IF EXISTS (SELECT 1 FROM unnest(tags) t WHERE t IS NULL OR length(btrim(t)) = 0 OR length(btrim(t)) > 100) THEN
    PERFORM memory.invalid(argument, 'every tag must be a non-empty text of at most 100 characters', 'Example: tags => ''{travel,preferences}''');
  END IF;
  RETURN coalesce((SELECT array_agg(DISTINCT btrim(t) ORDER BY btrim(t)) FROM unnest(tags) t), '{}');
END
$$;
COMMENT ON FUNCTION memory.check_tags(text[], text) IS 'Validates and normalises tags: trimmed, de-duplicated, sorted.';

CREATE OR REPLACE FUNCTION memory.check_metadata(metadata jsonb, argument text DEFAULT 'metadata') RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
    PERFORM memory.invalid(argument, format('must be a JSON object, got a %s', jsonb_typeof(metadata)), 'Example: metadata => ''{"source": "chat"}''');
  END IF;
  RETURN metadata;
END
$$;
COMMENT ON FUNCTION memory.check_metadata(jsonb, text) IS 'Validates that metadata is a JSON object.';

CREATE OR REPLACE FUNCTION memory.check_relation(relation text, argument text DEFAULT 'relation') RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF relation IS NULL OR relation !~ '^[a-z][a-z_]{0,63}$' THEN
    PERFORM memory.invalid(argument, format('%L is not a relation name', relation),
      'A relation is lower-case letters and underscores, 1–64 long: relates_to, supports, contradicts, supersedes, summarizes, caused_by, part_of, …');
  END IF;
  RETURN relation;
END
$$;
COMMENT ON FUNCTION memory.check_relation(text, text) IS 'Validates a relation name (lower-case letters and underscores).';

-- Appends to the audit log. Events never hold memory content: versions keep it, and forget can remove it.
CREATE OR REPLACE FUNCTION memory.audit(action text, memory_id uuid DEFAULT NULL, entity text DEFAULT NULL,
                                        old jsonb DEFAULT NULL, new jsonb DEFAULT NULL, detail jsonb DEFAULT '{}')
RETURNS void
LANGUAGE sql VOLATILE AS $$
  INSERT INTO memory.events (action, memory_id, entity, old, new, detail)
  VALUES (action, memory_id, entity, old, new, coalesce(detail, '{}'))
$$;
COMMENT ON FUNCTION memory.audit(text, uuid, text, jsonb, jsonb, jsonb) IS
  'Appends an event to memory.events (who and when are filled in by the table). Used by every routine that changes something.';

-- The audit fields of a memory (no content: events must not hold it).
CREATE OR REPLACE FUNCTION memory.audit_fields(m memory.memories) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('status', m.status, 'type', m.type, 'kind', m.kind, 'layer', m.layer,
                            'importance', m.importance, 'pinned', m.pinned, 'tags', to_jsonb(m.tags),
                            'content_hash', encode(m.content_hash, 'hex'), 'session_id', m.session_id,
                            'superseded_by', m.superseded_by, 'valid_from', m.valid_from, 'valid_to', m.valid_to,
                            'expires_at', m.expires_at)
$$;
COMMENT ON FUNCTION memory.audit_fields(memory.memories) IS 'What the audit log records of a memory: its fields and content hash, never its content.';

-- Events are stamped by the database, not by the client: who, as which role, when.
CREATE OR REPLACE FUNCTION memory.events_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.actor := session_user;
  NEW.role := current_user;
  NEW.at := clock_timestamp();
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION memory.events_stamp() IS 'Trigger: stamps every audit event with session_user, current_user and the clock, whatever the inserter wrote.';
CREATE TRIGGER events_stamp BEFORE INSERT ON memory.events FOR EACH ROW EXECUTE FUNCTION memory.events_stamp();

SELECT memory.ensure_search_path();
