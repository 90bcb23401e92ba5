-- ingest: store raw conversation as a resource and queue it for extraction (done later by a worker).

CREATE OR REPLACE PROCEDURE memory.ingest(messages jsonb, entity text DEFAULT NULL, process text DEFAULT NULL,
                                          session uuid DEFAULT NULL, kind text DEFAULT 'conversation',
                                          metadata jsonb DEFAULT NULL, INOUT id uuid DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  ws name := memory.require_workspace();
  hash bytea;
  bad bigint;
  v_session uuid := coalesce(session, memory.scope_session());
  v_entity text := coalesce(nullif(btrim(entity), ''), memory.scope_setting('entity'));
  v_process text := coalesce(nullif(btrim(process), ''), memory.scope_setting('process'));
BEGIN
  id := NULL;  -- an output only: a value passed in is ignored
  IF messages IS NULL OR jsonb_typeof(messages) <> 'array' OR jsonb_array_length(messages) = 0 THEN
    PERFORM memory.invalid('messages', 'must be a non-empty JSON array of messages',
      'Example: ''[{"role": "user", "content": "I moved to Porto"}]''');
  END IF;
  SELECT min(n) INTO bad FROM jsonb_array_elements(messages) WITH ORDINALITY e(m, n)
   WHERE jsonb_typeof(m) <> 'object' OR jsonb_typeof(m -> 'content') IS DISTINCT FROM 'string'
      OR (m ? 'role' AND jsonb_typeof(m -> 'role') <> 'string');
  IF bad IS NOT NULL THEN
    PERFORM memory.invalid('messages', format('message %s is not an object with a string "content" (and optional string "role")', bad),
      'Example: ''[{"role": "user", "content": "I moved to Porto"}]''');
  END IF;
  PERFORM memory.check_kind(kind);
  PERFORM memory.check_metadata(metadata);
  IF v_session IS NOT NULL AND NOT EXISTS (SELECT 1 FROM memory.sessions s WHERE s.id = v_session) THEN
    PERFORM memory.invalid('session', format('no session %s in this workspace', v_session));
  END IF;
  -- Idempotent per conversation *and* whom it is about: the same messages ingested for another entity, process,
  -- session or kind are another resource (their facts belong to someone else), not a duplicate of the first.
  hash := sha256(convert_to(jsonb_build_array(messages, v_entity, v_process, v_session, btrim(kind))::text, 'UTF8'));
  INSERT INTO memory.resources AS r (workspace, entity, process, session_id, kind, content, content_hash, metadata)
  VALUES (ws, v_entity, v_process, v_session,
          btrim(kind), messages, hash, coalesce(metadata, '{}'))
  ON CONFLICT (workspace, content_hash) DO NOTHING
  RETURNING r.id INTO id;
  IF id IS NULL THEN
    SELECT r.id INTO id FROM memory.resources r WHERE r.workspace = ws AND r.content_hash = hash;
    PERFORM memory.audit('ingest', NULL, v_entity, NULL, NULL, jsonb_build_object('resource', id, 'duplicate', true));
    RETURN;
  END IF;
  INSERT INTO memory.extraction_queue (resource_id, workspace) VALUES (id, ws);
  PERFORM pg_notify('memory_extract', ws);
  PERFORM memory.audit('ingest', NULL, v_entity, NULL, NULL,
                       jsonb_build_object('resource', id, 'messages', jsonb_array_length(messages), 'kind', btrim(kind)));
END
$$;
COMMENT ON PROCEDURE memory.ingest(jsonb, text, text, uuid, text, jsonb, uuid) IS
  'Stores a conversation (a JSON array of {role, content} messages) as a memory.resources row, idempotently by a hash of the messages with their entity, process, session and kind, and queues it in memory.extraction_queue for the extraction worker. Returns the resource id.';
