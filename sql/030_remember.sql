-- Writing memories: remember (and its function form memory.store), revise, forget, forget_subject,
-- associate / dissociate, and the event redaction forgetting needs.

CREATE OR REPLACE FUNCTION memory.store(
  content text, type text DEFAULT NULL, kind text DEFAULT NULL, importance real DEFAULT NULL,
  tags text[] DEFAULT NULL, metadata jsonb DEFAULT NULL, entity text DEFAULT NULL, session uuid DEFAULT NULL,
  valid_from timestamptz DEFAULT NULL, expires_at timestamptz DEFAULT NULL, process text DEFAULT NULL,
  pinned boolean DEFAULT NULL, layer text DEFAULT NULL, source uuid DEFAULT NULL, id uuid DEFAULT NULL,
  _embedding vector DEFAULT NULL, _model text DEFAULT NULL, _scope_defaults boolean DEFAULT true)
RETURNS TABLE (memory_id uuid, inserted boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  ws name := memory.require_workspace();
  settings jsonb := (memory.policy(ws)).settings;
  v_content text;
  v_type text := memory.check_type(coalesce(type, 'semantic'));
  v_kind text := memory.check_kind(coalesce(kind, 'fact'));
  v_layer text := memory.check_layer(coalesce(layer, 'item'));
  v_importance real := coalesce(memory.check_importance(importance),
                                memory.policy_number(settings, 'remember.default_importance', 0.5)::real);
  v_tags text[] := coalesce(memory.check_tags(tags), '{}');
  v_metadata jsonb := coalesce(memory.check_metadata(metadata), '{}');
  v_entity text := nullif(btrim(entity), '');
  v_process text := nullif(btrim(process), '');
  v_session uuid := session;
  v_model memory.models;
  new_row memory.memories;
  v_id uuid;
  v_inserted boolean;
  queued text;
BEGIN
  IF content IS NULL OR length(btrim(content, E' \t\r\n\f\v')) = 0 THEN
    PERFORM memory.invalid('content', 'must not be empty', 'Pass the text to remember, e.g. CALL remember(''Dana prefers window seats'').');
  END IF;
  IF length(content) > 200000 THEN
    PERFORM memory.invalid('content', format('is %s characters long; the limit is 200000', length(content)),
      'Store long documents with ingest() and remember the facts they contain.');
  END IF;
  v_content := btrim(content, E' \t\r\n\f\v');
  IF _scope_defaults THEN
    IF entity IS NULL THEN v_entity := memory.scope_setting('entity'); END IF;
    IF process IS NULL THEN v_process := memory.scope_setting('process'); END IF;
    IF session IS NULL THEN v_session := memory.scope_session(); END IF;
  END IF;
  IF v_session IS NOT NULL AND NOT EXISTS (SELECT 1 FROM memory.sessions s WHERE s.id = v_session) THEN
    PERFORM memory.invalid('session', format('no session %s in this workspace', v_session),
      'Start one with SELECT session_start(), or RESET memory.session.');
  END IF;
  IF source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM memory.resources r WHERE r.id = source) THEN
    PERFORM memory.invalid('source', format('no resource %s in this workspace', source), 'Pass the id of a memory.resources row (see ingest).');
  END IF;
  IF expires_at IS NOT NULL AND expires_at <= now() THEN
    PERFORM memory.invalid('expires_at', format('%s is not in the future', expires_at), 'Pass a future time, e.g. now() + interval ''7 days''.');
  END IF;
  IF valid_from IS NOT NULL AND valid_from = 'infinity'::timestamptz THEN
    PERFORM memory.invalid('valid_from', 'must be a finite time');
  END IF;
  IF _embedding IS NOT NULL OR _model IS NOT NULL THEN
    v_model := memory.check_model(_model, _embedding);
  END IF;

  INSERT INTO memory.memories AS m (id, workspace, entity, process, session_id, layer, type, kind, content,
                                    content_hash, tags, metadata, importance, pinned, valid_from, expires_at, source_id)
  VALUES (coalesce(id, memory.uuid_v7()), ws, v_entity, v_process, v_session, v_layer, v_type, v_kind, v_content,
          memory.content_hash(v_content), v_tags, v_metadata, v_importance, coalesce(pinned, false),
          coalesce(valid_from, now()), expires_at, source)
  ON CONFLICT (workspace, (coalesce(entity, '')), content_hash) WHERE status = 'active'
  DO UPDATE SET access_count = m.access_count + 1,
                last_accessed_at = now(),
                importance = greatest(m.importance, excluded.importance),
                tags = (SELECT coalesce(array_agg(DISTINCT t ORDER BY t), '{}') FROM unnest(m.tags || excluded.tags) t),
                metadata = m.metadata || excluded.metadata,
                pinned = m.pinned OR excluded.pinned,
                expires_at = CASE WHEN m.expires_at IS NULL OR excluded.expires_at IS NULL THEN NULL
                                  ELSE greatest(m.expires_at, excluded.expires_at) END,
                updated_at = now()
  RETURNING m.id, (m.xmax = 0) INTO v_id, v_inserted;

  SELECT * INTO new_row FROM memory.memories m WHERE m.id = v_id;
  IF v_inserted THEN
    IF _embedding IS NOT NULL THEN
      INSERT INTO memory.embeddings (memory_id, model, workspace, embedding) VALUES (v_id, v_model.name, ws, _embedding);
    END IF;
    FOR queued IN
      INSERT INTO memory.embedding_queue AS q (memory_id, model, workspace)
      SELECT v_id, x.name, ws FROM memory.models x
       WHERE _embedding IS NULL OR x.name <> v_model.name
      ON CONFLICT DO NOTHING
      RETURNING q.model
    LOOP
      PERFORM pg_notify('memory_embed', queued);
    END LOOP;
    PERFORM memory.audit('remember', v_id, v_entity, NULL, memory.audit_fields(new_row),
                         jsonb_build_object('embedded', _embedding IS NOT NULL, 'model', v_model.name));
  ELSE
    IF _embedding IS NOT NULL THEN
      INSERT INTO memory.embeddings (memory_id, model, workspace, embedding) VALUES (v_id, v_model.name, ws, _embedding)
      ON CONFLICT (memory_id, model) DO NOTHING;
      DELETE FROM memory.embedding_queue q WHERE q.memory_id = v_id AND q.model = v_model.name;
    END IF;
    PERFORM memory.audit('bump', v_id, new_row.entity, NULL, memory.audit_fields(new_row),
                         jsonb_build_object('access_count', new_row.access_count));
  END IF;
  memory_id := v_id;
  inserted := v_inserted;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION memory.store(text, text, text, real, text[], jsonb, text, uuid, timestamptz, timestamptz, text, boolean, text, uuid, uuid, vector, text, boolean) IS
  'Function form of remember(): stores a memory (or bumps its exact duplicate) and returns (memory_id, inserted). Usable in SELECT, e.g. to remember many rows at once.';

CREATE OR REPLACE PROCEDURE memory.remember(
  content text, type text DEFAULT NULL, kind text DEFAULT NULL, importance real DEFAULT NULL,
  tags text[] DEFAULT NULL, metadata jsonb DEFAULT NULL, entity text DEFAULT NULL, session uuid DEFAULT NULL,
  valid_from timestamptz DEFAULT NULL, expires_at timestamptz DEFAULT NULL, process text DEFAULT NULL,
  pinned boolean DEFAULT NULL, layer text DEFAULT NULL, source uuid DEFAULT NULL,
  INOUT id uuid DEFAULT NULL, _embedding vector DEFAULT NULL, _model text DEFAULT NULL)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT s.memory_id INTO id
    FROM memory.store(content, type, kind, importance, tags, metadata, entity, session, valid_from, expires_at,
                      process, pinned, layer, source, id, _embedding, _model) s;
END
$$;
COMMENT ON PROCEDURE memory.remember(text, text, text, real, text[], jsonb, text, uuid, timestamptz, timestamptz, text, boolean, text, uuid, uuid, vector, text) IS
  'Stores a memory and returns its id. An exact duplicate (same workspace, entity and content hash among active memories) is not stored twice: the existing memory is bumped (access_count + 1, importance = max, tags merged) and its id returned. Without _embedding the memory is queued for every registered embedding model.';

-- Every version of a memory: follows superseded_by forwards and backwards.
CREATE OR REPLACE FUNCTION memory.versions(id uuid)
RETURNS TABLE (memory_id uuid, version integer)
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE back AS (
    SELECT m.id, 0 AS step FROM memory.memories m WHERE m.id = versions.id
    UNION
    SELECT p.id, b.step - 1 FROM back b JOIN memory.memories p ON p.superseded_by = b.id WHERE b.step > -10000
  ), fwd AS (
    SELECT m.id, m.superseded_by, 0 AS step FROM memory.memories m WHERE m.id = versions.id
    UNION
    SELECT n.id, n.superseded_by, f.step + 1 FROM fwd f JOIN memory.memories n ON n.id = f.superseded_by WHERE f.step < 10000
  ), chain AS (
    SELECT b.id, b.step FROM back b UNION SELECT f.id, f.step FROM fwd f
  )
  SELECT c.id, (row_number() OVER (ORDER BY c.step))::integer FROM chain c
$$;
COMMENT ON FUNCTION memory.versions(uuid) IS 'Every version of a memory (the chain of superseded_by links, both ways), numbered from 1 = oldest.';

CREATE OR REPLACE FUNCTION memory.require_memory(id uuid, argument text DEFAULT 'id') RETURNS memory.memories
LANGUAGE plpgsql STABLE AS $$
DECLARE
  m memory.memories;
BEGIN
  IF id IS NULL THEN
    PERFORM memory.invalid(argument, 'must not be NULL', 'Pass the id of a memory (remember returns it).');
  END IF;
  SELECT * INTO m FROM memory.memories x WHERE x.id = require_memory.id;
  IF NOT FOUND THEN
    PERFORM memory.invalid(argument, format('no memory %s in this workspace', id), 'Pass the id of an existing memory.');
  END IF;
  RETURN m;
END
$$;
COMMENT ON FUNCTION memory.require_memory(uuid, text) IS 'The memory with this id in the current workspace; 22023 naming the argument when there is none.';

CREATE OR REPLACE PROCEDURE memory.revise(
  id uuid, content text, type text DEFAULT NULL, kind text DEFAULT NULL, importance real DEFAULT NULL,
  tags text[] DEFAULT NULL, metadata jsonb DEFAULT NULL, valid_from timestamptz DEFAULT NULL,
  expires_at timestamptz DEFAULT NULL, reason text DEFAULT NULL,
  INOUT new_id uuid DEFAULT NULL, _embedding vector DEFAULT NULL, _model text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  old memory.memories := memory.require_memory(id);
  updated memory.memories;
BEGIN
  SELECT * INTO old FROM memory.memories m WHERE m.id = old.id FOR UPDATE;
  IF old.status = 'superseded' THEN
    PERFORM memory.invalid('id', format('memory %s was superseded by %s', old.id, old.superseded_by),
      'Revise the current version; SELECT * FROM history(id) lists them.');
  ELSIF old.status = 'deleted' THEN
    PERFORM memory.invalid('id', format('memory %s was forgotten', old.id), 'Remember the content anew instead.');
  END IF;
  UPDATE memory.memories m SET status = 'superseded', valid_to = greatest(now(), m.valid_from), updated_at = now()
   WHERE m.id = old.id;
  SELECT s.memory_id INTO new_id
    FROM memory.store(content, coalesce(type, old.type), coalesce(kind, old.kind), coalesce(importance, old.importance),
                      coalesce(tags, old.tags), coalesce(metadata, old.metadata), coalesce(old.entity, ''), old.session_id,
                      valid_from, CASE WHEN expires_at IS NOT NULL THEN expires_at WHEN old.expires_at > now() THEN old.expires_at END,
                      coalesce(old.process, ''), old.pinned, old.layer, old.source_id, NULL, _embedding, _model, false) s;
  UPDATE memory.memories m SET superseded_by = new_id WHERE m.id = old.id RETURNING * INTO updated;
  INSERT INTO memory.associations (source_id, target_id, relation, workspace, metadata)
  VALUES (new_id, old.id, 'supersedes', old.workspace, jsonb_build_object('reason', reason))
  ON CONFLICT DO NOTHING;
  PERFORM memory.audit('revise', old.id, old.entity, memory.audit_fields(old), memory.audit_fields(updated),
                       jsonb_build_object('new_id', new_id, 'reason', reason));
END
$$;
COMMENT ON PROCEDURE memory.revise(uuid, text, text, text, real, text[], jsonb, timestamptz, timestamptz, text, uuid, vector, text) IS
  'Writes a new version of a memory: the old one becomes superseded (superseded_by and valid_to set), a supersedes edge links new to old, options not given are inherited. Returns the new id.';

-- Redacts audit events (admin rights, narrowly): the only change ever made to memory.events, used when
-- content must be forgotten. The caller must be entitled to the workspace it names.
CREATE OR REPLACE FUNCTION memory.redact_events(workspace name, memory_ids uuid[], entity text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  IF workspace IS DISTINCT FROM session_user AND NOT pg_has_role(session_user, workspace, 'MEMBER') THEN
    RAISE EXCEPTION 'MemorySql: % may not redact events of workspace %', session_user, workspace USING ERRCODE = '42501';
  END IF;
  UPDATE memory.events e
     SET old = NULL, new = NULL, entity = NULL, detail = jsonb_build_object('redacted', true)
   WHERE e.workspace = redact_events.workspace
     AND (e.memory_id = ANY (memory_ids) OR (redact_events.entity IS NOT NULL AND e.entity = redact_events.entity COLLATE "default"))
     AND NOT (e.detail ? 'redacted');
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION memory.redact_events(name, uuid[], text) FROM PUBLIC;
COMMENT ON FUNCTION memory.redact_events(name, uuid[], text) IS
  'Internal: blanks old/new/entity/detail of the audit events of some memories or of an entity, as forget(hard) and forget_subject need. Runs as the schema owner; refuses callers outside the workspace.';

CREATE OR REPLACE PROCEDURE memory.forget(id uuid, hard boolean DEFAULT false, reason text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  m memory.memories := memory.require_memory(id);
  ids uuid[];
  n bigint;
BEGIN
  SELECT array_agg(v.memory_id) INTO ids FROM memory.versions(m.id) v;
  ids := ids || memory.summaries_of(ids);  -- summaries repeating it go with it (sql/120_reflection.sql)
  IF coalesce(hard, false) THEN
    DELETE FROM memory.memories x WHERE x.id = ANY (ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM memory.redact_events(m.workspace, ids);
  ELSE
    UPDATE memory.memories x SET status = 'deleted', updated_at = now() WHERE x.id = ANY (ids) AND x.status <> 'deleted';
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM memory.embedding_queue q WHERE q.memory_id = ANY (ids);
  END IF;
  PERFORM memory.audit('forget', m.id, CASE WHEN NOT coalesce(hard, false) THEN m.entity END, NULL, NULL,
                       jsonb_build_object('hard', coalesce(hard, false), 'reason', reason, 'versions', to_jsonb(ids), 'changed', n));
END
$$;
COMMENT ON PROCEDURE memory.forget(uuid, boolean, text) IS
  'Forgets a memory and all its versions, and the summaries that repeat it. Soft (default): status deleted, kept for audit, never recalled. hard => true: the rows, their edges, embeddings, queue rows and postings are deleted and their audit events redacted.';

CREATE OR REPLACE PROCEDURE memory.forget_subject(entity text)
LANGUAGE plpgsql AS $$
DECLARE
  ws name := memory.require_workspace();
  session_ids uuid[];
  resource_ids uuid[];
  memory_ids uuid[];
  edges bigint;
  n_memories bigint;
  n_resources bigint;
  n_sessions bigint;
  n_events bigint;
BEGIN
  IF entity IS NULL OR length(btrim(entity)) = 0 THEN
    PERFORM memory.invalid('entity', 'must not be empty', 'Pass the entity whose memories are to be forgotten, e.g. CALL forget_subject(''user-42'').');
  END IF;
  SELECT coalesce(array_agg(s.id), '{}') INTO session_ids FROM memory.sessions s WHERE s.entity = forget_subject.entity;
  SELECT coalesce(array_agg(r.id), '{}') INTO resource_ids FROM memory.resources r WHERE r.entity = forget_subject.entity;
  SELECT coalesce(array_agg(m.id), '{}') INTO memory_ids FROM memory.memories m
   WHERE m.entity = forget_subject.entity OR m.session_id = ANY (session_ids) OR m.source_id = ANY (resource_ids);
  memory_ids := memory_ids || memory.summaries_of(memory_ids);  -- summaries repeating them go with them
  SELECT count(*) INTO edges FROM memory.associations a WHERE a.source_id = ANY (memory_ids) OR a.target_id = ANY (memory_ids);
  DELETE FROM memory.memories m WHERE m.id = ANY (memory_ids);
  GET DIAGNOSTICS n_memories = ROW_COUNT;
  DELETE FROM memory.resources r WHERE r.id = ANY (resource_ids);
  GET DIAGNOSTICS n_resources = ROW_COUNT;
  DELETE FROM memory.sessions s WHERE s.id = ANY (session_ids);
  GET DIAGNOSTICS n_sessions = ROW_COUNT;
  n_events := memory.redact_events(ws, memory_ids, forget_subject.entity);
  PERFORM memory.reflection_forget_entity(ws, forget_subject.entity);
  -- The tombstone names the subject only by its hash, so an auditor who knows it can verify the erasure.
  PERFORM memory.audit('forget_subject', NULL, NULL, NULL, NULL,
    jsonb_build_object('entity_sha256', encode(sha256(convert_to(forget_subject.entity, 'UTF8')), 'hex'),
                       'memories', n_memories, 'resources', n_resources, 'sessions', n_sessions,
                       'associations', edges, 'events_redacted', n_events));
END
$$;
COMMENT ON PROCEDURE memory.forget_subject(text) IS
  'The right to be forgotten: deletes every memory, resource, edge, session and working-memory item of one entity in one statement, redacts its audit events and leaves a tombstone event holding only the SHA-256 of the entity and counts.';

CREATE OR REPLACE PROCEDURE memory.associate(source uuid, target uuid, relation text, weight real DEFAULT 1, metadata jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  s memory.memories := memory.require_memory(source, 'source');
  t memory.memories := memory.require_memory(target, 'target');
  v_relation text := memory.check_relation(relation);
  previous memory.associations;
BEGIN
  IF s.status = 'deleted' OR t.status = 'deleted' THEN
    PERFORM memory.invalid(CASE WHEN s.status = 'deleted' THEN 'source' ELSE 'target' END, 'that memory was forgotten');
  END IF;
  IF s.id = t.id THEN
    PERFORM memory.invalid('target', 'an edge needs two different memories');
  END IF;
  IF weight IS NULL OR NOT (weight >= 0 AND weight <= 1) THEN
    PERFORM memory.invalid('weight', format('%s is outside 0..1', weight), 'Pass a weight from 0 to 1 (default 1).');
  END IF;
  PERFORM memory.check_metadata(metadata);
  SELECT * INTO previous FROM memory.associations a
   WHERE a.source_id = s.id AND a.target_id = t.id AND a.relation = v_relation FOR UPDATE;
  INSERT INTO memory.associations AS a (source_id, target_id, relation, workspace, weight, metadata)
  VALUES (s.id, t.id, v_relation, s.workspace, weight, coalesce(metadata, '{}'))
  ON CONFLICT (source_id, target_id, relation)
  DO UPDATE SET weight = excluded.weight, metadata = a.metadata || excluded.metadata, updated_at = now();
  PERFORM memory.audit('associate', s.id, s.entity,
                       CASE WHEN previous.source_id IS NOT NULL THEN jsonb_build_object('weight', previous.weight, 'metadata', previous.metadata) END,
                       jsonb_build_object('weight', weight, 'metadata', coalesce(metadata, '{}')),
                       jsonb_build_object('target', t.id, 'relation', v_relation));
END
$$;
COMMENT ON PROCEDURE memory.associate(uuid, uuid, text, real, jsonb) IS
  'Adds a typed, weighted edge source -> target (relates_to, supports, contradicts, caused_by, part_of, …) or updates its weight and metadata.';

CREATE OR REPLACE PROCEDURE memory.dissociate(source uuid, target uuid, relation text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  IF relation IS NOT NULL THEN PERFORM memory.check_relation(relation); END IF;
  DELETE FROM memory.associations a
   WHERE a.source_id = dissociate.source AND a.target_id = dissociate.target
     AND (dissociate.relation IS NULL OR a.relation = dissociate.relation);
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    PERFORM memory.audit('dissociate', source, NULL, NULL, NULL,
                         jsonb_build_object('target', target, 'relation', relation, 'removed', n));
  END IF;
END
$$;
COMMENT ON PROCEDURE memory.dissociate(uuid, uuid, text) IS 'Removes the edges source -> target (of one relation, or all when relation is NULL).';
